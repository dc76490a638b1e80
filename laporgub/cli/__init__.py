"""The ``laporgub`` command (also ``python -m laporgub``).

Exit codes: 0 success or a clean stop, 1 a startup failure or the supervisor
giving up, 2 a bad configuration (one line per problem, never a traceback).

This package is the only place commands live: the parser is built here and each
command family has its module (``serve`` for ``run``, ``checkconfig``, ``pics``,
``routing`` for ``classify``/``eval-routing``/``suggest-keywords``/``eval-incidents``,
``status``, ``report``, ``privacy`` for ``privacy``/``audit``, ``api_keys`` for
``api-key``/``webhooks``, ``db``, and ``backup`` behind ``python -m laporgub.backup``).
They parse arguments, call the domain functions of the runtime modules and print; the
runtime modules import nothing from here (pyproject.toml's import contracts, checked by
tests/test_layers.py). Each module is imported only when its command runs, so
``laporgub status`` does not load the report renderers.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from laporgub import __version__
from laporgub.cli._common import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, load, with_config

__all__ = ["EXIT_CONFIG", "EXIT_FAILURE", "EXIT_OK", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="laporgub", description="SMS Center LAPOR GUB! of Central Java.")
    parser.add_argument("--version", action="version", version=f"laporgub {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    with_config(sub.add_parser("run", help="run the service in the foreground until SIGTERM/SIGINT"))
    with_config(sub.add_parser("check-config", help="validate the config file; exit 2 with one line per problem"))
    with_config(sub.add_parser("pics", help="list the PICs per group (agency, surat tugas); flag groups without one"))
    classify = with_config(sub.add_parser(
        "classify", help="show how a text would be routed (normalised text, keywords, groups, kind, regency)"))
    classify.add_argument("text", help="the SMS text, quoted")
    classify.add_argument("--sender", default=None, help="originating number (default: a subscriber number)")
    evaluate = with_config(sub.add_parser(
        "eval-routing", help="score routing on a labelled JSONL corpus (precision/recall/F1 per group)"))
    evaluate.add_argument("corpus", help="JSON lines with sender, text, expected_groups, kind")
    evaluate.add_argument("--predictions", default=None, help="also write every prediction to this JSONL file")
    suggest = with_config(sub.add_parser(
        "suggest-keywords", help="keywords that would have routed the tickets PICs moved with /alihkan rightly"))
    suggest.add_argument("--since", default="30d", help="YYYY-MM-DD, an ISO time, or a span like 30d (default)")
    suggest.add_argument("--corpus", action="append", default=[],
                         help="labelled JSONL corpus for the F1 change (repeatable)")
    bursts = with_config(sub.add_parser(
        "eval-incidents", help="score incident linking on labelled bursts (pairwise precision/recall, per event)"))
    bursts.add_argument("bursts", help="JSON lines with minute, sender, text, event (docs/incidents.md)")
    bursts.add_argument("--similarity", type=float, default=None,
                        help="try another [incidents] similarity (default: the config's)")
    st = with_config(sub.add_parser("status", help="the last hour: SLA per stage, backlog, modems, open tickets; "
                                                    "exit 1 if something needs attention"))
    st.add_argument("--metrics-url", default=None, help="the service's /metrics (default: from [metrics] listen)")
    report = with_config(sub.add_parser("report", help="build the monthly report (PDF, XLSX, CSV) on demand"))
    report.add_argument("--month", required=True, help="the month reported on, YYYY-MM")
    report.add_argument("--out", required=True, help="directory for the files")
    privacy = with_config(sub.add_parser("privacy", help="personal data requests (UU 27/2022): erase or export "
                                                         "what is stored about a phone number (audit-logged)"))
    privacy.add_argument("action", choices=("erase", "export"))
    privacy.add_argument("--phone", required=True, help="the citizen's number, e.g. +628123456789 or 08123456789")
    privacy.add_argument("--reason", default="", help="request reference kept in the audit log (no personal data)")
    privacy.add_argument("--out", default=None, help="export: write the JSON to this file (mode 0600) "
                                                     "instead of stdout")
    audit = with_config(sub.add_parser("audit", help="list the audit log of numbers shown or removed in clear"))
    audit.add_argument("--since", default=None, help="YYYY-MM-DD, an ISO time, or a span like 30d / 12h")
    from laporgub.cli.api_keys import add_parsers as add_api_parsers

    add_api_parsers(sub, with_config)
    from laporgub.cli.db import add_parser as add_db_parser

    add_db_parser(sub)
    demo = sub.add_parser("demo", help="the whole service on an emulated modem and a local Bot API stand-in")
    demo.add_argument("--forever", action="store_true", help="keep running after the demo SMS (Ctrl-C stops)")
    demo.add_argument("--metrics-port", type=int, default=9464, help="metrics port while the demo runs (0: any free)")
    demo.add_argument("--report", action="store_true",
                      help="also send this month's report (PDF, XLSX, CSV) to the leaders' chats, as on the 1st")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "check-config":
        from laporgub.cli.checkconfig import check_config

        return check_config(args.config)
    if args.command == "run":
        from laporgub.cli.serve import run

        return run(args.config)
    if args.command == "db":
        from laporgub.cli.db import copy_command

        return copy_command(args)
    if args.command == "demo":
        from laporgub.demo import run_demo

        return run_demo(forever=args.forever, metrics_port=args.metrics_port, report=args.report)
    config = load(args.config)
    if config is None:
        return EXIT_CONFIG
    if args.command == "pics":
        from laporgub.cli.pics import pics_main

        return pics_main(config, sys.stdout)
    if args.command in ("classify", "eval-routing", "suggest-keywords", "eval-incidents"):
        from laporgub.cli.routing import routing_command

        return routing_command(config, args)
    if args.command == "status":
        from laporgub.cli.status import status_main

        return status_main(config, sys.stdout, args.metrics_url)
    if args.command == "report":
        from laporgub.cli.report import report_main

        return report_main(config, args.month, args.out)
    if args.command in ("privacy", "audit"):
        from laporgub.cli.privacy import privacy_main

        return privacy_main(config, args, sys.stdout, sys.stderr)
    if args.command in ("api-key", "webhooks"):
        from laporgub.cli.api_keys import api_key_main, webhooks_main

        handler = api_key_main if args.command == "api-key" else webhooks_main
        return handler(config, args, sys.stdout, sys.stderr)
    return EXIT_FAILURE  # pragma: no cover - argparse rejects unknown commands
