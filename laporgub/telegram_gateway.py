"""The one Telegram gateway: a single asyncio loop thread that owns the PTB ``Bot``.

Nothing else in the service talks to the Bot API: every message, file, poll and
command list goes through a method here, and every chat message through the
shared flood limiter (``tests/test_gateway_only.py`` fails when another module
reaches for the ``Bot``).

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
import warnings
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import telegram
from telegram.request import HTTPXRequest

from laporgub.config import Secret, TelegramConfig
from laporgub.ratelimit import RateLimiter
from laporgub.render import public_text

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Throttled(Exception):
    """Raised when the shared rate limiter does not allow a message to that chat yet."""

    def __init__(self, chat_id: int | str, retry_in: float) -> None:
        super().__init__(f"chat {chat_id}: flood limit, next slot in {retry_in:.1f} s")
        self.chat_id = chat_id
        self.retry_in = retry_in


def retry_after_seconds(exc: telegram.error.RetryAfter) -> float:
    """``RetryAfter.retry_after`` as seconds (an int in PTB 22, a timedelta later)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


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

    def __init__(self, config: TelegramConfig, token: Secret, limiter: RateLimiter | None = None) -> None:
        self.config = config
        #: Telegram's flood limits, shared by everything that sends through this gateway.
        self.limiter = limiter or RateLimiter()
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

    def call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run a coroutine on the gateway loop from any other thread and wait for it."""
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise telegram.error.TimedOut(f"no answer within {timeout:.1f} s") from None

    def send_message(
        self, chat_id: int, text: str, parse_mode: str | None, *, reply_to_message_id: int | None = None,
        wait: float = 0.0,
    ) -> Sent:
        """Send one message within the flood limits (waiting at most ``wait`` s for a slot).

        Raises:
            Throttled: no slot within ``wait``; nothing was sent.
            telegram.error.TelegramError: as PTB raises them (a ``RetryAfter`` also blocks the chat here).
        """
        # The last line before Telegram: whatever built the text, no number in clear, no control characters.
        text = public_text(text)
        self._slot(chat_id, wait)
        reply = telegram.ReplyParameters(message_id=reply_to_message_id, allow_sending_without_reply=True) \
            if reply_to_message_id else None
        message = self._request(chat_id, self.bot.send_message(
            chat_id=chat_id, text=text, parse_mode=parse_mode, reply_parameters=reply,
            link_preview_options=telegram.LinkPreviewOptions(is_disabled=True),
        ))
        return Sent(message_id=message.message_id, chat_id=message.chat_id)

    def edit_message_text(self, chat_id: int, message_id: int, text: str, parse_mode: str | None, *,
                          wait: float = 0.0) -> None:
        """Rewrite one of the bot's messages (``editMessageText``) within the same flood limits as a send.

        Telegram counts edits against a chat's limits like messages, so an edit takes a slot of
        the shared limiter first.

        Raises:
            Throttled: no slot within ``wait``; nothing was sent.
            telegram.error.TelegramError: as PTB raises them (``BadRequest`` "message is not modified",
                "message to edit not found", ...; a ``RetryAfter`` also blocks the chat here).
        """
        self._slot(chat_id, wait)
        self._request(chat_id, self.bot.edit_message_text(
            chat_id=chat_id, message_id=message_id, text=text, parse_mode=parse_mode,
            link_preview_options=telegram.LinkPreviewOptions(is_disabled=True),
        ))

    def send_document(
        self, chat_id: int, data: bytes, filename: str, *, caption: str | None = None, wait: float = 30.0,
        timeout: float = 90.0,
    ) -> Sent:
        """Send a file (``sendDocument``) within the flood limits, like any message to that chat.

        ``timeout`` bounds the whole upload (a report's PDF to a slow link); the
        write timeout gets most of it.

        Raises:
            Throttled: no slot within ``wait``; nothing was sent.
            telegram.error.TelegramError: as PTB raises them (a ``RetryAfter`` also blocks the chat here).
        """
        caption = public_text(caption) if caption else caption
        self._slot(chat_id, wait)
        message = self._request(chat_id, self.bot.send_document(
            chat_id=chat_id, document=telegram.InputFile(data, filename=filename), caption=caption,
            read_timeout=max(10.0, timeout / 3), write_timeout=max(10.0, timeout * 2 / 3),
            connect_timeout=min(20.0, timeout / 4), pool_timeout=min(20.0, timeout / 4),
        ), timeout=timeout + 5)
        return Sent(message_id=message.message_id, chat_id=message.chat_id)

    def set_my_commands(self, commands: list[telegram.BotCommand]) -> None:
        """Publish the command list (``setMyCommands``); not a chat message, so no flood slot."""
        self.call(self.bot.set_my_commands(commands), timeout=self.config.request_timeout_seconds + 2)

    def start_polling(self, *, offset: int | None, timeout: int, allowed_updates: list[str], bound: float,
                      done: Callable[[asyncio.Task[Any]], object]) -> asyncio.Task[Any]:
        """Start one ``getUpdates`` long poll as a task on the gateway loop; ``done`` gets the finished task.

        Returns at once (within a few seconds): the caller's thread goes back to its inbox while
        the poll waits on Telegram.
        """
        bot = self.bot

        async def start() -> asyncio.Task[Any]:
            task = asyncio.get_running_loop().create_task(asyncio.wait_for(
                bot.get_updates(offset=offset, timeout=timeout, allowed_updates=allowed_updates), bound))
            task.add_done_callback(done)
            return task

        result: asyncio.Task[Any] = self.call(start(), timeout=5.0)
        return result

    def _slot(self, chat_id: int, wait: float) -> None:
        if not self.limiter.acquire(chat_id, timeout=wait):
            raise Throttled(chat_id, self.limiter.delay(chat_id))

    def _request(self, chat_id: int, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        try:
            return self.call(coro, timeout=timeout or self.config.request_timeout_seconds + 2)
        except telegram.error.RetryAfter as exc:
            self.limiter.block(chat_id, retry_after_seconds(exc))
            raise


def _safe_url(url: str) -> str:
    """The Bot API base URL without anything that could be a token."""
    return url.split("/bot", 1)[0] + "/bot..." if "/bot" in url else url
