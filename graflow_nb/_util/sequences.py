"""Comparing snapshots that share their unchanged items."""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterator, Sequence


def replaced_positions(new: Sequence[object], old: Sequence[object]) -> Iterator[int]:
    """The positions (up to the shorter's length) where ``new`` holds another object than ``old``, found
    at C speed: a list of 10,000 items costs its changed ones, not a Python step per item."""
    return itertools.compress(itertools.count(), map(operator.is_not, new, old))
