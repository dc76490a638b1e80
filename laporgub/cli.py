"""The ``laporgub`` command (also ``python -m laporgub``).

Exit codes: 0 success or a clean stop, 1 a startup failure or the supervisor
giving up, 2 a bad configuration (one line per problem, never a traceback).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from laporgub import __version__
from laporgub.config import Config, check_secret_files, load_config, read_token
from laporgub.exceptions import ConfigError, LaporgubError

logger = logging.getLogger("laporgub.cli")

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    from laporgub.config import default_config_path

    parser = argparse.ArgumentParser(prog="laporgub", description="SMS Center LAPOR GUB! of Central Java.")
    parser.add_argument("--version", action="version", version=f"laporgub {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", default=default_config_path(),
                       help="config file (default: $LAPORGUB_CONFIG, then ./config.toml)")
        return p

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
    from laporgub.api.cli import add_parsers as add_api_parsers

    add_api_parsers(sub, with_config)
    from laporgub.dbcopy import add_parser as add_db_parser

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
        return check_config(args.config)
    if args.command == "run":
        return run(args.config)
    if args.command == "pics":
        return pics(args.config)
    if args.command in ("classify", "eval-routing", "suggest-keywords", "eval-incidents"):
        return routing_command(args)
    if args.command == "status":
        return status(args.config, args.metrics_url)
    if args.command == "report":
        config = _load(args.config)
        if config is None:
            return EXIT_CONFIG
        from laporgub.report.cli import report_main

        return report_main(config, args.month, args.out)
    if args.command in ("privacy", "audit"):
        return privacy_command(args)
    if args.command in ("api-key", "webhooks"):
        return api_command(args)
    if args.command == "db":
        from laporgub import dbcopy

        return dbcopy.main(args)
    if args.command == "demo":
        from laporgub.demo import run_demo

        return run_demo(forever=args.forever, metrics_port=args.metrics_port, report=args.report)
    return EXIT_FAILURE  # pragma: no cover - argparse rejects unknown commands


def _load(path: str) -> Config | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return None


def privacy_command(args: argparse.Namespace) -> int:
    """``laporgub privacy erase|export --phone N`` and ``laporgub audit [--since ...]``."""
    from laporgub.privacy import privacy_main

    config = _load(args.config)
    if config is None:
        return EXIT_CONFIG
    return privacy_main(config, args, sys.stdout, sys.stderr)


def api_command(args: argparse.Namespace) -> int:
    """``laporgub api-key ...`` and ``laporgub webhooks ...`` (docs/api.md)."""
    from laporgub.api.cli import api_key_main, webhooks_main

    config = _load(args.config)
    if config is None:
        return EXIT_CONFIG
    main = api_key_main if args.command == "api-key" else webhooks_main
    return main(config, args, sys.stdout, sys.stderr)


def routing_command(args: argparse.Namespace) -> int:
    """``laporgub classify``, ``eval-routing`` and ``suggest-keywords`` with the config's keyword rules."""
    from laporgub import evaluation
    from laporgub.intake import routing_rules

    config = _load(args.config)
    if config is None:
        return EXIT_CONFIG
    rules = routing_rules(config)
    if args.command == "classify":
        status = evaluation.classify_main(rules, args.text, args.sender or evaluation.DEFAULT_SENDER, sys.stdout)
        from laporgub import incidents
        from laporgub.clock import SYSTEM
        from laporgub.routing import Classifier

        incidents.preview_main(config, Classifier(rules), args.text, SYSTEM.time(), sys.stdout)
        return status
    if args.command == "eval-incidents":
        from laporgub.incident_eval import eval_incidents_main

        return eval_incidents_main(config, args.bursts, args.similarity, sys.stdout)
    if args.command == "suggest-keywords":
        from laporgub.clock import SYSTEM

        return evaluation.suggest_keywords_main(rules, config.service.database, args.since, args.corpus, sys.stdout,
                                                now=SYSTEM.time(), tz=config.tz)
    return evaluation.eval_routing_main(rules, args.corpus, args.predictions, sys.stdout)


def status(path: str, metrics_url: str | None) -> int:
    """``laporgub status``: 0 nothing needs attention, 1 something does, 2 a bad configuration."""
    from laporgub.status import status_main

    config = _load(path)
    if config is None:
        return EXIT_CONFIG
    return status_main(config, sys.stdout, metrics_url)


