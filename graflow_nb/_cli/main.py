"""The ``graflow-nb`` command: list runs and pending requests, show one, answer one, print the decision log."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .._io.store import CheckpointStore, default_checkpoint_dir
from .._model.errors import CheckpointError, GraflowNbError, InvalidAnswerError
from .._model.feedback_kinds import default_responder
from .._model.status import RunStatus
from .._util.clock import utc_now

if TYPE_CHECKING:  # each command imports what it needs: a command's time is mostly imports
    from .._model.checkpoint import CheckpointDocument, RequestRecord
    from .._model.feedback import FeedbackResponse

EXIT_OK = 0
EXIT_REFUSED = 1  # a well-formed command the state does not allow (unknown id, already answered)
EXIT_USAGE = 2  # a malformed command or an answer that does not fit (argparse's code too)


def _where_options(default: object) -> argparse.ArgumentParser:
    """--dir and --redis, given before the command or after it."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--dir",
        default=default,
        help=f"checkpoint directory (default: $GRAFLOW_NB_CHECKPOINT_DIR or {default_checkpoint_dir()})",
    )
    options.add_argument(
        "--redis",
        metavar="URL",
        default=default,
        help="list and answer the requests of Graflow runs kept in this Redis (redis://host:port/db), not --dir",
    )
    return options


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graflow-nb",
        description="List the runs of workflows and their pending requests, show one, answer one, "
        "and print the decision log.",
        parents=[_where_options(default=None)],
    )
    # after the command, an option left out keeps what was given before it (``graflow-nb --dir X list``)
    common = _where_options(default=argparse.SUPPRESS)
    parser.add_argument("--version", action=_PrintVersion, nargs=0, help="show the version and exit")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", parents=[common], help="runs and their pending requests")
    listing.add_argument("--session", default=None, help="with --redis: only this Graflow session's requests")
    listing.add_argument(
        "--workflow", default=None, help="with --redis: only this workflow's requests (Graflow's own: 'graflow')"
    )
    show = commands.add_parser("show", parents=[common], help="one request in full")
    show.add_argument("feedback_id")
    answer = commands.add_parser("answer", parents=[common], help="answer a pending request")
    answer.add_argument("feedback_id")
    kind = answer.add_mutually_exclusive_group(required=True)
    kind.add_argument("--approve", action="store_true", help="approve an approval request")
    kind.add_argument("--reject", action="store_true", help="reject an approval request")
    kind.add_argument("--text", help="answer a text request")
    kind.add_argument(
        "--select", action="append", metavar="OPTION", help="choose an option (repeat for a multi_selection)"
    )
    kind.add_argument(
        "--value", type=float, action="append", help="answer a number request (twice for a range: low, high)"
    )
    kind.add_argument(
        "--json", dest="form", metavar="OBJECT", help="answer a form or custom request with a JSON object"
    )
    answer.add_argument("--reason", help="why (with --approve or --reject)")
    answer.add_argument("--by", dest="responded_by", help="who answers (default: your user name)")
    close = commands.add_parser(
        "close", parents=[common], help="close a pending request without an answer (its task gets FeedbackClosedError)"
    )
    close.add_argument("feedback_id")
    close.add_argument("--reason", help="why (kept in the decision log and told to the task)")
    close.add_argument("--by", dest="closed_by", help="who closes it (default: your user name)")
    extend = commands.add_parser(
        "extend", parents=[common], help="give people more time to answer a request a task waits for"
    )
    extend.add_argument("feedback_id")
    extend.add_argument("duration", help="how much more: seconds, or a number with s, m, h or d (e.g. 30m, 2h)")
    extend.add_argument("--by", dest="extended_by", help="who gives the time (default: your user name)")
    cancel = commands.add_parser(
        "cancel", parents=[common], help="end a paused run for good (its pending requests close unanswered)"
    )
    cancel.add_argument("run_id")
    cancel.add_argument("--reason", help="why (kept in the checkpoint and the decision log)")
    cancel.add_argument("--by", dest="cancelled_by", help="who cancels (default: your user name)")
    clear = commands.add_parser(
        "clear", parents=[common], help="remove finished runs (completed, cancelled, failed); the decision log stays"
    )
    clear.add_argument("--older-than", type=float, default=0.0, metavar="DAYS", help="only runs ended this long ago")
    log = commands.add_parser("log", parents=[common], help="the decision log: who decided what, when, how")
    log.add_argument("--workflow", help="only this workflow's entries")
    log.add_argument("--run", dest="run_id", help="only this run's entries")
    log.add_argument("--id", dest="feedback_id", help="only this request's entries")
    log.add_argument("--json", action="store_true", help="print the entries as JSON Lines")
    return parser


