"""The bar above a big batch's page of controls: where the page is, turning it, and a filter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from .request_pages import RequestPages, Showing
from .theme import muted


class PageBar:
    """Previous and next page, the page's place and the counts, which requests to show, words to look for.

    Every part is a plain control a keyboard reaches: Tab to a button and Enter turns the page; Enter in
    the filter applies it. ``turned`` is called with the page's requests after every change.
    """

    def __init__(self, pages: RequestPages, turned: Callable[[], None]) -> None:
        self._pages = pages
        self._turned = turned
        self.previous = widgets.Button(description="Previous", icon="arrow-left", tooltip="the page before")
        self.next = widgets.Button(description="Next", icon="arrow-right", tooltip="the page after")
        self.previous.add_class("gnb-previous-page")
        self.next.add_class("gnb-next-page")
        self.previous.on_click(lambda _button: self._turn(pages.previous_page))
        self.next.on_click(lambda _button: self._turn(pages.next_page))
        self.where = widgets.HTML()
        self.where.add_class("gnb-page-where")
        self.showing = widgets.Dropdown(
            options=[("waiting", "waiting"), ("answered", "answered"), ("all", "all")],
            value=pages.showing,
            description="show",
            layout=widgets.Layout(width="12em"),
            style={"description_width": "3em"},
        )
        self.showing.add_class("gnb-page-showing")
        self.showing.observe(self._showing_changed, names="value")
        self.words = widgets.Text(
            placeholder="filter: task, prompt or id (Enter)",
            continuous_update=False,
            layout=widgets.Layout(width="18em"),
        )
        self.words.add_class("gnb-page-filter")
        self.words.observe(self._words_changed, names="value")
        self.widget = widgets.HBox(
            [self.previous, self.next, self.where, self.showing, self.words],
            layout=widgets.Layout(align_items="center", flex_flow="row wrap"),
        )
        self.widget.add_class("gnb-page-bar")
        self.refresh()

    def refresh(self) -> None:
        """Redraw the page's place and the counts."""
        pages = self._pages
        waiting = pages.waiting()
        self.where.value = muted(f"requests {pages.span()} · {waiting:,} waiting · {len(pages) - waiting:,} answered")

    def _turn(self, turn: Callable[[], list[str]]) -> None:
        turn()
        self._turned()

    def _showing_changed(self, change: dict[str, Any]) -> None:
        self._pages.showing = _as_showing(change["new"])
        self._turn(self._pages.first_page)

    def _words_changed(self, change: dict[str, Any]) -> None:
        self._pages.words = str(change["new"]).strip().lower()
        self._turn(self._pages.first_page)


def _as_showing(value: object) -> Showing:
    if value == "answered":
        return "answered"
    return "all" if value == "all" else "waiting"
