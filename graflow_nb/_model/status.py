"""Where a run stands: :class:`RunStatus`."""

from __future__ import annotations

import enum


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