class _PrintVersion(argparse.Action):
    """``--version``, its number looked up only when asked (the lookup scans the installed packages)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from importlib.metadata import version

        print(f"{parser.prog} {version('graflow-nb')}")
        parser.exit()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    args = _parser().parse_args(argv)
    store = CheckpointStore(args.dir)
    try:
        if args.command == "list" and args.redis is not None:
            from .redis_commands import list_in_redis

            return list_in_redis(args)
        if args.command == "list":
            return _list(store)
        if args.command == "show":
            return _show(store, args.feedback_id)
        if args.command == "log":
            return _log(store, args)
        if args.command == "cancel":
            return _cancel(store, args)
        if args.command == "close":
            return _close(store, args)
        if args.command == "extend":
            return _extend(store, args)
        if args.command == "clear":
            return _clear(store, args.older_than)
        return _answer(store, args)
    except GraflowNbError as error:
        print(f"graflow-nb: {error}", file=sys.stderr)
        return EXIT_USAGE if isinstance(error, InvalidAnswerError) else EXIT_REFUSED
    except OSError as error:  # a full disk, a folder one may not write to: one line, not a traceback
        where = f" ({error.filename})" if error.filename else ""
        print(f"graflow-nb: cannot use {store.directory}: {error.strerror or error}{where}", file=sys.stderr)
        return EXIT_REFUSED


def _list(store: CheckpointStore) -> int:
    from .._io.hints import plain_prompt

    documents = list(store.documents())
    if not documents:
        print(f"no runs in {store.directory}")
        return EXIT_OK
    for path, document in documents:
        if isinstance(document, CheckpointError):
            print(f"{path.name}: UNREADABLE: {document}")
            continue
        print(
            f"{document.run_id}  {document.workflow}  {_status_of(document)}"
            f"  {len(document.completed)}/{len(document.tasks)} tasks done"
            f"  updated {document.updated_at:%Y-%m-%d %H:%M:%S}" + (f"  ({document.reason})" if document.reason else "")
        )
        if not document.status.finished:
            for record in document.pending:
                filed = store.read_answer(record.feedback_id)
                note = f"  [{_filed_note(filed)}, applied on resume]" if filed else ""
                if record.deadline is not None and not filed and document.status.value == "running":
                    note = f"  [times out {record.deadline.astimezone():%H:%M:%S}]"
                print(
                    f"  {record.feedback_id}  {record.request.feedback_type.value}"
                    f"  {record.request.task_id}: {plain_prompt(record.request.prompt)}{note}"
                )
    return EXIT_OK


def _status_of(document: CheckpointDocument) -> str:
    """A run's status, and for a running one whose process is gone (killed, crashed), that it is."""
    from .._io.run_claim import owner_alive

    if document.status is RunStatus.RUNNING and not owner_alive(document):
        return f"running, but its process ({document.owner_pid}) is gone: resume it to go on"
    return document.status.value


def _filed_note(filed: FeedbackResponse) -> str:
    if filed.closed:
        return f"closed by {filed.responded_by}" + (f": {filed.reason}" if filed.reason else "")
    return f"answered by {filed.responded_by}: {filed.summary()}"


def _close(store: CheckpointStore, args: argparse.Namespace) -> int:
    from .._engine.answering import file_settlement

    document, record = store.find_request(args.feedback_id)
    given: dict[str, Any] = {"closed": True, "reason": args.reason} if args.reason else {"closed": True}
    closure = file_settlement(store, document, record, given, via="cli", responded_by=args.closed_by)
    when = "now" if document.status.value == "running" else "when its run is resumed"
    print(
        f"{args.feedback_id}: {closure.summary()} (by {closure.responded_by}); its task "
        f"{record.request.task_id!r} gets FeedbackClosedError {when}"
    )
    return EXIT_OK


def _extend(store: CheckpointStore, args: argparse.Namespace) -> int:
    from .._engine.deadlines import check_extension, parse_duration
    from .._engine.extending import extend_deadline

    try:
        seconds = check_extension(args.feedback_id, parse_duration(args.duration))
    except ValueError as error:  # not a duration, or not a sensible one
        print(f"graflow-nb: {error}", file=sys.stderr)
        return EXIT_USAGE
    deadline = extend_deadline(
        args.feedback_id, seconds, by=args.extended_by, via="cli", checkpoint_dir=store.directory
    )
    print(f"{args.feedback_id}: now waits until {deadline.astimezone():%Y-%m-%d %H:%M:%S %Z} (+{args.duration})")
    return EXIT_OK


