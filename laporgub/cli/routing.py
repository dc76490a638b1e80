"""``laporgub classify``, ``eval-routing``, ``suggest-keywords`` and ``eval-incidents`` with the config's rules.

The scoring and printing live in laporgub/evaluation.py and laporgub/incident_eval.py (offline
tools, not run by the service); here they are wired to the config, plus the last line of
``classify``: the open incident the text would join, read from the service's database.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import peewee

from laporgub import db, evaluation
from laporgub.config import Config
from laporgub.incidents import preview
from laporgub.intake import routing_rules
from laporgub.routing import Classifier


def routing_command(config: Config, args: argparse.Namespace) -> int:
    """Run one of the four commands; the exit code of the evaluation it runs."""
    rules = routing_rules(config)
    if args.command == "classify":
        status = evaluation.classify_main(rules, args.text, args.sender or evaluation.DEFAULT_SENDER, sys.stdout)
        from laporgub.clock import SYSTEM

        preview_main(config, Classifier(rules), args.text, SYSTEM.time(), sys.stdout)
        return status
    if args.command == "eval-incidents":
        from laporgub.incident_eval import eval_incidents_main

        return eval_incidents_main(config, args.bursts, args.similarity, sys.stdout)
    if args.command == "suggest-keywords":
        from laporgub.clock import SYSTEM

        return evaluation.suggest_keywords_main(rules, config.service.database, args.since, args.corpus, sys.stdout,
                                                now=SYSTEM.time(), tz=config.tz)
    return evaluation.eval_routing_main(rules, args.corpus, args.predictions, sys.stdout)


def preview_main(config: Config, classifier: Classifier, text: str, now: float, out: Any) -> None:
    """``laporgub classify``'s last line: the open incident the text would join, from the service's database.

    Reads only: the database is bound without migrating, and a missing SQLite file is reported, not created.
    """
    url = config.service.database
    try:
        if url.startswith("sqlite:///"):
            path = url[len("sqlite:///"):]
            if path and path != ":memory:" and not Path(path).exists():
                print(f"incident:    - (no database file at {path} yet)", file=out)
                return
        db.database.initialize(db.make_database(url))
        with db.database.connection_context():
            if not db.database.table_exists(db.Incident._meta.table_name):
                print("incident:    - (the database predates incidents; it is migrated when the service starts)",
                      file=out)
                return
            print(f"incident:    {preview(config, classifier, text, now)}", file=out)
    except peewee.DatabaseError as exc:
        print(f"incident:    - (database not readable: {type(exc).__name__}: {str(exc).splitlines()[0]})", file=out)
