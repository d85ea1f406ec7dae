"""The checkpoint folder of a run whose tasks run on Graflow's workers: an answer counts once Redis holds it.

Such a run's requests are also kept in Redis as Graflow keeps its own (so ``graflow-nb answer --redis``,
the Graflow panel and Graflow's own ``provide_feedback`` can answer them from any machine). Every answer
given through the run (its widget, the console, the API) is first stored in Redis unless another is
there already, and the first one stored wins, wherever it was given.
"""

from __future__ import annotations

import logging
import os

from .._model.errors import FeedbackNotFoundError, GraflowRedisError, InvalidAnswerError
from .._model.feedback import FeedbackResponse
from .graflow_redis import GraflowRedisRequests, response_from_graflow
from .store import CheckpointStore

logger = logging.getLogger("graflow_nb.redis")


class RedisArbitratedStore(CheckpointStore):
    """A checkpoint folder whose answers are arbitrated by the Redis that keeps the run's requests.

    While Redis cannot be reached, an answer given through the run counts here alone (it reaches the
    worker once Redis answers again).
    """

    def __init__(self, directory: str | os.PathLike[str], requests: GraflowRedisRequests) -> None:
        super().__init__(directory)
        self.requests = requests

    def file_answer(self, response: FeedbackResponse) -> bool:
        """Record the answer unless one is filed here or stored in Redis already (that one is kept here)."""
        if self.answer_path(response.feedback_id).exists():
            return False
        try:
            first = self.requests.claim(response)
        except GraflowRedisError as error:  # the answer counts here; the worker gets it once Redis is back
            logger.warning("graflow_nb: %s; %s is recorded here only", error, response.feedback_id)
            first = None
        if first is not None:
            super().file_answer(first)
            return False
        return super().file_answer(response)

    def adopt_answer(self, feedback_id: str) -> FeedbackResponse | None:
        """The answer stored in Redis (given while the run was paused), filed here; None if there is none."""
        try:
            stored = self.requests.responses([feedback_id]).get(feedback_id)
            if stored is None:
                return None
            response = response_from_graflow(self.requests.request(feedback_id).request, stored)
        except (FeedbackNotFoundError, InvalidAnswerError, GraflowRedisError):
            return None
        return response if super().file_answer(response) else None
