"""One ipywidgets control per feedback request: built from the request, answered by a click or in code."""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import ipywidgets as widgets
from pydantic import BaseModel, ValidationError
from traitlets import TraitError

from ..._engine.deadlines import span_text
from ..._model.errors import GraflowNbError, InvalidAnswerError
from ..._model.feedback import FeedbackAlreadySettledError, FeedbackRequest, FeedbackResponse, LiveParts, given_fields
from ..._model.feedback_kinds import FeedbackType
from .inputs import field_widget, make_button, metadata_view, number_widget, range_widget, read_form
from .previews import close_if_figure, display_data
from .shared_models import HIDDEN, is_shared, lean
from .theme import error_text, muted

#: Submits answer fields for a request; raises InvalidAnswerError or FeedbackAlreadySettledError.
Submit = Callable[..., FeedbackResponse]
#: Gives a waiting request more seconds; returns its new deadline or raises DeadlineNotExtendedError.
Extend = Callable[[str, float], datetime]
#: Runs a callable on the kernel's main thread after some seconds (MainThreadCalls.call_later).
Later = Callable[[float, Callable[[], object]], None]

#: A click this soon after a change to the control's fields waits for their last change: the browser
#: holds a field's next change back until the kernel has handled the one before, but sends a click at
#: once, so a Submit clicked as the last key goes down reaches the kernel ahead of that key.
_CLICK_AFTER_CHANGE_SECONDS = 0.3
#: ... until the fields have not changed for this long (the browser's round trip, with room for a
#: loaded machine: 0.1 s lost a key in 2 runs of ~100 under a load of 7 on 2 cores), and at most this
#: long after the click.
_FIELDS_STILL_SECONDS = 0.3
_CLICK_WAITS_AT_MOST_SECONDS = 1.5

_FEW_OPTIONS = 4
#: A field as wide as its control: stretched across it (a width of 100% plus the field's margin overflows).
_FULL_WIDTH = {"width": "auto", "align_self": "stretch"}
_PREVIEW_QUIET_SECONDS = 0.15  # a moving control's preview is redrawn at most this often
_FEW_CHECKBOXES = 6


