"""The one Telegram gateway: a single asyncio loop thread that owns the PTB ``Bot``.

python-telegram-bot is asyncio-only and its HTTP connection pool is bound to
the loop that opened it, so the whole process uses one loop in one thread.
The per-group dispatcher actors hand their sends to it with
``asyncio.run_coroutine_threadsafe`` and wait for the answer with a timeout.
The lifecycle is driven step by step (``initialize``/``shutdown``); nothing
here calls ``run_polling()``, which would take over signal handling.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from dataclasses import dataclass
from typing import Any

import telegram
from telegram.request import HTTPXRequest

from laporgub.config import Secret, TelegramConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Sent:
    """What the Bot API answered for an accepted message."""

    message_id: int
    chat_id: int


class TelegramGateway:
    """Owns the event loop thread and the ``telegram.Bot``.

    Args:
        config: the ``[telegram]`` table.
        token: the bot token (never logged).
    """

    def __init__(self, config: TelegramConfig, token: Secret) -> None:
        self.config = config
        timeout = config.request_timeout_seconds
        request = HTTPXRequest(
            connection_pool_size=64,
            connect_timeout=timeout,
            read_timeout=timeout,
            write_timeout=timeout,
            pool_timeout=timeout,
        )
        base_file_url = config.base_file_url or config.base_url.replace("/bot", "/file/bot", 1)
        self.bot = telegram.Bot(
            token=str(token), base_url=config.base_url, base_file_url=base_file_url, request=request
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="telegram-loop", daemon=True)
        self.username: str | None = None
        self._retry: concurrent.futures.Future[None] | None = None

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def start(self, timeout: float = 10.0) -> None:
        """Start the loop thread and introduce the bot (``getMe``).

        An unreachable Bot API does not stop the service: intake goes on, the
        notifications wait in the outbox, and ``getMe`` is retried in the
        background until it answers.
        """
        self._thread.start()
        try:
            self.call(self.bot.initialize(), timeout=timeout)
        except Exception as exc:
            logger.warning("event=telegram_unreachable base_url=%s error=%s", _safe_url(self.config.base_url), exc)
            self._retry = asyncio.run_coroutine_threadsafe(self._initialize_later(), self._loop)
            return
        self.username = self.bot.username
        logger.info("event=telegram_ready bot=%s", self.username)

    async def _initialize_later(self) -> None:
        delay = 2.0
        while True:
            await asyncio.sleep(delay)
            try:
                await self.bot.initialize()
            except Exception as exc:
                logger.warning("event=telegram_unreachable error=%s retry_seconds=%.0f", exc, delay)
                delay = min(60.0, delay * 2)
                continue
            self.username = self.bot.username
            logger.info("event=telegram_ready bot=%s", self.username)
            return

    def stop(self) -> None:
        """Shut the bot down, then the loop; safe to call twice."""
        if not self._thread.is_alive():
            return
        if self._retry is not None:
            self._retry.cancel()
        try:
            self.call(self.bot.shutdown(), timeout=5)
        except Exception as exc:  # shutting down anyway
            logger.warning("event=telegram_shutdown_error error=%s", exc)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def call(self, coro: Any, timeout: float) -> Any:
        """Run a coroutine on the gateway loop from any other thread and wait for it."""
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise telegram.error.TimedOut(f"no answer within {timeout:.1f} s") from None

    def send_message(self, chat_id: int, text: str, parse_mode: str | None) -> Sent:
        """Send one message; PTB's errors (RetryAfter, TimedOut, ...) propagate to the caller."""
        message = self.call(
            self.bot.send_message(
                chat_id=chat_id,
                text=text,
                parse_mode=parse_mode,
                link_preview_options=telegram.LinkPreviewOptions(is_disabled=True),
            ),
            timeout=self.config.request_timeout_seconds + 2,
        )
        return Sent(message_id=message.message_id, chat_id=message.chat_id)


def _safe_url(url: str) -> str:
    """The Bot API base URL without anything that could be a token."""
    return url.split("/bot", 1)[0] + "/bot..." if "/bot" in url else url
