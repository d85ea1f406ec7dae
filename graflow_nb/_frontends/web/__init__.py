"""The approvers' pages, served by the Jupyter server next to the notebooks (a jupyter_server extension).

``<base_url>/graflow-nb/requests`` lists the requests of the runs under the server's folder, and
``<base_url>/graflow-nb/requests/<feedback_id>`` answers one, behind the server's login. Enabled with
the package (``jupyter_server_config.d/graflow_nb.json``); ``jupyter server extension list`` shows it.
"""

from __future__ import annotations

from typing import Any

REQUEST_PATH = "graflow-nb/requests"


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Add the pages to the server (jupyter_server calls this once it has loaded the extension)."""
    from jupyter_server.utils import url_path_join

    from .handlers import RequestListHandler, RequestPageHandler

    base = serverapp.web_app.settings["base_url"]
    serverapp.web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base, REQUEST_PATH), RequestListHandler),
            (url_path_join(base, REQUEST_PATH, r"(fb-[0-9a-f]{16})"), RequestPageHandler),
        ],
    )
    serverapp.log.info("graflow_nb: approvers answer at %s", url_path_join(base, REQUEST_PATH))
