"""``graflow-nb list --redis URL`` and ``graflow-nb answer ID --redis URL``: the requests of Graflow runs
whose feedback backend is Redis, listed and answered as Graflow's own feedback manager would."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from .._io.graflow_redis import GraflowRedisRequests
from .._io.hints import plain_prompt
from .exits import EXIT_OK, EXIT_USAGE


def list_in_redis(args: argparse.Namespace) -> int:
    """Print the requests a Graflow run waits for (those of one session with ``--session``)."""
    kept = GraflowRedisRequests(args.redis)
    found = kept.requests(args.session, workflow=args.workflow)
    if not found:
        which = f" of session {args.session}" if args.session else ""
        which += f" of workflow {args.workflow!r}" if args.workflow else ""
        print(f"no Graflow requests{which} wait in {args.redis}")
        return EXIT_OK
    for graflow in found:
        request = graflow.request
        note = "" if graflow.status == "pending" else f"  [{graflow.status}: its run resumes with an answer]"
        print(
            f"{request.feedback_id}  {request.feedback_type.value}  session {graflow.session_id}"
            f"  {request.task_id}: {plain_prompt(request.prompt)}{note}"
        )
    return EXIT_OK


def answer_in_redis(
    args: argparse.Namespace, answer: dict[str, Any], fits: Callable[[str, argparse.Namespace, dict[str, Any]], bool]
) -> int:
    """Answer one Graflow request kept in Redis; the run waiting for it wakes at once."""
    kept = GraflowRedisRequests(args.redis)
    graflow = kept.request(args.feedback_id)
    if not fits(graflow.request.feedback_type.value, args, answer):
        return EXIT_USAGE
    response = kept.answer(args.feedback_id, via="cli", responded_by=args.responded_by, **answer)
    print(
        f"{args.feedback_id}: {response.summary()} (by {response.responded_by}); "
        f"Graflow session {graflow.session_id} picks it up now"
    )
    return EXIT_OK
