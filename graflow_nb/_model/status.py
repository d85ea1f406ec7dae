"""Where a run stands: :class:`RunStatus`."""

from __future__ import annotations

import enum
from typing import Literal


class RunStatus(str, enum.Enum):
    """Where a run stands."""

    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        """Completed and cancelled runs are final; the others can be resumed."""
        return self in (RunStatus.COMPLETED, RunStatus.CANCELLED)


#: Which run a run call continues: ``False`` a new one, ``True`` the newest unfinished one (raising
#: NoResumableRunError if there is none), ``"auto"`` the newest unfinished one this definition can
#: continue, else a new one. A chosen run is named with ``run_id=`` instead.
Resume = Literal[False, True, "auto"]
