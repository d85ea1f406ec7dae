"""``watch_graflow(url)``: the requests of plain Graflow runs kept in Redis, as a panel in the notebook."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._model.errors import NotebookOnlyError
from .._util.environment import running_kernel, widgets_available

if TYPE_CHECKING:
    from .._frontends.notebook.graflow_panel import GraflowRequestsPanel


def watch_graflow(redis_url: str, session_id: str | None = None, workflow: str | None = None) -> GraflowRequestsPanel:
    """Show, in the cell, every request that Graflow runs keep in this Redis and wait for (of one Graflow
    session, one workflow, if given: Graflow's own requests are workflow ``"graflow"``, those of
    graflow_nb runs on Graflow's workers name theirs), as controls: answering one wakes its run at once;
    answers given elsewhere show.

    Outside a notebook, ``graflow-nb list --redis URL`` and ``graflow-nb answer ID --redis URL`` do the
    same. A Redis that cannot be reached raises GraflowRedisError here.
    """
    if running_kernel() is None or not widgets_available():
        raise NotebookOnlyError(
            f"watch_graflow() draws a panel in a notebook; from a terminal: graflow-nb list --redis {redis_url}"
        )
    from .._frontends.notebook.graflow_panel import GraflowRequestsPanel

    panel = GraflowRequestsPanel(redis_url, session_id, workflow)
    panel.display()
    return panel