def _cancel(store: CheckpointStore, args: argparse.Namespace) -> int:
    from .._engine.cancel import cancel_stored_run

    by = args.cancelled_by or default_responder()
    cancelled = cancel_stored_run(store, args.run_id, cancelled_by=by, reason=args.reason)
    closed = sum(1 for record in cancelled.requests if record.state == "closed")
    print(f"{cancelled.run_id}: {cancelled.reason}; {closed} request(s) closed unanswered; nothing resumes it")
    return EXIT_OK


def _clear(store: CheckpointStore, older_than_days: float) -> int:
    cutoff = utc_now() - timedelta(days=older_than_days)
    removed = 0
    for path, document in list(store.documents()):
        if isinstance(document, CheckpointError) or not document.status.finished or document.updated_at > cutoff:
            continue
        for record in document.requests:
            store.answer_path(record.feedback_id).unlink(missing_ok=True)
            store.deadline_path(record.feedback_id).unlink(missing_ok=True)
        path.unlink(missing_ok=True)
        store.journal_path(document.run_id).unlink(missing_ok=True)
        shutil.rmtree(store.data_directory(document.run_id), ignore_errors=True)  # its large values
        removed += 1
        print(f"removed {document.run_id} ({document.status.value})")
    print(f"{removed} finished run(s) removed from {store.directory}; the decision log keeps what was decided")
    return EXIT_OK


def _log(store: CheckpointStore, args: argparse.Namespace) -> int:
    from .._io.decision_table import decision_log

    table = decision_log(store.directory, workflow=args.workflow, run_id=args.run_id, feedback_id=args.feedback_id)
    if args.json:
        for entry in table.entries:
            print(json.dumps(entry, ensure_ascii=False))
    else:
        print(table)
    return EXIT_OK


def _show(store: CheckpointStore, feedback_id: str) -> int:
    document, record = store.find_request(feedback_id)
    print(json.dumps(_describe(document, record, store), indent=2, default=str))
    return EXIT_OK


def _describe(document: CheckpointDocument, record: RequestRecord, store: CheckpointStore) -> dict[str, Any]:
    from .._io.hints import cli_commands

    filed = store.read_answer(record.feedback_id)
    response = record.response or filed
    return {
        "run": {"run_id": document.run_id, "workflow": document.workflow, "status": document.status.value},
        "request": record.request.model_dump(mode="json", exclude_none=True),
        "state": ("closed" if response.closed else "answered") if response else record.state,
        "deadline": record.deadline.isoformat() if record.deadline and not response else None,
        "response": response.model_dump(mode="json", exclude_none=True) if response else None,
        "answer_with": None if response or document.status.finished else cli_commands(record.request, store.directory),
    }


def _answer(store: CheckpointStore, args: argparse.Namespace) -> int:
    answer = _answer_of_flags(args)
    if isinstance(answer, int):
        return answer
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
        print("graflow-nb: --reason goes with --approve or --reject", file=sys.stderr)
        return EXIT_USAGE
    if args.text is not None:
        return {"text": args.text}
    if args.select is not None:
        return {"selected": args.select[0] if len(args.select) == 1 else args.select}
    if args.value is not None:
        numbers = [int(v) if v.is_integer() else v for v in args.value]
        return {"value": numbers[0] if len(numbers) == 1 else numbers}
    try:
        return {"data": json.loads(args.form)}
    except ValueError as error:
        print(f"graflow-nb: --json is not valid JSON: {error}", file=sys.stderr)
        return EXIT_USAGE


def fits_flags(kind: str, args: argparse.Namespace, answer: dict[str, Any]) -> bool:
    """Whether the flags given can answer a request of this kind (else says why, in flags); a
    multi_selection's one --select becomes a list."""
    wrong = _flags_that_do_not_fit(kind, args)
    if wrong:
        article = "an" if kind[0] in "aeiou" else "a"
        print(f"graflow-nb: {args.feedback_id} is {article} {kind} request: {wrong}", file=sys.stderr)
        return False
    if kind == "multi_selection" and "selected" in answer:
        answer["selected"] = list(args.select)
    return True


#: How each kind of request is answered, in the command's own flags.
_FLAGS_OF = {
    "approval": "--approve or --reject (with --reason TEXT if you like)",
    "text": "--text TEXT",
    "selection": "--select OPTION, once",
    "multi_selection": "--select OPTION, once per option",
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


if __name__ == "__main__":
    sys.exit(main())
