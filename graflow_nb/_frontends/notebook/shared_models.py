"""Layouts and styles that every request control shares, so that a control opens no models for them.

ipywidgets gives each widget a layout and a style model of its own: of a control's ~30 models, 19 were
those, each a message to open and one to close. A page turn of a batch closes a page of controls and
opens the next, and a burst of some 1,300 messages could overflow the kernel's IOPub queue (a PUB
socket drops what exceeds its high-water mark). Shared, they are opened once per kernel and never closed.

A shared model must not be changed: a control that hides a part does it with a CSS class
(:data:`HIDDEN`), not with its layout. Main thread only, like every widget.
"""

from __future__ import annotations

from typing import Any, TypeVar

import ipywidgets as widgets

#: The CSS class that hides a part of a control (the theme's stylesheet says ``display: none``).
HIDDEN = "gnb-hidden"

_W = TypeVar("_W", bound=widgets.DOMWidget)

_layouts: dict[tuple[tuple[str, str], ...], widgets.Layout] = {}
_styles: dict[type, widgets.Widget] = {}
_shared_ids: set[str] = set()


def shared_layout(**traits: str) -> widgets.Layout:
    """The one open Layout with these traits (``width="100%"``...), made at first use."""
    key = tuple(sorted(traits.items()))
    layout = _layouts.get(key)
    if layout is None or layout.comm is None:  # first use, or closed by ``Widget.close_all()``
        layout = _layouts[key] = widgets.Layout(**traits)
        _shared_ids.add(layout.model_id)
    return layout


def _shared_style(widget_class: type[widgets.Widget]) -> widgets.Widget | None:
    """The one open default style for ``widget_class``'s kind of style; None if it has no style."""
    trait = widget_class.class_traits().get("style")
    style_class = getattr(trait, "klass", None)
    if not isinstance(style_class, type):
        return None
    style = _styles.get(style_class)
    if style is None or style.comm is None:
        style = _styles[style_class] = style_class()
        _shared_ids.add(style.model_id)
    return style


def lean(widget_class: type[_W], layout: dict[str, str] | None = None, **traits: Any) -> _W:
    """A ``widget_class`` widget with the shared layout (``layout``'s traits, or none) and default style."""
    style = _shared_style(widget_class)
    if style is not None:
        traits.setdefault("style", style)
    widget: _W = widget_class(layout=shared_layout(**(layout or {})), **traits)
    return widget


def is_shared(widget: widgets.Widget) -> bool:
    """Whether ``widget`` is one of the shared layouts or styles (never closed with a control)."""
    return widget.comm is not None and widget.model_id in _shared_ids
