"""``graflow-nb answer ID [ID ...]``: one answer, given by flags, to each of the requests named; handed
to the live run that waits for a request, else filed beside its paused run."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .._io.store import CheckpointStore
from .._model.errors import GraflowNbError, InvalidAnswerError
from .._model.feedback_kinds import default_responder
from .exits import EXIT_OK, EXIT_REFUSED, EXIT_USAGE


def answer_each(store: CheckpointStore, args: argparse.Namespace) -> int:
    """Answer every request named with the same flags; a refusal of one is said and the others go on.
    The exit code is the worst one's."""
    answer = _answer_of_flags(args)
    if isinstance(answer, int):
        return answer
    named = _requests_named(store, args)
    if isinstance(named, int):
        return named
    worst = EXIT_OK
    for feedback_id in named:
        one = argparse.Namespace(**{**vars(args), "feedback_id": feedback_id})
        try:
            code = _answer_one(store, one, dict(answer))
        except GraflowNbError as error:
            if len(named) == 1:
                raise
            print(f"graflow-nb: {error}", file=sys.stderr)
            code = EXIT_USAGE if isinstance(error, InvalidAnswerError) else EXIT_REFUSED
        worst = max(worst, code)
    return worst


def _requests_named(store: CheckpointStore, args: argparse.Namespace) -> list[str] | int:
    """The ids named, each once, then those a ``--run`` waits for that nobody answered yet (in the
    workflow's order of tasks); a usage error's exit code if there are none."""
    named = list(args.feedback_ids)
    if args.run_id is not None:
        if args.redis is not None:
            return _usage("--run names a run of --dir; with --redis, name the requests")
        document = store.load_run(args.run_id)
        if document.status.finished:
            print(f"graflow-nb: run {args.run_id} is {document.status.value}: it waits for nothing", file=sys.stderr)
            return EXIT_REFUSED
        named += [r.feedback_id for r in document.pending if store.read_answer(r.feedback_id) is None]
        if not named:
            print(f"graflow-nb: every request run {args.run_id} waits for is answered already", file=sys.stderr)
            return EXIT_REFUSED
    if not named:
        return _usage("name the requests to answer (feedback ids), or --run RUN_ID for all a run waits for")
    return list(dict.fromkeys(named))


def _answer_one(store: CheckpointStore, args: argparse.Namespace, answer: dict[str, Any]) -> int:
    if args.redis is not None:  # a Graflow run's request, kept in Redis
        from .redis_commands import answer_in_redis

        return answer_in_redis(args, answer, fits_flags)
    handed = _hand_to_live_run(store, args, answer)
    if handed is not None:
        return handed
    from .._engine.answering import file_settlement

    document, record = store.find_request(args.feedback_id)
    if not fits_flags(record.request.feedback_type.value, args, answer):
        return EXIT_USAGE
    given = {key: item for key, item in answer.items() if item is not None}
    response = file_settlement(store, document, record, given, via="cli", responded_by=args.responded_by)
    print(
        f"{args.feedback_id}: {response.summary()} (by {response.responded_by}); "
        f"run {document.run_id} of {document.workflow!r} picks it up "
        + ("now" if document.status.value == "running" else "when resumed")
    )
    return EXIT_OK


def _hand_to_live_run(store: CheckpointStore, args: argparse.Namespace, answer: dict[str, Any]) -> int | None:
    """Answer through the live run that waits for the request, if one does (it checks, files and says
    what happened; nothing here loads pydantic or reads the checkpoints); None: answer on disk."""
    from .._io.answer_handoff import find_live_request, hand_answer

    live = find_live_request(store.directory, args.feedback_id)
    if live is None:
        return None
    if not fits_flags(live.feedback_type, args, answer):
        return EXIT_USAGE
    handed = hand_answer(live, answer, args.responded_by or default_responder())
    if handed is None:
        return None
    if handed.refused:
        print(f"graflow-nb: {handed.refused}", file=sys.stderr)
        return EXIT_USAGE if handed.invalid else EXIT_REFUSED
    print(
        f"{args.feedback_id}: {handed.summary} (by {handed.responded_by}); "
        f"run {live.run_id} of {live.workflow!r} picks it up now"
    )
    return EXIT_OK


def _answer_of_flags(args: argparse.Namespace) -> dict[str, Any] | int:
    """The answer the flags give, or the exit code of a usage error (said on stderr)."""
    if args.approve or args.reject:
        return {"approved": bool(args.approve), "reason": args.reason}
    if args.reason is not None:
        return _usage("--reason goes with --approve or --reject")
    if args.text is not None:
        if not args.text.strip():
            return _usage("--text is empty (an unset variable?): give the text")
        return {"text": args.text}
    if args.none:
        return {"selected": []}
    if args.select is not None:
        return {"selected": args.select[0] if len(args.select) == 1 else args.select}
    if args.value is not None:
        numbers = [int(v) if v.is_integer() else v for v in args.value]
        return {"value": numbers[0] if len(numbers) == 1 else numbers}
    try:
        return {"data": json.loads(args.form)}
    except ValueError as error:
        return _usage(f"--json is not valid JSON: {error}")


def _usage(message: str) -> int:
    print(f"graflow-nb: {message}", file=sys.stderr)
    return EXIT_USAGE


def fits_flags(kind: str, args: argparse.Namespace, answer: dict[str, Any]) -> bool:
    """Whether the flags given can answer a request of this kind (else says why, in flags); a
    multi_selection's one --select becomes a list."""
    wrong = _flags_that_do_not_fit(kind, args)
    if wrong:
        article = "an" if kind[0] in "aeiou" else "a"
        print(f"graflow-nb: {args.feedback_id} is {article} {kind} request: {wrong}", file=sys.stderr)
        return False
    if kind == "multi_selection" and args.select is not None:
        answer["selected"] = list(args.select)
    return True


#: How each kind of request is answered, in the command's own flags.
_FLAGS_OF = {
    "approval": "--approve or --reject (with --reason TEXT if you like)",
    "text": "--text TEXT",
    "selection": "--select OPTION, once",
    "multi_selection": "--select OPTION, once per option (--none for none of them)",
    "number": "--value N (twice for a range: --value LOW --value HIGH)",
    "form": "--json '{\"field\": value, ...}'",
    "custom": "--json '{\"key\": value, ...}'",
}


def _flags_that_do_not_fit(kind: str, args: argparse.Namespace) -> str | None:
    """Why the flags given cannot answer a request of this kind (in flags), or None when they can."""
    given = (
        "approval"
        if args.approve or args.reject
        else "text"
        if args.text is not None
        else "multi_selection"
        if args.none
        else "selection"
        if args.select is not None
        else "number"
        if args.value is not None
        else "form"
    )
    fits = given == kind or (given, kind) in {("selection", "multi_selection"), ("form", "custom")}
    if not fits:
        return f"answer it with {_FLAGS_OF[kind]}"
    if kind == "selection" and len(args.select) > 1:
        return f"it takes one option: give --select once (you gave {len(args.select)})"
    return None
