"""The ``graflow-nb`` command: list runs and pending requests, show one, answer one, print the decision log."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from ._api import provide_feedback
from ._checkpoint import CheckpointDocument, RequestRecord
from ._console import cli_hint
from ._decision_table import decision_log
from ._exceptions import CheckpointError, GraflowNbError, InvalidAnswerError
from ._store import CheckpointStore, default_checkpoint_dir

EXIT_OK = 0
EXIT_REFUSED = 1  # a well-formed command the state does not allow (unknown id, already answered)
EXIT_USAGE = 2  # a malformed command or an answer that does not fit (argparse's code too)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--dir",
        default=None,
        help=f"checkpoint directory (default: $GRAFLOW_NB_CHECKPOINT_DIR or {default_checkpoint_dir()})",
    )
    parser = argparse.ArgumentParser(prog="graflow-nb", description=__doc__, parents=[common])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", parents=[common], help="runs and their pending requests")
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
    kind.add_argument("--json", dest="form", metavar="OBJECT", help="answer a form request with a JSON object")
    answer.add_argument("--reason", help="why (with --approve or --reject)")
    answer.add_argument("--by", dest="responded_by", help="who answers (default: your user name)")
    log = commands.add_parser("log", parents=[common], help="the decision log: who decided what, when, how")
    log.add_argument("--workflow", help="only this workflow's entries")
    log.add_argument("--run", dest="run_id", help="only this run's entries")
    log.add_argument("--id", dest="feedback_id", help="only this request's entries")
    log.add_argument("--json", action="store_true", help="print the entries as JSON Lines")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    args = _parser().parse_args(argv)
    store = CheckpointStore(args.dir)
    try:
        if args.command == "list":
            return _list(store)
        if args.command == "show":
            return _show(store, args.feedback_id)
        if args.command == "log":
            return _log(store, args)
        return _answer(store, args)
    except GraflowNbError as error:
        print(f"graflow-nb: {error}", file=sys.stderr)
        return EXIT_USAGE if isinstance(error, InvalidAnswerError) else EXIT_REFUSED
    except OSError as error:  # a full disk, a folder one may not write to: one line, not a traceback
        where = f" ({error.filename})" if error.filename else ""
        print(f"graflow-nb: cannot use {store.directory}: {error.strerror or error}{where}", file=sys.stderr)
        return EXIT_REFUSED


def _list(store: CheckpointStore) -> int:
    documents = list(store.documents())
    if not documents:
        print(f"no runs in {store.directory}")
        return EXIT_OK
    for path, document in documents:
        if isinstance(document, CheckpointError):
            print(f"{path.name}: UNREADABLE: {document}")
            continue
        print(
            f"{document.run_id}  {document.workflow}  {document.status.value}"
            f"  updated {document.updated_at:%Y-%m-%d %H:%M:%S}" + (f"  ({document.reason})" if document.reason else "")
        )
        if not document.status.finished:
            for record in document.pending:
                filed = store.read_answer(record.feedback_id)
                note = f"  [answered by {filed.responded_by}: {filed.summary()}, applied on resume]" if filed else ""
                print(
                    f"  {record.feedback_id}  {record.request.feedback_type.value}"
                    f"  {record.request.task_id}: {record.request.prompt}{note}"
                )
    return EXIT_OK


def _log(store: CheckpointStore, args: argparse.Namespace) -> int:
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
    filed = store.read_answer(record.feedback_id)
    response = record.response or filed
    return {
        "run": {"run_id": document.run_id, "workflow": document.workflow, "status": document.status.value},
        "request": record.request.model_dump(mode="json", exclude_none=True),
        "state": "answered" if response else record.state,
        "response": response.model_dump(mode="json", exclude_none=True) if response else None,
        "answer_with": None if response or document.status.finished else cli_hint(record.request, str(store.directory)),
    }


def _answer(store: CheckpointStore, args: argparse.Namespace) -> int:
    answer: dict[str, Any] = {}
    if args.approve or args.reject:
        answer = {"approved": bool(args.approve), "reason": args.reason}
    elif args.reason is not None:
        print("graflow-nb: --reason goes with --approve or --reject", file=sys.stderr)
        return EXIT_USAGE
    elif args.text is not None:
        answer = {"text": args.text}
    elif args.select is not None:
        answer = {"selected": args.select[0] if len(args.select) == 1 else args.select}
    elif args.value is not None:
        numbers = [int(v) if v.is_integer() else v for v in args.value]
        answer = {"value": numbers[0] if len(numbers) == 1 else numbers}
    else:
        try:
            answer = {"data": json.loads(args.form)}
        except ValueError as error:
            print(f"graflow-nb: --json is not valid JSON: {error}", file=sys.stderr)
            return EXIT_USAGE
    document, record = store.find_request(args.feedback_id)
    if record.request.feedback_type.value == "multi_selection" and "selected" in answer:
        answer["selected"] = list(args.select)
    response = provide_feedback(
        args.feedback_id,
        via="cli",
        responded_by=args.responded_by,
        checkpoint_dir=store.directory,
        **answer,
    )
    print(
        f"{args.feedback_id}: {response.summary()} (by {response.responded_by}); "
        f"run {document.run_id} of {document.workflow!r} picks it up "
        + ("now" if document.status.value == "running" else "when resumed")
    )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
