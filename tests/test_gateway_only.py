"""Only the Telegram gateway talks to the Bot API, so every send passes the shared flood limiter.

A ``retry_after`` Telegram gives one chat must hold back every sender to that chat
(group dispatchers, the responder's answers, the monthly report). That holds only
while nobody reaches past :class:`~laporgub.telegram_gateway.TelegramGateway` to the
PTB ``Bot`` itself; this lint fails when a module does.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "laporgub"
#: The gateway owns the Bot; the emulators are the other side of the wire.
ALLOWED = {ROOT / "telegram_gateway.py"}
EXEMPT_DIRS = {ROOT / "sim"}


def violations(source: str, filename: str = "<src>") -> list[str]:
    """Places in ``source`` that use the PTB Bot or the gateway's raw ``call`` directly."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Attribute) and node.attr in ("bot", "_bot"):
            found.append(f"{filename}:{node.lineno}: .{node.attr} (the PTB Bot) outside the gateway")
        elif isinstance(node, ast.Attribute) and node.attr in ("call", "_request", "_slot"):
            target = node.value
            name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
            if "gateway" in name.lower():
                found.append(f"{filename}:{node.lineno}: gateway.{node.attr} bypasses the limiter's send methods")
        elif isinstance(node, ast.ImportFrom) and node.module in ("telegram", "telegram.ext", "telegram.request"):
            for alias in node.names:
                if alias.name in ("Bot", "Application", "ApplicationBuilder", "HTTPXRequest", "ExtBot"):
                    found.append(f"{filename}:{node.lineno}: imports {node.module}.{alias.name}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "Bot" \
                and getattr(node.func.value, "id", "") == "telegram":
            found.append(f"{filename}:{node.lineno}: builds a telegram.Bot")
    return found


def test_only_the_gateway_calls_the_bot_api() -> None:
    problems = []
    for path in sorted(ROOT.rglob("*.py")):
        if path in ALLOWED or any(d in path.parents for d in EXEMPT_DIRS):
            continue
        problems += violations(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT.parent)))
    assert problems == []


def test_the_lint_catches_a_sender_that_bypasses_the_limiter() -> None:
    # What actors/reporter.py did before: sendDocument around the limiter.
    bypass = "self.gateway.call(self.gateway.bot.send_document(chat_id=1, document=b''), timeout=9)\n"
    assert len(violations(bypass)) == 2
    assert violations("from telegram import Bot\n")
    assert violations("import telegram\nb = telegram.Bot('t')\n")
    assert violations("self.gateway.send_document(1, b'', 'a.pdf')\n") == []
