"""``laporgub api-key create|list|rotate|revoke`` and ``laporgub webhooks replay|status``.

They open the database named by the config (which must exist: only ``laporgub run``
creates it) and work whether the service runs or not: keys are read by the API at
each request, and replayed events are picked up by the running WebhookSender's next poll.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime
from typing import IO

from laporgub import db, webhooks
from laporgub.api import auth
from laporgub.clock import SYSTEM, parse_since
from laporgub.config import Config


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser]) -> None:
    """The ``api-key`` and ``webhooks`` subcommands (called by laporgub/cli/__init__.py's parser)."""
    keys = sub.add_parser("api-key", help="website API keys: create (shown once), list, rotate, revoke")
    key_sub = keys.add_subparsers(dest="key_command", required=True, metavar="ACTION")
    create = with_config(key_sub.add_parser("create", help="create a key; prints it alone on the last line"))
    create.add_argument("--name", required=True, help="who uses it, e.g. website")
    create.add_argument("--scope", action="append", required=True, choices=auth.SCOPES,
                        help="submit, read, read:personal (numbers in clear, audit-logged) or admin; repeatable")
    with_config(key_sub.add_parser("list", help="list keys (id, prefix, name, scopes, created, last used, revoked)"))
    rotate = with_config(key_sub.add_parser(
        "rotate", help="a new key with the same name and scopes; the old one works until revoked"))
    rotate.add_argument("key", help="the key's id or prefix, as `api-key list` shows them")
    revoke = with_config(key_sub.add_parser("revoke", help="revoke one key by its id or prefix"))
    revoke.add_argument("key", help="the key's id or prefix, as `api-key list` shows them (not its name)")

    hooks = sub.add_parser("webhooks", help="the webhook outbox: replay events, show counts")
    hook_sub = hooks.add_subparsers(dest="hook_command", required=True, metavar="ACTION")
    replay = with_config(hook_sub.add_parser("replay", help="queue again the events since a time (same event ids)"))
    replay.add_argument("--since", required=True, help="ISO date or time (2026-11-28, 2026-11-28T10:00+07:00), "
                                                      "or a span such as 12h / 7d")
    replay.add_argument("--endpoint", default=None, help="only this [[api.webhooks]] name")
    with_config(hook_sub.add_parser("status", help="events per status (pending, sending, delivered, dead)"))


def _open(config: Config, err: IO[str], command: str) -> bool:
    try:
        db.open_database(config.service.database, create=False)
    except Exception as exc:  # noqa: BLE001 - one line, no traceback
        print(f"{command}: cannot open the database: {exc}", file=err)
        return False
    return True


def _print_new_key(info: auth.KeyInfo, key: str, out: IO[str]) -> None:
    print(f"Created API key {info.id} ({info.prefix}…) for {info.name!r} with scopes {', '.join(info.scopes)}.",
          file=out)
    print("It is shown only this once; only its SHA-256 is stored. The key:", file=out)
    print(key, file=out)


def api_key_main(config: Config, args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    if not _open(config, err, f"api-key {args.key_command}"):
        return 1
    with db.database.connection_context():
        if args.key_command == "create":
            try:
                with db.database.atomic():
                    info, key = auth.create_key(args.name, list(dict.fromkeys(args.scope)))
            except ValueError as exc:
                print(f"api-key create: {exc}", file=err)
                return 2
            _print_new_key(info, key, out)
            return 0
        if args.key_command == "list":
            rows = auth.list_keys()
            if not rows:
                print("no API keys", file=out)
            for k in rows:
                state = f"revoked {_when(k.revoked_at, config)}" if k.revoked_at else "active"
                print(f"{k.id:>3}  {k.prefix}…  {k.name}  scopes={','.join(k.scopes)}  "
                      f"created {_when(k.created_at, config)}  last used {_when(k.last_used_at, config)}  {state}",
                      file=out)
            return 0
        if args.key_command == "rotate":
            with db.database.atomic():
                made = auth.rotate(args.key)
            if made is None:
                print(f"api-key rotate: {_no_key(args.key, config)}", file=err)
                return 1
            info, key = made
            _print_new_key(info, key, out)
            print(f"The old key keeps working until `laporgub api-key revoke {args.key.strip()}`.", file=err)
            return 0
        with db.database.atomic():
            revoked = auth.revoke(args.key)
        if revoked is None:
            print(f"api-key revoke: {_no_key(args.key, config)}", file=err)
            return 1
        print(f"revoked key {revoked.id} ({revoked.prefix}…, {revoked.name})", file=out)
        return 0


def _no_key(ref: str, config: Config) -> str:
    """Why ``ref`` names no active key, with the keys it might have meant."""
    found = auth.find_key(ref)
    if found is not None:
        return f"key {found.id} ({found.prefix}…) was already revoked {_when(found.revoked_at, config)}"
    named = [k for k in auth.keys_named(ref.strip()) if k.revoked_at is None]
    if named:
        ids = ", ".join(f"{k.id} ({k.prefix}…)" for k in named)
        return f"{ref!r} is a name, not a key; give the id or prefix of the key: {ids}"
    return f"no key with id or prefix {ref!r} (`laporgub api-key list` shows them)"


def webhooks_main(config: Config, args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    names = [h.name for h in config.api.webhooks]
    if args.hook_command == "replay":
        if args.endpoint is not None and args.endpoint not in names:
            print(f"webhooks replay: no [[api.webhooks]] named {args.endpoint!r} (configured: "
                  f"{', '.join(names) or 'none'})", file=err)
            return 2
        parsed = parse_since(args.since, SYSTEM.time(), config.tz)
        if parsed is None:
            print(f"webhooks replay: --since {args.since!r} is not an ISO date/time or a span like 12h", file=err)
            return 2
        since = parsed
    if not _open(config, err, f"webhooks {args.hook_command}"):
        return 1
    with db.database.connection_context():
        if args.hook_command == "status":
            counts = webhooks.counts()
            for status in ("pending", "sending", "delivered", "dead"):
                print(f"{status}: {counts.get(status, 0)}", file=out)
            return 0
        with db.database.atomic():
            n = webhooks.replay(since, args.endpoint)
    print(f"queued again: {n} event deliveries since {_when(since, config)}"
          + (f" for {args.endpoint}" if args.endpoint else ""), file=out)
    return 0


def _when(epoch: float | None, config: Config) -> str:
    if epoch is None:
        return "never"
    return datetime.fromtimestamp(epoch, config.tz).isoformat(timespec="seconds")