def check_config(path: str) -> int:
    config = _load(path)
    if config is None:
        return EXIT_CONFIG
    problems = database_location_problems(config.service.database) + check_secret_files(config)
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        return EXIT_CONFIG
    print(
        f"{path}: OK ({len(config.modems)} modem(s), {len(config.groups)} groups, "
        f"{sum(len(g.keywords) for g in config.groups.values())} keywords, {len(config.pics)} PIC(s), "
        f"{len(config.leaders)} leader chat(s))"
    )
    return EXIT_OK


def database_location_problems(url: str) -> list[str]:
    """What stops ``laporgub run`` from creating or writing the SQLite file (none for other databases).

    The service creates the file on its first start, but not a missing directory: under systemd
    that is the unit's ``StateDirectory=``, and a typo in the path must not become a new, empty
    database somewhere else.
    """
    from laporgub.db import sqlite_path

    path = sqlite_path(url)
    if path is None:
        return []
    file = Path(path).absolute()
    folder = file.parent
    if file.exists():
        if not file.is_file():
            return [f"service.database: {file} exists and is not a file"]
        if not os.access(file, os.R_OK | os.W_OK):
            return [f"service.database: {file} is not readable and writable by this user ({_user()})"]
        return []
    if not folder.is_dir():
        return [f"service.database: the directory {folder} does not exist (create it, or fix the path; under "
                "systemd the unit's StateDirectory= makes /var/lib/laporgub)"]
    if not os.access(folder, os.W_OK | os.X_OK):
        return [f"service.database: the directory {folder} is not writable by this user ({_user()}), so the "
                "database cannot be created there"]
    return []


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry (containers)
        return f"uid {os.getuid()}"


def pics(path: str) -> int:
    """``laporgub pics``: the PIC registry per group."""
    from laporgub.responses import pics_main

    config = _load(path)
    if config is None:
        return EXIT_CONFIG
    return pics_main(config, sys.stdout)


def run(path: str) -> int:
    """``laporgub run``: the service in the foreground."""
    from laporgub.logsetup import setup_logging

    config = _load(path)
    if config is None:
        return EXIT_CONFIG
    try:
        token = read_token(config.telegram)
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(config.service.log_level, components=dict(config.service.log_levels))
    should_exit = threading.Event()
    reload_requested = threading.Event()
    install_signal_handlers(should_exit, reload_requested)
    return serve(config, token, should_exit, reload_requested)


def serve(config: Config, token: str, should_exit: threading.Event,
          reload_requested: threading.Event | None = None) -> int:
    """Start the service, supervise until ``should_exit``, stop in order."""
    from laporgub.app import Service
    from laporgub.config import Secret
    from laporgub.supervisor import SupervisorGaveUp

    service = Service(config, Secret(token))
    if reload_requested is not None:
        service.reload_requested = reload_requested
    if threading.current_thread() is threading.main_thread():
        from laporgub.faults import install_from_env

        install_from_env(service.directory)  # test-only: inert unless LAPORGUB_FAULT_INJECTION is set
    code = EXIT_OK
    try:
        service.start()
        service.run(should_exit)
    except SupervisorGaveUp as exc:
        logger.critical("event=service_failed reason=%s", exc)
        code = EXIT_FAILURE
    except LaporgubError as exc:
        logger.error("event=startup_failed reason=%s", exc)
        code = EXIT_FAILURE
    except Exception:
        logger.exception("event=service_crashed")
        code = EXIT_FAILURE
    finally:
        service.stop()
    return code


def install_signal_handlers(should_exit: threading.Event, reload_requested: threading.Event | None = None) -> None:
    """Handlers only set flags: SIGTERM/SIGINT stop (a second SIGINT forces it), SIGHUP reloads the config,
    SIGUSR1 dumps thread stacks."""

    def on_exit(signum: int, frame: FrameType | None) -> None:
        if should_exit.is_set() and signum == signal.SIGINT:
            raise SystemExit(EXIT_FAILURE)
        logger.info("event=signal_received signal=%s", signal.Signals(signum).name)
        should_exit.set()

    signal.signal(signal.SIGTERM, on_exit)
    signal.signal(signal.SIGINT, on_exit)
    if reload_requested is not None:
        signal.signal(signal.SIGHUP, lambda signum, frame: reload_requested.set())
    try:
        import pykka.debug

        signal.signal(signal.SIGUSR1, pykka.debug.log_thread_tracebacks)
    except (ImportError, AttributeError, ValueError):
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
