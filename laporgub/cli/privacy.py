"""``laporgub privacy erase|export --phone N`` and ``laporgub audit [--since ...]`` (docs/privacy.md).

The erasure, the export and the audit log are laporgub/privacy.py's; the number is read
by the same parser as the website API's (laporgub/tickets.py ``parse_phone``), which here
also takes a landline or foreign number: such a sender's SMS complaint is registered, and
the sender has the same right to an export or an erasure.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import IO

from laporgub import db
from laporgub.clock import SYSTEM, parse_since
from laporgub.config import Config
from laporgub.masking import mask_msisdn
from laporgub.privacy import erase, export, list_audit
from laporgub.tickets import parse_phone


def privacy_main(config: Config, args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Run one of the commands; 0 done, 1 a database failure, 2 bad arguments (one line saying why)."""
    tz = config.tz
    msisdn: str | None = None
    since: float | None = None
    if args.command == "audit":
        if args.since:
            since = parse_since(args.since, SYSTEM.time(), tz)
            if since is None:
                print(f"--since: not a date, time or span (YYYY-MM-DD, ISO time, 30d, 12h): {args.since!r}", file=err)
                return 2
    else:
        try:
            msisdn = parse_phone(args.phone, mobile_only=False)
        except ValueError:
            msisdn = None
        if msisdn is None:
            print(f"--phone: not a subscriber phone number: {args.phone!r} (e.g. +628123456789 or 08123456789)",
                  file=err)
            return 2
    try:
        database = db.open_database(config.service.database, create=False)
    except Exception as exc:  # noqa: BLE001 - reported as one line
        print(f"service.database: cannot open: {type(exc).__name__}: {exc}", file=err)
        return 1
    try:
        with database.connection_context():
            if args.command == "audit":
                entries = list_audit(since)
                for entry in entries:
                    print(entry.line(tz), file=out)
                print(f"{len(entries)} audit entr{'y' if len(entries) == 1 else 'ies'}", file=err)
                return 0
            assert msisdn is not None
            if args.action == "erase":
                result = erase(msisdn, reason=args.reason)
                print(f"erased {mask_msisdn(msisdn)}: {result.tickets} ticket(s) anonymised, {result.inbound} inbound "
                      f"SMS, {result.outbound} outbound SMS, {result.texts} text(s) redacted, {result.pdus} raw "
                      f"PDU(s) erased, {result.hashes} request hash(es) dropped; database {result.purged}", file=out)
                return 0
            data = export(msisdn, tz=tz, reason=args.reason)
            text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
            if args.out:
                try:
                    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                    with os.fdopen(fd, "w", encoding="utf-8") as fh:
                        fh.write(text)
                except OSError as exc:  # the export stays audited: it was produced, not delivered
                    print(f"--out: cannot write {args.out}: {exc.strerror}", file=err)
                    return 1
                print(f"exported {mask_msisdn(msisdn)} to {args.out}: {data['counts']['tickets']} ticket(s), "
                      f"{data['counts']['inbound_sms']} inbound SMS, {data['counts']['outbound_sms']} outbound SMS",
                      file=err)
            else:
                out.write(text)
            return 0
    finally:
        if not database.is_closed():
            database.close()
