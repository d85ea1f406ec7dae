"""The widgets a person answers with: buttons, number and range sliders, a form's fields."""

from __future__ import annotations

import enum
import html
import json
import typing
from typing import Any

import ipywidgets as widgets

from .shared_models import lean


def make_button(
    description: str, style: str, icon: str, *, tooltip: str | None = None, classes: tuple[str, ...] = ()
) -> widgets.Button:
    """A button with an icon and CSS ``classes``, its description as its tooltip unless one is given."""
    return lean(
        widgets.Button,
        description=description,
        button_style=style,
        icon=icon,
        tooltip=tooltip or description,
        _dom_classes=classes,
    )


def metadata_view(metadata: dict[str, Any]) -> widgets.HTML:
    """The request's metadata as a small table."""
    rows = "".join(
        f"<tr><th style='text-align:left;padding-right:1em;font-weight:normal' class='gnb-muted'>"
        f"{html.escape(str(key))}</th>"
        f"<td><code>{html.escape(json.dumps(value) if not isinstance(value, str) else value)}</code></td></tr>"
        for key, value in metadata.items()
    )
    return lean(widgets.HTML, value=f"<table>{rows}</table>")


def number_widget(
    integer: bool, minimum: float | None, maximum: float | None, step: float | None, default: Any
) -> widgets.Widget:
    """A slider when both bounds are known, else a number box."""
    value = default if default is not None else (minimum if minimum is not None else 0)
    if minimum is not None and maximum is not None:
        number = int(value) if integer else float(value)
        return _slider((widgets.IntSlider, widgets.FloatSlider), integer, number, minimum, maximum, step)
    return lean(widgets.IntText, value=int(value)) if integer else lean(widgets.FloatText, value=float(value))


def range_widget(integer: bool, minimum: Any, maximum: Any, step: float | None, default: Any) -> widgets.Widget:
    """A two-handled slider for a [low, high] answer."""
    value = tuple(default) if default is not None else (minimum, maximum)
    return _slider((widgets.IntRangeSlider, widgets.FloatRangeSlider), integer, value, minimum, maximum, step)


def _slider(
    kinds: tuple[type[widgets.DOMWidget], type[widgets.DOMWidget]],
    integer: bool,
    value: Any,
    minimum: Any,
    maximum: Any,
    step: float | None,
) -> widgets.Widget:
    """The integer or the float one of ``kinds`` (a slider and its range twin), updated on release."""
    if integer:
        return lean(
            kinds[0], value=value, min=int(minimum), max=int(maximum), step=int(step or 1), continuous_update=False
        )
    return lean(
        kinds[1],
        value=value,
        min=minimum,
        max=maximum,
        step=step or (maximum - minimum) / 100 or 0.01,
        continuous_update=False,
        readout_format=".4g",
    )


def field_widget(annotation: Any, info: Any, name: str) -> widgets.Widget:
    """One control for a pydantic field: checkbox, dropdown, slider or text."""
    label = info.title or name.replace("_", " ").capitalize()
    default = None if info.is_required() else info.default
    origin = typing.get_origin(annotation)
    control: widgets.Widget
    if annotation is bool:
        control = lean(widgets.Checkbox, value=bool(default), description=label, indent=False)
    elif origin is typing.Literal:
        options = list(typing.get_args(annotation))
        control = lean(
            widgets.Dropdown, options=options, value=default if default in options else options[0], description=label
        )
    elif isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        options = [(str(member.value), member.value) for member in annotation]
        value = default.value if isinstance(default, enum.Enum) else options[0][1]
        control = lean(widgets.Dropdown, options=options, value=value, description=label)
    elif annotation in (int, float):
        low, high = _bounds(info)
        control = number_widget(annotation is int, low, high, None, default)
        control.description = label
    else:
        control = lean(widgets.Text, value="" if default is None else str(default), description=label)
    control._graflow_field = name
    return control


def _bounds(info: Any) -> tuple[float | None, float | None]:
    low = high = None
    for constraint in info.metadata:
        low = getattr(constraint, "ge", None) if getattr(constraint, "ge", None) is not None else low
        low = getattr(constraint, "gt", None) if getattr(constraint, "gt", None) is not None else low
        high = getattr(constraint, "le", None) if getattr(constraint, "le", None) is not None else high
        high = getattr(constraint, "lt", None) if getattr(constraint, "lt", None) is not None else high
    return low, high


def read_form(fields: dict[str, widgets.Widget]) -> Any:
    if "__json__" in fields:
        try:
            return json.loads(fields["__json__"].value or "{}")
        except ValueError:
            return fields["__json__"].value
    return {name: control.value for name, control in fields.items()}
