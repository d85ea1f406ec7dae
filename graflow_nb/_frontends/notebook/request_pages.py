"""Which of a panel's requests are on the page: a window over those the filter lets through, in the
order they arrived, but for those that arrive together (see :meth:`RequestPages.add`)."""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import Any, Literal

from .shown_request import ShownRequest

#: Controls drawn at once; a batch beyond this shows a page of them, with paging and a filter.
PAGE_SIZE = 20
#: At most this many requests are kept in rank order at once (each arrival out of order moves those
#: after it: bounded, so a batch of thousands arriving backwards costs no more than this each).
FRESH_MOST = 1000

Showing = Literal["waiting", "answered", "all"]


class RequestPages:
    """A panel's requests and the page on screen (main thread only; no widgets here).

    A page keeps its requests until it is turned, so an answer stays in view where it was given; a new
    request joins the page while the page has room and ends where the list ends, and once nothing on
    the page waits the panel turns to it (:meth:`goes_on_to`). Turning goes by position (the requests
    after the page's last one), so answers and arrivals meanwhile skip nothing.

    Requests that arrive together (the *fresh* ones: since the page was last turned or :meth:`settle`
    was called) are kept in the order of their ranks (the workflow's order of tasks): parallel sync
    tasks ask in whatever order their threads get to it, and a person should not see rows 2, 9, 8, 1.
    Once settled, the list keeps its order, so nothing moves under a person's mouse.
    """

    def __init__(self, page_size: int = PAGE_SIZE) -> None:
        self.page_size = page_size
        self.entries: dict[str, ShownRequest] = {}  # in arrival order
        self._position: dict[str, int] = {}
        self._order: list[str] = []
        self.page: list[str] = []
        self.showing: Showing = "waiting"
        self.words = ""  # lower case; "" lets every request through
        self._page_reaches_end = True  # nothing the filter lets through comes after the page's last request
        self._fresh_from = 0  # the requests from this position on arrived together: kept in rank order
        self._fresh_ranks: list[Any] = []  # their ranks, in order

    def __len__(self) -> int:
        return len(self._order)

    @property
    def paged(self) -> bool:
        """Whether paging and the filter are shown: more requests than a page, or a filter is set."""
        return len(self._order) > self.page_size or bool(self.words) or self.showing != "waiting"

    def in_order(self) -> list[ShownRequest]:
        """Every request, in the order the pages show them."""
        return [self.entries[feedback_id] for feedback_id in self._order]

    def waiting(self) -> int:
        """How many requests wait for an answer."""
        return sum(1 for entry in self.entries.values() if not entry.answered)

    def lets_through(self, entry: ShownRequest) -> bool:
        """Whether the filter shows ``entry``."""
        if self.showing == "waiting" and entry.answered:
            return False
        if self.showing == "answered" and not entry.answered:
            return False
        return not self.words or entry.matches(self.words)

    def add(self, entry: ShownRequest, rank: Any = None) -> int | None:
        """Keep a new request (among the fresh ones, before those ranked after it; comparable ranks, or
        None: at the end); return where it joins the page on screen, or None if it does not."""
        feedback_id = entry.feedback_id
        self.entries[feedback_id] = entry
        at = len(self._order)
        if rank is None or len(self._fresh_ranks) >= FRESH_MOST:
            self.settle()
        if rank is not None:
            fresh_at = bisect.bisect_right(self._fresh_ranks, rank)
            self._fresh_ranks.insert(fresh_at, rank)
            at = self._fresh_from + fresh_at
        page = self.page
        # where the page is before the new request joins the list (a page holds the requests of one
        # stretch of it, those the filter lets through)
        first, last = (self._position[page[0]], self._position[page[-1]]) if page else (at, at)
        self._order.insert(at, feedback_id)
        for position in range(at, len(self._order)):
            self._position[self._order[position]] = position
        if not self.lets_through(entry):
            return None
        if page and first <= at <= last:  # within the page's stretch (only while it is fresh): joins it
            joins = sum(1 for other in page if self._position[other] < at)
            page.insert(joins, feedback_id)
            if len(page) > self.page_size:
                page.pop()
                self._page_reaches_end = False
            return joins
        if page and at < first:  # (before a page turned to: a turn settles the order, so never)
            return None
        if self._page_reaches_end and len(page) < self.page_size:
            page.append(feedback_id)
            return len(page) - 1
        self._page_reaches_end = False
        return None

    def settle(self) -> None:
        """Keep the requests in the order they have now: later ones go after them."""
        self._fresh_from = len(self._order)
        self._fresh_ranks = []

    def goes_on_to(self, entry: ShownRequest) -> bool:
        """Whether a new request off the page should be turned to: the filter lets it through and
        nothing on the page waits any more (a task asking one question after another, its 21st)."""
        return (
            entry.feedback_id not in self.page
            and self.lets_through(entry)
            and bool(self.page)
            and all(self.entries[feedback_id].answered for feedback_id in self.page)
        )

    def first_page(self) -> list[str]:
        """Turn to the first page the filter lets through (after the filter changed)."""
        return self._set_page(list(self._matching_from(0)))

    def next_page(self) -> list[str]:
        """Turn to the requests after the page; past the end, back to the first ones the filter lets
        through (requests skipped earlier). The page stays when there are none."""
        after = self._position[self.page[-1]] + 1 if self.page else 0
        following = list(self._matching_from(after))
        if not following:
            shown = set(self.page)
            following = [f for f in self._matching_from(0) if f not in shown]
        return self._set_page(following) if following else self.page

    def previous_page(self) -> list[str]:
        """Turn to the requests before the page (the page stays at the start)."""
        before = self._position[self.page[0]] if self.page else 0
        earlier = [f for f in reversed(self._order[:before]) if self.lets_through(self.entries[f])]
        earlier = earlier[: self.page_size]
        return self._set_page(earlier[::-1]) if earlier else self.page

    def _matching_from(self, start: int) -> Iterator[str]:
        """Up to a page of the requests from position ``start`` on that the filter lets through."""
        found = 0
        for feedback_id in self._order[start:]:
            if self.lets_through(self.entries[feedback_id]):
                yield feedback_id
                found += 1
                if found == self.page_size:
                    return

    def _set_page(self, page: list[str]) -> list[str]:
        self.settle()
        self.page = page
        last = self._position[page[-1]] if page else -1
        self._page_reaches_end = not any(True for _ in self._matching_from(last + 1))
        return page

    def span(self) -> str:
        """Where the page is: ``#21-#40 of 10,000``."""
        if not self.page:
            return f"none of {len(self._order):,} matches"
        first, last = self._position[self.page[0]] + 1, self._position[self.page[-1]] + 1
        return f"#{first:,}-#{last:,} of {len(self._order):,}"

    def after_on_page(self, feedback_id: str) -> ShownRequest | None:
        """The first unanswered request on the page after ``feedback_id`` (then from the page's top)."""
        if feedback_id not in self.page:
            return None
        at = self.page.index(feedback_id)
        for other in self.page[at + 1 :] + self.page[:at]:
            entry = self.entries[other]
            if not entry.answered:
                return entry
        return None
