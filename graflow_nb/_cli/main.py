"""The ``graflow-nb`` command: list runs and pending requests, show one, answer one, print the decision log."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from .._io.store import CheckpointStore, default_checkpoint_dir
from .._model.errors import CheckpointError, GraflowNbError, InvalidAnswerError
from .._model.feedback_kinds import default_responder
from .._util.clock import utc_now
from .exits import EXIT_OK, EXIT_REFUSED, EXIT_USAGE


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
    show = commands.add_parser("show", parents=[common], help="one request, or one run, in full (as JSON)")
    show.add_argument("feedback_id", metavar="FEEDBACK_ID_OR_RUN_ID")
    answer = commands.add_parser(
        "answer", parents=[common], help="answer pending requests (each of the ids named, with the same answer)"
    )
    answer.add_argument("feedback_ids", nargs="*", metavar="feedback_id")
    answer.add_argument(
        "--run", dest="run_id", metavar="RUN_ID", help="answer every request this run waits for (see `list`)"
    )
    kind = answer.add_mutually_exclusive_group(required=True)
    kind.add_argument("--approve", action="store_true", help="approve an approval request")
    kind.add_argument("--reject", action="store_true", help="reject an approval request")
    kind.add_argument("--text", help="answer a text request")
    kind.add_argument(
        "--select", action="append", metavar="OPTION", help="choose an option (repeat for a multi_selection)"
    )
    kind.add_argument("--none", action="store_true", help="choose none of a multi_selection's options")
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
        "clear",
        parents=[common],
        help="remove finished runs (completed, cancelled; a failed or paused run can be resumed, so it stays "
        "until cancelled); the decision log stays",
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
            from .listing import list_runs

            return list_runs(store)
        if args.command == "show":
            from .listing import show

            return show(store, args.feedback_id)
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
        from .answer_command import answer_each

        return answer_each(store, args)
    except GraflowNbError as error:
        print(f"graflow-nb: {error}", file=sys.stderr)
        return EXIT_USAGE if isinstance(error, InvalidAnswerError) else EXIT_REFUSED
    except BrokenPipeError:  # the reader went away (``graflow-nb log | head``): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # (no second error as Python flushes)
        return EXIT_OK
    except OSError as error:  # a full disk, a folder one may not write to: one line, not a traceback
        where = f" ({error.filename})" if error.filename else ""
        print(f"graflow-nb: cannot use {store.directory}: {error.strerror or error}{where}", file=sys.stderr)
        return EXIT_REFUSED


def _close(store: CheckpointStore, args: argparse.Namespace) -> int:
    from .._engine.answering import file_settlement

    document, record = store.find_request(args.feedback_id)
    given: dict[str, Any] = {"closed": True, "reason": args.reason} if args.reason else {"closed": True}
    closure = file_settlement(store, document, record, given, via="cli", responded_by=args.closed_by)
    when = "now" if document.status.value == "running" else "when its run is resumed"
    print(
        f"{args.feedback_id}: {closure.summary()} (by {closure.responded_by}); its task "
        f"{record.request.task_id!r} gets FeedbackClosedError {when} (uncaught there, it fails the run)"
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
    ended = [r for r in cancelled.requests if r.state == "closed" and r.response is None]
    filed = sum(1 for record in ended if store.read_answer(record.feedback_id) is not None)
    unused = f", {filed} answered but never used" if filed else ""
    print(
        f"{cancelled.run_id}: {cancelled.reason}; {len(ended) - filed} request(s) closed unanswered{unused}; "
        "nothing resumes it"
    )
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


if __name__ == "__main__":
    sys.exit(main())