class RequestControl:
    """The widgets for one request; ``respond(...)`` answers it through the same path as a click."""

    def __init__(
        self,
        request: FeedbackRequest,
        submit: Submit,
        live: LiveParts | None = None,
        extend: Extend | None = None,
        deadline: datetime | None = None,
        later: Later | None = None,
    ) -> None:
        live = live or LiveParts()
        self.request = request
        self._submit = submit
        self._extend = extend
        self._later = later  # None: a click is handled at once, whenever the fields last changed
        self._fields_changed_at = -1.0  # time.monotonic() of the last change to a field
        self._in_code = False  # respond() is clicking
        self._click_waiting = False
        self._model = live.model
        self._preview = live.preview
        #: Where the preview shows (made only for a request with a preview: every widget is a message).
        self.preview_output: widgets.Output | None = lean(widgets.Output) if live.preview else None
        self._preview_due: float | None = 0.0 if live.preview else None
        # Classes, tooltips and outputs are given as each widget is made: set afterwards, each would be
        # one more message per control of every page drawn (benchmarks/README.md, "Big review batches").
        self.status = lean(widgets.HTML, _dom_classes=("gnb-status",))
        self.error = lean(widgets.HTML)
        self._inputs: list[widgets.Widget] = []
        self.submit_buttons: list[widgets.Button] = []
        self._read_answer: Callable[[widgets.Button | None], dict[str, Any]]
        self._verdict_buttons: dict[bool, widgets.Button] = {}
        self._field_errors: dict[str, widgets.HTML] = {}
        body = self._build()
        markdown = {"text/markdown": request.prompt, "text/plain": request.prompt}
        prompt = lean(widgets.Output, outputs=({"output_type": "display_data", "data": markdown, "metadata": {}},))
        round_of = f" · round {request.visit + 1}" if request.visit else ""
        kind = request.feedback_type.value.replace("_", " ")
        origin = lean(
            widgets.HTML,
            value=muted(
                f"{request.task_id}{round_of} · {kind} · {request.feedback_id}",
                title="task · type · feedback id (for graflow-nb answer)",
            ),
        )
        parts: list[widgets.Widget] = [prompt, origin]
        if request.metadata:
            parts.append(metadata_view(request.metadata))
        no_timeout = request.timeout is None or extend is None
        self.more_time = make_button(
            f"+{span_text(request.timeout or 0)}",
            "",
            "clock-o",
            tooltip="more time to answer",
            classes=("gnb-more-time", HIDDEN) if no_timeout else ("gnb-more-time",),
        )
        self.more_time.on_click(self._more_time_clicked)
        parts += [
            body,
            self.error,
            lean(widgets.HBox, children=[self.status, self.more_time], layout={"align_items": "center"}),
        ]
        if self.preview_output is not None:
            parts.append(self.preview_output)
            for control in self._inputs:
                if hasattr(control, "continuous_update"):  # the preview follows a slider while it is dragged
                    control.continuous_update = True
                control.observe(self._value_moved, names="value")
        self._state_class = "gnb-asking"
        self.widget = lean(
            widgets.VBox,
            children=parts,
            _dom_classes=("graflow-nb-request", f"graflow-nb-{request.feedback_id}", self._state_class),
        )
        self._initial_values = tuple(control.value for control in self._inputs)
        for control in self._inputs:
            control.observe(self._field_changed, names="value")
        #: When the run pauses unanswered (``deadline`` if given: a control drawn again for a page).
        self.deadline: datetime | None = deadline
        if deadline is None and request.timeout is not None:
            self.deadline = datetime.now(timezone.utc) + timedelta(seconds=request.timeout)
        self.answered = False
        self.response: FeedbackResponse | None = None
        self._keep_submit_honest()

    # -- building ----------------------------------------------------------------------

    def _build(self) -> widgets.Widget:
        kind = self.request.feedback_type
        builder = {
            FeedbackType.APPROVAL: self._build_approval,
            FeedbackType.TEXT: self._build_text,
            FeedbackType.SELECTION: self._build_selection,
            FeedbackType.MULTI_SELECTION: self._build_multi_selection,
            FeedbackType.NUMBER: self._build_number,
            FeedbackType.FORM: self._build_form,
            FeedbackType.CUSTOM: self._build_custom,
        }[kind]
        return builder()

    def _with_submit(self, *inputs: widgets.Widget) -> widgets.Widget:
        submit = make_button("Submit", "primary", "check")
        self._connect(submit)
        return lean(widgets.VBox, children=[*inputs, submit])

    def _connect(self, button: widgets.Button) -> None:
        self.submit_buttons.append(button)
        button.on_click(self._clicked)

    def _build_approval(self) -> widgets.Widget:
        reason = lean(
            widgets.Text,
            placeholder="optional",
            description="Reason",
            layout={**_FULL_WIDTH, "max_width": "40em"},
        )
        approve = make_button("Approve", "success", "check")
        reject = make_button("Reject", "danger", "times")
        self._inputs = [reason]
        self._connect(approve)
        self._connect(reject)
        self._verdict_buttons = {True: approve, False: reject}
        self._read_answer = lambda clicked: {
            "approved": clicked is approve,
            "reason": reason.value.strip() or None,
        }
        return lean(widgets.VBox, children=[lean(widgets.HBox, children=[approve, reject]), reason])

    def _build_text(self) -> widgets.Widget:
        # as wide as the control: stretched, not 100% (its margin would then make the control scroll sideways)
        area = lean(widgets.Textarea, value=self.request.default or "", layout=_FULL_WIDTH)
        self._inputs = [area]
        self._read_answer = lambda _button: {"text": area.value}
        return self._with_submit(area)

    def _build_selection(self) -> widgets.Widget:
        options = self.request.options or []
        initial = self.request.default if self.request.default in options else options[0]
        choice: widgets.Widget
        if len(options) <= _FEW_OPTIONS:
            choice = lean(widgets.ToggleButtons, options=options, value=initial)
        else:
            choice = lean(widgets.Dropdown, options=options, value=initial)
        self._inputs = [choice]
        self._read_answer = lambda _button: {"selected": choice.value}
        return self._with_submit(choice)

    def _build_multi_selection(self) -> widgets.Widget:
        options = self.request.options or []
        chosen = set(self.request.default or [])
        if len(options) <= _FEW_CHECKBOXES:
            boxes = [lean(widgets.Checkbox, value=o in chosen, description=o, indent=False) for o in options]
            self._inputs = list(boxes)
            self._read_answer = lambda _button: {"selected": [b.description for b in boxes if b.value]}
            return self._with_submit(*boxes)
        select = lean(widgets.SelectMultiple, options=options, value=tuple(o for o in options if o in chosen))
        self._inputs = [select]
        self._read_answer = lambda _button: {"selected": list(select.value)}
        return self._with_submit(select)

    def _build_number(self) -> widgets.Widget:
        request = self.request
        if request.value_range:
            number = range_widget(request.integer, request.min, request.max, request.step, request.default)
            self._inputs = [number]
            self._read_answer = lambda _button: {"value": list(number.value)}
            return self._with_submit(number)
        number = number_widget(request.integer, request.min, request.max, request.step, request.default)
        self._inputs = [number]
        self._read_answer = lambda _button: {"value": number.value}
        return self._with_submit(number)

    def _build_form(self) -> widgets.Widget:
        fields: dict[str, widgets.Widget] = {}
        rows: list[widgets.Widget] = []
        if self._model is not None:
            for name, info in self._model.model_fields.items():
                control = field_widget(info.annotation, info, name)
                fields[name] = control
                self._field_errors[name] = lean(widgets.HTML)
                rows.append(lean(widgets.HBox, children=[control, self._field_errors[name]]))
        else:  # no model at hand (should not happen while a task waits): accept JSON
            raw = lean(widgets.Textarea, placeholder='{"field": "value"}', description="JSON")
            fields["__json__"] = raw
            rows.append(raw)
        self._inputs = list(fields.values())
        self._read_answer = lambda _button: {"data": read_form(fields)}
        return self._with_submit(*rows)

    def _build_custom(self) -> widgets.Widget:
        """A JSON editor: the request's default (or ``{}``), checked as JSON before it is sent."""
        start = json.dumps(self.request.default, indent=2) if self.request.default is not None else "{}"
        editor = lean(
            widgets.Textarea,
            value=start,
            placeholder='{"key": "value"}',
            rows=6,
            layout={**_FULL_WIDTH, "max_width": "48em"},
            _dom_classes=("graflow-nb-json",),
        )
        self._inputs = [editor]
        self._read_answer = lambda _button: {"data": json_object(self.request.feedback_id, editor.value)}
        return self._with_submit(editor)

    # -- answering ---------------------------------------------------------------------

    def _field_changed(self, _change: Any) -> None:
        self._fields_changed_at = time.monotonic()

    def _clicked(self, button: widgets.Button) -> None:
        """A button was clicked: answer with what the fields hold, once the browser's last change to them
        is in (see :data:`_CLICK_AFTER_CHANGE_SECONDS`)."""
        if self._click_waiting:  # (a second click while the first waits)
            return
        clicked_at = time.monotonic()
        if self._later is None or self._in_code or clicked_at - self._fields_changed_at > _CLICK_AFTER_CHANGE_SECONDS:
            self._answer_with_fields(button)
            return
        self._click_waiting = True

        def when_still() -> None:
            now = time.monotonic()
            still_for = now - self._fields_changed_at
            if still_for < _FIELDS_STILL_SECONDS and now - clicked_at < _CLICK_WAITS_AT_MOST_SECONDS:
                assert self._later is not None
                self._later(_FIELDS_STILL_SECONDS - still_for, when_still)
                return
            self._click_waiting = False
            if not self.answered:
                self._answer_with_fields(button)

        self._later(_FIELDS_STILL_SECONDS, when_still)

    def _answer_with_fields(self, button: widgets.Button) -> None:
        try:
            answer = self._read_answer(button)
        except InvalidAnswerError as error:  # e.g. JSON that does not parse: said under the control
            self.show_error(str(error))
            return
        if not self._form_is_valid(answer):
            return
        self._send(answer)

    def _form_is_valid(self, answer: dict[str, Any]) -> bool:
        """Show field errors beside the fields; True when the form validates (or is not a form)."""
        if self._model is None or "data" not in answer:
            return True
        for label in self._field_errors.values():
            label.value = ""
        try:
            self._model.model_validate(answer["data"])
        except ValidationError as error:
            for problem in error.errors():
                field = str(problem["loc"][0]) if problem["loc"] else ""
                label = self._field_errors.get(field)
                if label is not None:
                    label.value = error_text(problem["msg"])
            self.error.value = error_text("Please fix the fields marked beside them.")
            return False
        return True

    def _send(self, answer: dict[str, Any]) -> None:
        try:
            self._submit(self.request.feedback_id, **answer)
        except (InvalidAnswerError, FeedbackAlreadySettledError) as error:
            self.show_error(str(error))
        else:
            self.error.value = ""

    def _more_time_clicked(self, _button: widgets.Button) -> None:
        if self._extend is None or self.request.timeout is None:
            return
        try:
            self.deadline_moved(self._extend(self.request.feedback_id, self.request.timeout))
        except GraflowNbError as error:  # e.g. answered or timed out a moment ago
            self.show_error(str(error))

    def deadline_moved(self, deadline: datetime) -> None:
        """Count down to a later deadline (main thread)."""
        if not self.answered and self.deadline is not None:
            self.deadline = max(self.deadline, deadline)
            self.tick(datetime.now(timezone.utc))

    def show_error(self, message: str) -> None:
        """Say under the control why its answer was not taken (main thread)."""
        self.error.value = error_text(message)

    def respond(self, **answer: Any) -> None:
        """Answer in code: set the controls to ``answer`` and press the button a person would press."""
        kind = self.request.feedback_type
        if kind is FeedbackType.APPROVAL:
            self._inputs[0].value = answer.get("reason") or ""
            target = self.submit_buttons[0 if answer.get("approved") else 1]
        else:
            self._set_inputs(answer)
            target = self.submit_buttons[0]
        self._in_code = True
        try:
            target.click()
        finally:
            self._in_code = False
        if self.error.value:
            raise InvalidAnswerError(self.request.feedback_id, html.unescape(_strip_tags(self.error.value)))

    def _show_in_inputs(self, response: FeedbackResponse) -> None:
        """Set the (disabled) inputs to the answer, so that an answer given elsewhere (the web page, the
        CLI) reads the same in the control as in the line under it."""
        given = given_fields(response)
        try:
            if response.feedback_type is FeedbackType.APPROVAL:
                self._inputs[0].value = given.get("reason") or ""
            else:
                self._set_inputs(given)
        except (TraitError, ValueError, TypeError, IndexError):
            pass  # a value the control cannot show (the line under it still says the answer)

    def _set_inputs(self, answer: dict[str, Any]) -> None:
        kind = self.request.feedback_type
        if kind is FeedbackType.MULTI_SELECTION and isinstance(self._inputs[0], widgets.Checkbox):
            chosen = set(answer.get("selected") or [])
            for box in self._inputs:
                box.value = box.description in chosen
            return
        if kind is FeedbackType.MULTI_SELECTION:
            self._inputs[0].value = tuple(answer.get("selected") or [])
            return
        if kind is FeedbackType.FORM:
            data = answer.get("data") or {}
            if isinstance(data, BaseModel):
                data = data.model_dump()
            for control in self._inputs:
                name = getattr(control, "_graflow_field", "")
                if name in data:
                    control.value = data[name]
            return
        if kind is FeedbackType.CUSTOM:
            self._inputs[0].value = json.dumps(answer.get("data"))
            return
        field = {"text": "text", "selection": "selected", "number": "value"}[kind.value]
        value = answer.get(field)
        self._inputs[0].value = tuple(value) if isinstance(value, list) else value

    def settle(self, response: FeedbackResponse | None, note: str | None = None) -> None:
        """Disable the control and show the answer (or that the request closed unanswered).

        The state (the control's colour) is sent first, then the rest: each change is a message the page
        renders in turn.
        """
        self.answered = True
        self.response = response
        if response is None or response.closed:
            self._mark("closed")
        elif response.feedback_type is FeedbackType.APPROVAL:
            self._mark("approved" if response.approved else "rejected")
        else:
            self._mark("answered")
        self.more_time.add_class(HIDDEN)
        for control in [*self._inputs, *self.submit_buttons]:
            control.disabled = True
        self.error.value = ""
        if response is None:
            self.status.value = muted("closed without an answer")
            return
        if not response.closed:
            self._show_in_inputs(response)
            if response.feedback_type is FeedbackType.APPROVAL:
                verdict = bool(response.approved)
                for choice, button in self._verdict_buttons.items():
                    if choice is verdict:
                        button.add_class("gnb-chosen")
                    else:
                        button.button_style = ""
            else:
                for button in self.submit_buttons:  # the answer below says it all; a dimmed Submit only confuses
                    button.add_class(HIDDEN)
        when = response.responded_at.astimezone().strftime("%H:%M:%S")
        self.status.value = (
            f"<b>{html.escape(response.summary())}</b><br>"
            f"{muted(f'by {response.responded_by} via {response.via} at {when}')}"
            + (f"<br>{muted(note)}" if note else "")
        )

    def retire(self, why: str) -> None:
        """Disable an unanswered control whose run went on elsewhere, saying so."""
        self.answered = True
        self.more_time.add_class(HIDDEN)
        for control in [*self._inputs, *self.submit_buttons]:
            control.disabled = True
        self._mark("closed")
        self.status.value = muted(why)

    def _mark(self, state: str) -> None:
        """Colour the control's edge by its state (asking, answered, approved, rejected, timed-out, closed),
        in one message."""
        kept = [name for name in self.widget._dom_classes if name != self._state_class]
        self._state_class = f"gnb-{state}"
        self.widget._dom_classes = (*kept, self._state_class)

    def _keep_submit_honest(self) -> None:
        """An empty text or an empty multi-selection cannot be sent by a stray click, unless the request's
        own default is that empty answer (``default=""`` or ``default=[]``)."""
        kind = self.request.feedback_type
        if kind not in (FeedbackType.TEXT, FeedbackType.MULTI_SELECTION) or not self.submit_buttons:
            return
        if self.request.default is not None and not self.request.default:
            return
        submit = self.submit_buttons[0]

        def refresh(_change: Any = None) -> None:
            if self.answered:
                return
            answer = next(iter(self._read_answer(None).values()))
            empty = not (answer.strip() if isinstance(answer, str) else answer)
            submit.disabled = empty
            submit.tooltip = (
                "type an answer first"
                if kind is FeedbackType.TEXT and empty
                else ("pick at least one option first" if empty else "Submit")
            )

        for control in self._inputs:
            control.observe(refresh, names="value")
        refresh()

    def _value_moved(self, _change: Any) -> None:
        """Schedule a preview: at most one per quiet interval while the control keeps moving, and one after."""
        if self._preview_due is None:
            self._preview_due = time.monotonic() + _PREVIEW_QUIET_SECONDS

    def _run_preview(self) -> None:
        """Call the task's preview function with the control's current value; show what it returns."""
        assert self._preview is not None
        self._preview_due = None
        answer = self._read_answer(None)
        value = next(iter(answer.values()))
        if self._model is not None:
            try:
                value = self._model.model_validate(value)
            except ValidationError:
                return
        try:
            shown = self._preview(value)
        except Exception as error:  # noqa: BLE001 - a preview's bug is shown, never fatal
            shown = f"preview failed: {type(error).__name__}: {error}"
        assert self.preview_output is not None
        self.preview_output.outputs = () if shown is None else (display_data(shown),)
        close_if_figure(shown)

    def tick(self, now: datetime) -> None:
        """Refresh the countdown; run a due preview."""
        if self._preview_due is not None and not self.answered and time.monotonic() >= self._preview_due:
            self._run_preview()
        if self.answered or self.deadline is None:
            return
        left = (self.deadline - now).total_seconds()
        if left > 0:
            self.status.value = muted(f"{_duration(left)} left to answer, then the run pauses")
        else:
            self._mark("timed-out")
            self.more_time.add_class(HIDDEN)
            self.status.value = "<b>timed out</b>: the run paused with a checkpoint; answering here resumes it"

    @property
    def feedback_id(self) -> str:
        """The request's feedback id."""
        return self.request.feedback_id

    def focus(self) -> None:
        """Move the keyboard focus to the control's first answer (Approve, the text, the choice)."""
        if self.answered:
            return
        if self.request.feedback_type is FeedbackType.APPROVAL or not self._inputs:
            self.submit_buttons[0].focus()
        else:
            self._inputs[0].focus()

    def close(self) -> None:
        """Close the control's widgets (and their layouts and styles) in the kernel and on the page."""
        close_widget_tree(self.widget)

    def draft(self) -> tuple[Any, ...] | None:
        """What a person has put in the unanswered control's fields (None: nothing changed), so that
        a page turn does not lose it."""
        values = tuple(control.value for control in self._inputs)
        return None if self.answered or values == self._initial_values else values

    def restore(self, draft: tuple[Any, ...]) -> None:
        """Put a :meth:`draft` back into the fields (of a control drawn again for the same request)."""
        if self.answered or len(draft) != len(self._inputs):
            return
        for control, value in zip(self._inputs, draft, strict=True):
            control.value = value

    def rearm(self, submit: Submit, extend: Extend | None, deadline: datetime | None) -> None:
        """The run was resumed and asks again: answering goes through ``submit``, until ``deadline``."""
        self._submit, self._extend, self.deadline = submit, extend, deadline
        if deadline is not None and extend is not None and self.request.timeout is not None:
            self.more_time.remove_class(HIDDEN)
        self._mark("asking")
        self.status.value = ""
        self.tick(datetime.now(timezone.utc))

    def reopen(self, submit: Submit, *, timed_out: bool | None = None) -> None:
        """Point the control at a new run (after the run paused) and keep it answerable; ``timed_out``
        says whether it paused by its timeout (by default: whether it had one)."""
        self._submit = submit
        timed_out = self.deadline is not None if timed_out is None else timed_out
        self.deadline = None
        self.more_time.add_class(HIDDEN)  # no task waits: the timeout starts again on resume
        self._mark("timed-out" if timed_out else "paused")
        self.status.value = (
            "<b>timed out</b>: " if timed_out else "<b>paused</b>: "
        ) + "the run is saved; answering here resumes it in this kernel"


def close_widget_tree(root: widgets.Widget) -> None:
    """Close a widget and every widget it holds (children, layouts, styles), freeing their comms; the
    shared layouts and styles stay open for the other controls."""
    stack, seen = [root], set()
    while stack:
        widget = stack.pop()
        if id(widget) in seen:
            continue
        seen.add(id(widget))
        if is_shared(widget):
            continue
        for name in widget.keys:
            value = getattr(widget, name, None)
            if isinstance(value, widgets.Widget):
                stack.append(value)
            elif isinstance(value, (tuple, list)):
                stack.extend(item for item in value if isinstance(item, widgets.Widget))
        widget.close()


def _duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 10 min``: a countdown a person reads at a glance."""
    whole = int(seconds) + 1
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def _strip_tags(text: str) -> str:
    import re

    return re.sub(r"<[^>]+>", "", text)


def json_object(feedback_id: str, text: str) -> Any:
    """The JSON a person typed, parsed; InvalidAnswerError saying where it does not parse."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidAnswerError(
            feedback_id, f"not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
        ) from None
