"""The pages: every request under the server's folder, and one request with a form to answer it.

Behind the server's own login (``web.authenticated``) and authorization (``authorized``, resource
``graflow_nb``: JupyterHub's scopes apply); the form carries the server's XSRF token, which tornado
checks on every POST. An answer is filed as ``provide_feedback`` files one (``via="web"``, by the
signed-in user): the first answer wins, and the waiting run takes it at once.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import mistune
from jinja2 import Environment, PackageLoader, select_autoescape
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import JupyterHandler
from markupsafe import Markup
from tornado import web

from ..._engine.answering import provide_feedback
from ..._io.hints import plain_prompt
from ..._model.errors import FeedbackNotFoundError, InvalidAnswerError
from ..._model.feedback import FeedbackAlreadySettledError, FeedbackRequest
from ..._model.feedback_kinds import FeedbackType
from .catalog import FoundRequest, find_request, found_requests
from .forms import answer_from, form_fields

TEMPLATES = Environment(
    loader=PackageLoader("graflow_nb._frontends.web", "templates"), autoescape=select_autoescape(["html"])
)
#: Markdown for prompts, with any HTML in them shown as text and unsafe links neutralized.
MARKDOWN = mistune.create_markdown(escape=True)
#: How many settled requests the list shows.
RECENT = 30


class _Page(JupyterHandler):
    auth_resource = "graflow_nb"

    @property
    def root(self) -> Path:
        return Path(self.settings.get("server_root_dir") or ".")

    def signed_in_as(self) -> str:
        user = self.current_user
        return str(getattr(user, "name", None) or getattr(user, "username", None) or "jupyter user")

    def page(self, template: str, status: int = 200, **context: Any) -> None:
        self.set_status(status)
        self.set_header(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; "
            "script-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'self'",
        )
        html = TEMPLATES.get_template(template).render(
            base_url=self.base_url, user=self.signed_in_as(), xsrf_form_html=Markup(self.xsrf_form_html()), **context
        )
        self.finish(html)


class RequestListHandler(_Page):
    """``/graflow-nb/requests``: what waits for a decision, and what was settled lately."""

    @web.authenticated
    @authorized
    def get(self) -> None:
        found = found_requests(self.root)
        pending = [_row(item) for item in found if item.answerable]
        recent = [_row(item) for item in found if not item.answerable][:RECENT]
        self.page("list.html", title="Requests", pending=pending, recent=recent)


class RequestPageHandler(_Page):
    """``/graflow-nb/requests/<feedback_id>``: one request, and its form while it waits."""

    @web.authenticated
    @authorized
    def get(self, feedback_id: str) -> None:
        self._show(self._found(feedback_id))

    @web.authenticated
    @authorized
    def post(self, feedback_id: str) -> None:
        found = self._found(feedback_id)
        given = {name: self.get_body_arguments(name) for name in self.request.body_arguments}
        keep = {name: values[-1] if name != "selected" else values for name, values in given.items()}
        try:
            answer = answer_from(found.record.request, self.get_body_arguments)
            response = provide_feedback(
                feedback_id,
                via="web",
                responded_by=self.signed_in_as(),
                checkpoint_dir=found.store.directory,
                **answer,
            )
        except InvalidAnswerError as error:
            self._show(found, message=f"Not recorded: {error}", kind="error", status=400, given=keep)
            return
        except (FeedbackAlreadySettledError, FeedbackNotFoundError) as error:
            self._show(found.reread(), message=f"Not recorded: {error}", kind="error", status=409)
            return
        message = f"Recorded: {response.summary()} (by {response.responded_by}). The waiting run goes on."
        self._show(found.reread(), message=message, kind="done", recorded=True)

    def _found(self, feedback_id: str) -> FoundRequest:
        found = find_request(self.root, feedback_id)
        if found is None:
            raise web.HTTPError(404, f"no request {feedback_id} under this server's folder")
        return found

    def _show(
        self,
        found: FoundRequest,
        *,
        message: str | None = None,
        kind: str = "",
        status: int = 200,
        given: dict[str, Any] | None = None,
        recorded: bool = False,
    ) -> None:
        record, request = found.record, found.record.request
        filed = found.store.read_answer(request.feedback_id) if record.response is None else record.response
        state, state_text = _state(found, filed)
        self.page(
            "request.html",
            status=status,
            title=plain_prompt(request.prompt)[:60],
            request=request,
            kind=request.feedback_type.value,
            prompt_html=Markup(MARKDOWN(request.prompt)),
            state=state,
            state_text=state_text,
            folder=found.folder,
            asked=_when(request.created_at),
            deadline=_when(record.deadline) if record.deadline else None,
            deadline_iso=record.deadline.isoformat() if record.deadline else "",
            metadata=[(str(key), str(value)) for key, value in request.metadata.items()],
            answerable=found.answerable and filed is None and not recorded,
            message=message,
            message_kind=kind,
            given=given or {},
            fields=form_fields(request) if request.feedback_type is FeedbackType.FORM else [],
            bounds=Markup(_bounds(request)),
            bound_text=_bound_text(request),
        )


def _row(item: FoundRequest) -> dict[str, Any]:
    request = item.record.request
    filed = item.record.response
    state, state_text = _state(item, filed)
    return {
        "id": request.feedback_id,
        "prompt": plain_prompt(request.prompt)[:120],
        "workflow": request.workflow,
        "folder": item.folder,
        "task": request.task_id,
        "deadline": _when(item.record.deadline) if item.record.deadline and item.answerable else None,
        "state": state,
        "state_text": state_text,
    }


def _state(item: FoundRequest, filed: Any) -> tuple[str, str]:
    """The request's state for people, with who settled it."""
    if filed is not None:
        if filed.closed:
            return "closed", f"closed by {filed.responded_by}"
        return "answered", f"{filed.summary()} (by {filed.responded_by} via {filed.via})"
    if item.record.state == "pending" and item.document.status.finished:
        return "closed", f"its run {item.document.status.value}"
    if item.record.state == "closed":
        return "closed", "closed"
    return "pending", f"waiting (run {item.document.status.value})"


def _when(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _bounds(request: FeedbackRequest) -> str:
    parts = []
    for name, value in (("min", request.min), ("max", request.max)):
        if value is not None:
            parts.append(f'{name}="{value:g}"')
    step = request.step if request.step is not None else (1 if request.integer else None)
    parts.append(f'step="{step:g}"' if step is not None else 'step="any"')
    return " ".join(parts)


def _bound_text(request: FeedbackRequest) -> str:
    if request.min is not None and request.max is not None:
        return f"{request.min:g} to {request.max:g}"
    if request.min is not None:
        return f"at least {request.min:g}"
    if request.max is not None:
        return f"at most {request.max:g}"
    return ""
