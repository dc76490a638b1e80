"""A local Telegram Bot API stand-in (standard library only).

It speaks the real Bot API over HTTP/1.1 keep-alive on 127.0.0.1, so
python-telegram-bot reaches it through ``base_url`` exactly as it reaches
``api.telegram.org``.  It is meant to be *no kinder than Telegram*:

* the HTML parse mode is validated with the rules of Telegram's parser (tdlib
  ``parse_html``) and the same error texts; it is stricter in two places: a
  bare ``&`` that does not start ``&lt; &gt; &amp; &quot; &#N; &#xN;`` is
  rejected, and entities need their ``;`` (Telegram keeps a bare ``&``
  literally);
* text length is counted in UTF-16 code units after entity parsing
  (Telegram counts code points, so this is stricter for emoji);
* flood limits are sliding windows (per group, per private chat, global);
  a client that retries before the ``retry_after`` it was told is counted in
  :attr:`BotApiServer.early_retries` and refused again;
* getUpdates has Telegram's offset/limit/timeout/allowed_updates semantics,
  and a newer concurrent getUpdates terminates the older one with 409;
* groups obey privacy mode: a pushed group message reaches the bot only when
  it is a command meant for it or a reply to one of its messages.

Fault injection (:meth:`fail_next`, :meth:`set_delay`,
:meth:`drop_connections`, :meth:`set_down`) lets tests drive the error paths.

Run it alone with ``python -m laporgub.sim.botapi --port 8081``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import re
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = [
    "BotApiServer",
    "EXAMPLE_TOKEN",
    "HtmlParseError",
    "RequestRecord",
    "SentMessage",
    "parse_html",
    "utf16_len",
]

#: A token of the right shape (``<bot id>:<secret>``), for demos and tests.
EXAMPLE_TOKEN = "7000000001:AAE-laporgub-sim-token-0123456789ab"

_TOKEN_RE = re.compile(r"\d{1,20}:[A-Za-z0-9_-]{1,100}")
_MAX_TEXT = 4096
_MAX_CAPTION = 1024
_MAX_UPLOAD = 50 * 1024 * 1024
_MAX_BODY = _MAX_UPLOAD + 1024 * 1024
_SUPERGROUP_MIN = -1_000_000_000_000  # chat ids <= this are supergroups/channels ("-100...")

_EMPTY_PARAMS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class SentMessage:
    """One message the bot got accepted (sent, or edited: ``method`` tells)."""

    message_id: int
    chat_id: int | str
    text: str | None  # as sent (raw: HTML tags/entities still in it when parse_mode is HTML)
    parse_mode: str | None
    date: int
    reply_to_message_id: int | None
    method: str  # "sendMessage" | "sendDocument" | "sendPhoto" | "editMessageText" | ...
    document_name: str | None = None
    document: bytes | None = None
    caption: str | None = None
    params: Mapping[str, str] = field(default_factory=lambda: _EMPTY_PARAMS, hash=False)  # raw form fields (read-only)
    received_monotonic: float = 0.0
    plain_text: str | None = None  # text (or caption) as Telegram shows it: tags removed, unescaped, stripped


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One HTTP request to the Bot API; ``status`` 0 = connection dropped without an answer."""

    method: str
    chat_id: int | str | None
    status: int
    monotonic: float
    retry_after: int | None


# --------------------------------------------------------------------------- HTML (tdlib rules)


class HtmlParseError(ValueError):
    """Telegram's "can't parse entities" error; ``str(exc)`` is the part after the colon."""


_ALLOWED_TAGS = {
    "a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins",
    "tg-spoiler", "tg-emoji", "span", "pre", "code", "blockquote",
}
_TAG_TYPES = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "u": "underline", "ins": "underline", "tg-spoiler": "spoiler", "span": "spoiler",
    "code": "code", "pre": "pre", "blockquote": "blockquote", "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(?:#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,7})|([A-Za-z]+));")
_SPACES = " \t\r\n\f\v"


def utf16_len(s: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's offsets and limits."""
    return len(s.encode("utf-16-le")) // 2


def _decode_entity(text: str, i: int) -> tuple[str, int] | None:
    m = _ENTITY_RE.match(text, i)
    if not m:
        return None
    if m.group(3) is not None:
        ch = _NAMED_ENTITIES.get(m.group(3))
        if ch is None:
            return None
        return ch, m.end()
    code = int(m.group(1), 10) if m.group(1) is not None else int(m.group(2), 16)
    if code == 0 or code >= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code), m.end()


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML into (plain text, entities with UTF-16 offsets).

    Raises :class:`HtmlParseError` with Telegram's wording (the part after
    ``can't parse entities: ``).  The plain text is not stripped here.
    """

    def byte_off(pos: int) -> int:
        return len(text[:pos].encode("utf-8"))

    out: list[str] = []
    utf16 = 0
    stack: list[tuple[str, int, dict[str, str]]] = []  # (tag, utf16 start, attributes)
    entities: list[dict[str, Any]] = []
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        if c == "&":
            dec = _decode_entity(text, i)
            if dec is None:
                raise HtmlParseError(
                    f'Unescaped "&" at byte offset {byte_off(i)}: use &amp; or a supported entity'
                )
            ch, i = dec
            out.append(ch)
            utf16 += utf16_len(ch)
            continue
        if c != "<":
            out.append(c)
            utf16 += 2 if ord(c) > 0xFFFF else 1
            i += 1
            continue
        begin = i
        i += 1
        if i < n and text[i] == "/":  # end tag
            if not stack:
                raise HtmlParseError(f"Unexpected end tag at byte offset {byte_off(begin)}")
            i += 1
            name_start = i
            while i < n and text[i] not in _SPACES and text[i] != ">":
                i += 1
            end_name = text[name_start:i]
            while i < n and text[i] in _SPACES:
                i += 1
            if i >= n or text[i] != ">":
                raise HtmlParseError(f"Unclosed end tag at byte offset {byte_off(begin)}")
            i += 1
            tag, start, attrs = stack.pop()
            if end_name and end_name != tag:
                raise HtmlParseError(
                    f'Unmatched end tag at byte offset {byte_off(begin)}, expected "</{tag}>", '
                    f'found "</{end_name}>"'
                )
            length = utf16 - start
            if length > 0:
                ent: dict[str, Any] = {"type": _TAG_TYPES.get(tag, "bold"), "offset": start, "length": length}
                if tag == "a":
                    url = attrs.get("href", "") or _utf16_slice("".join(out), start, length)
                    uid = url[len("tg://user?id="):] if url.startswith("tg://user?id=") else ""
                    if uid.isdigit():
                        ent["type"] = "text_mention"
                        ent["user"] = {"id": int(uid), "is_bot": False, "first_name": "User"}
                    else:
                        ent["type"] = "text_link"
                        ent["url"] = url
                elif tag == "tg-emoji":
                    ent["custom_emoji_id"] = attrs.get("emoji-id", "")
                elif tag == "pre" and attrs.get("language"):
                    ent["language"] = attrs["language"]
                elif tag == "blockquote" and "expandable" in attrs:
                    ent["type"] = "expandable_blockquote"
                elif tag == "code" and stack and stack[-1][0] == "pre":
                    # <pre><code class="language-x"> is one pre entity (with a language)
                    if attrs.get("language"):
                        stack[-1][2]["language"] = attrs["language"]
                    ent = {}
                if ent:
                    entities.append(ent)
            continue
        # start tag
        name_start = i
        while i < n and text[i] not in _SPACES and text[i] != ">":
            i += 1
        if i >= n:
            raise HtmlParseError(f"Unclosed start tag at byte offset {byte_off(begin)}")
        tag = text[name_start:i].lower()
        if tag not in _ALLOWED_TAGS:
            raise HtmlParseError(f'Unsupported start tag "{tag}" at byte offset {byte_off(begin)}')
        attrs = {}
        while True:
            while i < n and text[i] in _SPACES:
                i += 1
            if i >= n:
                raise HtmlParseError(f"Unclosed start tag at byte offset {byte_off(begin)}")
            if text[i] == ">":
                i += 1
                break
            a_start = i
            while i < n and text[i] not in _SPACES and text[i] not in "=>":
                i += 1
            attr_name = text[a_start:i].lower()
            if not attr_name:
                raise HtmlParseError(f'Empty attribute name in the tag "{tag}" at byte offset {byte_off(begin)}')
            while i < n and text[i] in _SPACES:
                i += 1
            if i < n and text[i] != "=" and tag == "blockquote" and attr_name == "expandable":
                attrs["expandable"] = ""
                continue
            if i >= n or text[i] != "=":
                raise HtmlParseError(
                    f'Expected equal sign in declaration of an attribute of the tag "{tag}" '
                    f"at byte offset {byte_off(begin)}"
                )
            i += 1
            while i < n and text[i] in _SPACES:
                i += 1
            if i >= n:
                raise HtmlParseError(f"Unclosed start tag at byte offset {byte_off(begin)}")
            if text[i] not in "'\"":
                v_start = i
                while i < n and (text[i].isascii() and (text[i].isalnum() or text[i] in ".-")):
                    i += 1
                value = text[v_start:i].lower()
                if i < n and text[i] not in _SPACES and text[i] != ">":
                    raise HtmlParseError(f"Unexpected end of name token at byte offset {byte_off(v_start)}")
            else:
                quote = text[i]
                i += 1
                buf: list[str] = []
                while i < n and text[i] != quote:
                    if text[i] == "&":
                        dec = _decode_entity(text, i)
                        if dec is None:
                            raise HtmlParseError(
                                f'Unescaped "&" at byte offset {byte_off(i)}: use &amp; or a supported entity'
                            )
                        buf.append(dec[0])
                        i = dec[1]
                        continue
                    buf.append(text[i])
                    i += 1
                if i >= n:
                    raise HtmlParseError(f"Unclosed start tag at byte offset {byte_off(begin)}")
                i += 1
                value = "".join(buf)
            if tag == "a" and attr_name == "href":
                attrs["href"] = value
            elif tag in ("code", "pre") and attr_name == "class" and value.startswith("language-"):
                attrs["language"] = value[len("language-"):]
            elif tag == "span" and attr_name == "class":
                attrs["class"] = value
            elif tag == "tg-emoji" and attr_name == "emoji-id":
                attrs["emoji-id"] = value
        if tag == "span" and attrs.get("class") != "tg-spoiler":
            raise HtmlParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {byte_off(begin)}')
        if tag == "tg-emoji" and not attrs.get("emoji-id", "").isdigit():
            raise HtmlParseError(f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {byte_off(begin)}')
        stack.append((tag, utf16, attrs))
    if stack:
        raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _strip_with_entities(plain: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Telegram trims leading/trailing whitespace; shift and clip the entities accordingly."""
    stripped = plain.strip()
    if stripped == plain:
        return plain, entities
    lead = utf16_len(plain[: len(plain) - len(plain.lstrip())])
    total = utf16_len(stripped)
    fixed = []
    for e in entities:
        start = max(0, e["offset"] - lead)
        end = min(total, e["offset"] + e["length"] - lead)
        if end > start:
            fixed.append({**e, "offset": start, "length": end - start})
    return stripped, fixed


# --------------------------------------------------------------------------- internals


class _ApiError(Exception):
    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


@dataclass(slots=True)
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    drop: bool = False
    close: bool = False


@dataclass(slots=True)
class _Fault:
    method: str  # canonical name, or "*"
    status: int
    times: int
    retry_after: int | None
    description: str | None


@dataclass(slots=True)
class _Drop:
    method: str
    times: int
    after_accept: bool


@dataclass(slots=True)
class _Upload:
    filename: str
    content: bytes
    content_type: str


_METHOD_NAMES = [
    "getMe", "logOut", "close", "getUpdates", "setWebhook", "deleteWebhook", "getWebhookInfo",
    "sendMessage", "sendDocument", "sendPhoto", "forwardMessage", "copyMessage", "editMessageText",
    "deleteMessage", "getChat", "sendChatAction", "answerCallbackQuery", "setMyCommands",
    "getMyCommands", "deleteMyCommands", "getFile",
]
_METHODS = {m.lower(): m for m in _METHOD_NAMES}
_LIMITED = {  # the methods that call _check_flood and appear in ``messages``
    "sendMessage", "sendDocument", "sendPhoto", "editMessageText", "copyMessage", "forwardMessage"}
_DEFAULT_UPDATE_TYPES = {
    "message", "edited_message", "channel_post", "edited_channel_post", "business_connection",
    "business_message", "edited_business_message", "deleted_business_messages", "inline_query",
    "chosen_inline_result", "callback_query", "shipping_query", "pre_checkout_query",
    "purchased_paid_media", "poll", "poll_answer", "my_chat_member", "chat_join_request",
    "chat_boost", "removed_chat_boost",
}
_ALL_UPDATE_TYPES = _DEFAULT_UPDATE_TYPES | {"chat_member", "message_reaction", "message_reaction_count"}

_NGINX_PAGES = {
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
    413: "Request Entity Too Large",
}


def _nginx_page(status: int) -> bytes:
    title = f"{status} {_NGINX_PAGES.get(status, 'Error')}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
        "<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n"
    ).encode()


_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
}


def _json_reply(status: int, payload: dict[str, Any]) -> _Reply:
    return _Reply(status, json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _error_reply(err: _ApiError) -> _Reply:
    payload: dict[str, Any] = {"ok": False, "error_code": err.status, "description": err.description}
    if err.parameters:
        payload["parameters"] = err.parameters
    return _json_reply(err.status, payload)


def _form_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def _parse_bool(v: str | None) -> bool:
    return v is not None and v.strip().lower() in ("true", "1", "yes", "on")


def _lenient_chat_id(raw: str | None) -> int | str | None:
    if raw is None:
        return None
    s = raw.strip()
    if re.fullmatch(r"-?\d{1,20}", s):
        return int(s)
    return s or None


def _parse_chat_id(raw: str | None, name: str = "chat_id") -> int | str:
    if raw is None or not raw.strip():
        raise _ApiError(400, f"Bad Request: {name} is empty")
    s = raw.strip()
    if re.fullmatch(r"-?\d{1,20}", s):
        return int(s)
    if re.fullmatch(r"@[A-Za-z][A-Za-z0-9_]{3,31}", s):
        return s
    raise _ApiError(400, "Bad Request: chat not found")


def _parse_int(raw: str | None, name: str) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        return int(raw.strip())
    except ValueError:
        raise _ApiError(400, f"Bad Request: invalid {name} specified") from None


def _parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, str], dict[str, _Upload]]:
    m = re.search(r'boundary=(?:"([^"]+)"|([^;\s]+))', content_type, re.I)
    if not m:
        raise _ApiError(400, "Bad Request: can't parse multipart/form-data: no boundary")
    boundary = (m.group(1) or m.group(2)).encode("latin-1")
    delim = b"--" + boundary
    fields: dict[str, str] = {}
    files: dict[str, _Upload] = {}
    parts = body.split(delim)
    if len(parts) < 2:
        raise _ApiError(400, "Bad Request: can't parse multipart/form-data")
    for part in parts[1:]:
        if part.startswith(b"--"):
            break  # closing delimiter
        if part.startswith(b"\r\n"):
            part = part[2:]
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            raise _ApiError(400, "Bad Request: can't parse multipart/form-data")
        if content.endswith(b"\r\n"):
            content = content[:-2]
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        disp = headers.get("content-disposition", "")
        nm = re.search(r'(?:^|;)\s*name="((?:[^"\\]|\\.)*)"', disp)
        if not nm:
            continue
        name = nm.group(1)
        fn = re.search(r'(?:^|;)\s*filename="((?:[^"\\]|\\.)*)"', disp)
        fn_star = re.search(r"(?:^|;)\s*filename\*=([^']*)'[^']*'([^;]+)", disp)
        if fn or fn_star:
            if fn_star:
                filename = unquote(fn_star.group(2), encoding=fn_star.group(1) or "utf-8")
            elif fn:
                filename = unquote(fn.group(1).replace('\\"', '"').replace("\\\\", "\\"))
            files[name] = _Upload(filename, content, headers.get("content-type", "application/octet-stream"))
        else:
            fields[name] = content.decode("utf-8", "replace")
    return fields, files


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: BotApiServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, OSError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx/1.18.0"
    sys_version = ""
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.owner._register_conn(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._unregister_conn(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    def _read_body(self) -> bytes | None:
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("eof in chunked body")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > _MAX_BODY:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            return None
        data = self.rfile.read(length) if length else b""
        if len(data) < length:
            raise ConnectionError("eof in body")
        return data

    def _dispatch(self) -> None:
        owner = self.server.owner
        body = self._read_body()
        if body is None:
            reply = _Reply(413, _nginx_page(413), "text/html", close=True)
        else:
            try:
                reply = owner._handle(self.path, self.headers, body)
            except Exception as exc:  # a bug in the stand-in must not look like a network fault
                reply = _json_reply(500, {"ok": False, "error_code": 500,
                                          "description": f"Internal Server Error: stand-in bug: {exc!r}"})
        if reply.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        if reply.close or owner._is_stopping():
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Connection", "keep-alive")
        self.end_headers()
        self.wfile.write(reply.body)


# --------------------------------------------------------------------------- the server


class BotApiServer:
    """Telegram Bot API stand-in on 127.0.0.1; see the module docstring."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        bot_username: str = "laporgub_bot",
        enforce_limits: bool = False,
        group_per_minute: int = 20,
        private_per_second: float = 1.0,
        global_per_second: int = 30,
        known_chats: Iterable[int | str] | None = None,
        forbidden_chats: Iterable[int | str] = (),
        validate_html: bool = True,
        group_window_seconds: float = 60.0,
        private_window_seconds: float = 1.0,
        global_window_seconds: float = 1.0,
        privacy_mode: bool = True,
        chat_types: Mapping[int, str] | None = None,
        migrated_chats: Mapping[int, int] | None = None,
    ) -> None:
        if token is not None and not _TOKEN_RE.fullmatch(token):
            raise ValueError(f"token {token!r} is not shaped like a Bot API token (<digits>:<secret>)")
        self._host = host
        self._port = port
        self._token = token
        self._bot_username = bot_username
        self._bot_id = int(token.split(":", 1)[0]) if token else int(EXAMPLE_TOKEN.split(":", 1)[0])
        self._enforce = enforce_limits
        self._group_limit = max(1, int(group_per_minute))
        self._group_window = float(group_window_seconds)
        self._private_window = float(private_window_seconds)
        self._private_limit = max(1, int(round(private_per_second * private_window_seconds)))
        self._global_limit = max(1, int(global_per_second))
        self._global_window = float(global_window_seconds)
        self._known = None if known_chats is None else {_lenient_chat_id(str(c)) for c in known_chats}
        self._forbidden = {_lenient_chat_id(str(c)) for c in forbidden_chats}
        self._validate_html = validate_html
        self._privacy = privacy_mode
        self._chat_types = dict(chat_types or {})
        self._migrated = dict(migrated_chats or {})

        self._cond = threading.Condition(threading.RLock())
        self._stop_event = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._conns: set[socket.socket] = set()
        self._conns_accepted = 0
        self._polls_waiting = 0

        self._messages: list[SentMessage] = []
        self._requests: list[RequestRecord] = []
        self._chat_msgs: dict[int, dict[int, dict[str, Any]]] = {}
        self._next_msg_id: dict[int, int] = {}
        self._usernames: dict[str, int] = {}
        self._files: dict[str, tuple[str, bytes, str, str]] = {}  # file_id -> (name, bytes, mime, path)
        self._file_paths: dict[str, str] = {}  # file_path -> file_id
        self._updates: deque[dict[str, Any]] = deque()
        self._update_ids = itertools.count(100_000_001)
        self._allowed_updates: set[str] = set(_DEFAULT_UPDATE_TYPES)
        self._poll_generation = 0
        self._webhook_url = ""
        self._commands: dict[tuple[str, str], list[dict[str, str]]] = {}

        self._faults: list[_Fault] = []
        self._drops: list[_Drop] = []
        self._delay = 0.0
        self._down = False
        self._chat_windows: dict[int | str, deque[float]] = {}
        self._global_window_q: deque[float] = deque()
        self._retry_deadline: dict[int | str, float] = {}
        self._early_retries = 0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> BotApiServer:
        with self._cond:
            if self._httpd is not None:
                return self
            httpd = _HTTPServer((self._host, self._port), _Handler)
            httpd.owner = self
            self._httpd = httpd
            self._stopping = False
            self._stop_event.clear()
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"botapi-{httpd.server_address[1]}", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            httpd = self._httpd
            if httpd is None or self._stopping:
                return
            self._stopping = True
            self._cond.notify_all()
        self._stop_event.set()
        httpd.shutdown()
        with self._cond:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._cond:
            self._httpd = None
            self._thread = None

    def __enter__(self) -> BotApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _is_stopping(self) -> bool:
        return self._stopping

    def _register_conn(self, conn: socket.socket) -> None:
        with self._cond:
            self._conns.add(conn)
            self._conns_accepted += 1

    def _unregister_conn(self, conn: socket.socket) -> None:
        with self._cond:
            self._conns.discard(conn)

    # ------------------------------------------------------------------ public read API
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("BotApiServer is not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://{self._host}:{self.port}/file/bot"

    @property
    def messages(self) -> list[SentMessage]:
        with self._cond:
            return list(self._messages)

    def messages_for(self, chat_id: int | str) -> list[SentMessage]:
        want = _lenient_chat_id(str(chat_id))
        with self._cond:
            return [m for m in self._messages if m.chat_id == want]

    def wait_for(self, predicate: Callable[[list[SentMessage]], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if predicate(list(self._messages)):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request answered (or dropped) so far, in arrival order (``monotonic`` = arrival)."""
        with self._cond:
            return sorted(self._requests, key=lambda r: r.monotonic)

    @property
    def early_retries(self) -> int:
        with self._cond:
            return self._early_retries

    @property
    def commands(self) -> list[dict]:
        with self._cond:
            return [dict(c) for c in self._commands.get(("default", ""), [])]

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted so far (a keep-alive client reuses one)."""
        with self._cond:
            return self._conns_accepted

    @property
    def polls_waiting(self) -> int:
        """getUpdates requests currently long-polling."""
        with self._cond:
            return self._polls_waiting

    @property
    def pending_updates(self) -> int:
        """Updates not yet acknowledged by a getUpdates offset."""
        with self._cond:
            return len(self._updates)

    # ------------------------------------------------------------------ fault injection
    def fail_next(self, method: str = "*", *, status: int = 500, times: int = 1,
                  retry_after: int | None = None, description: str | None = None) -> None:
        """Answer the next ``times`` calls of ``method`` with an error.

        ``"*"`` matches every method except getUpdates (name it explicitly to
        fail the poll), so a running poller cannot eat a fault meant for a send.
        """
        canon = "*" if method == "*" else _METHODS.get(method.lower(), method)
        if status == 429 and retry_after is None:
            retry_after = 1
        with self._cond:
            self._faults.append(_Fault(canon, int(status), int(times), retry_after, description))

    def set_delay(self, seconds: float) -> None:
        """Answer every request (but getUpdates) ``seconds`` late; the request takes effect first."""
        with self._cond:
            self._delay = max(0.0, float(seconds))

    def drop_connections(self, times: int = 1, *, method: str = "*", after_accept: bool = False) -> None:
        """Close the socket without answering for the next ``times`` requests of ``method``.

        With ``after_accept`` the request is processed first (a message is
        stored, as when Telegram delivered it but the answer got lost).
        """
        canon = "*" if method == "*" else _METHODS.get(method.lower(), method)
        with self._cond:
            self._drops.append(_Drop(canon, int(times), after_accept))

    def set_down(self, down: bool) -> None:
        """While down, every request gets nginx's HTML 502 Bad Gateway."""
        with self._cond:
            self._down = bool(down)
            self._cond.notify_all()

    # ------------------------------------------------------------------ updates
    def push_message(self, *, chat_id: int, user_id: int, text: str, reply_to_message_id: int | None = None,
                     first_name: str = "PIC", username: str | None = None,
                     chat_type: str = "supergroup") -> int:
        """A user writes ``text`` into ``chat_id``; returns the update_id, or 0 if privacy mode hides it.

        In a group (``chat_type`` group/supergroup) with privacy mode on, the
        bot receives only commands meant for it (``/cmd@bot``, or ``/cmd`` once
        the bot has posted in that group) and replies to its own messages.
        """
        with self._cond:
            if chat_type != "private":
                self._chat_types.setdefault(int(chat_id), chat_type)
            msg_id = self._alloc_msg_id(int(chat_id))
            sender: dict[str, Any] = {"id": int(user_id), "is_bot": False, "first_name": first_name}
            if username:
                sender["username"] = username
            msg: dict[str, Any] = {
                "message_id": msg_id,
                "from": sender,
                "chat": self._chat_obj(int(chat_id), chat_type, user=sender),
                "date": int(time.time()),
                "text": text,
            }
            entities = self._detect_entities(text)
            if entities:
                msg["entities"] = entities
            replied = None
            if reply_to_message_id is not None:
                replied = self._chat_msgs.get(int(chat_id), {}).get(int(reply_to_message_id))
                if replied is not None:
                    msg["reply_to_message"] = {k: v for k, v in replied.items() if k != "reply_to_message"}
            self._chat_msgs.setdefault(int(chat_id), {})[msg_id] = msg
            if chat_type in ("group", "supergroup") and self._privacy:
                if not self._privacy_allows(int(chat_id), text, entities, replied):
                    return 0
            update_id = next(self._update_ids)
            self._updates.append({"update_id": update_id, "message": msg})
            self._cond.notify_all()
            return update_id

    def _privacy_allows(self, chat_id: int, text: str, entities: list[dict[str, Any]],
                        replied: dict[str, Any] | None) -> bool:
        if replied is not None and replied.get("from", {}).get("id") == self._bot_id:
            return True
        bot_posted = any(m.get("from", {}).get("id") == self._bot_id for m in self._chat_msgs.get(chat_id, {}).values())
        for e in entities:
            if e["type"] != "bot_command":
                continue
            cmd = _utf16_slice(text, e["offset"], e["length"])
            _, at, target = cmd.partition("@")
            if at and target.lower() == self._bot_username.lower():
                return True
            if not at and bot_posted:
                return True
        return False

    @staticmethod
    def _detect_entities(text: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for m in re.finditer(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])", text):
            out.append({"type": "bot_command", "offset": utf16_len(text[: m.start()]),
                        "length": utf16_len(m.group(0))})
        for m in re.finditer(r"(?<![\w@])@[A-Za-z][A-Za-z0-9_]{3,31}\b", text):
            if m.start() > 0 and text[m.start() - 1] == "/":
                continue
            if any(e["offset"] <= utf16_len(text[: m.start()]) < e["offset"] + e["length"] for e in out):
                continue
            out.append({"type": "mention", "offset": utf16_len(text[: m.start()]), "length": utf16_len(m.group(0))})
        out.sort(key=lambda e: e["offset"])
        return out

    # ------------------------------------------------------------------ helpers (call with lock held)
    def _resolve_chat(self, chat: int | str) -> int:
        if isinstance(chat, int):
            return chat
        key = chat.lower()
        if key not in self._usernames:
            self._usernames[key] = -1_009_000_000_000 - len(self._usernames)
        return self._usernames[key]

    def _chat_type(self, chat_id: int) -> str:
        if chat_id in self._chat_types:
            return self._chat_types[chat_id]
        if chat_id > 0:
            return "private"
        return "supergroup" if chat_id <= _SUPERGROUP_MIN else "group"

    def _chat_obj(self, chat_id: int, chat_type: str | None = None, user: dict[str, Any] | None = None,
                  username: str | None = None) -> dict[str, Any]:
        ctype = chat_type or self._chat_type(chat_id)
        obj: dict[str, Any] = {"id": chat_id, "type": ctype}
        if ctype == "private":
            obj["first_name"] = (user or {}).get("first_name", f"User {chat_id}")
            if user and user.get("username"):
                obj["username"] = user["username"]
        else:
            obj["title"] = f"Chat {chat_id}"
            if username:
                obj["username"] = username.lstrip("@")
        return obj

    def _alloc_msg_id(self, chat_id: int) -> int:
        nxt = self._next_msg_id.get(chat_id, 1)
        self._next_msg_id[chat_id] = nxt + 1
        return nxt

    def _check_chat(self, chat: int | str) -> None:
        key = chat.lower() if isinstance(chat, str) else chat
        if isinstance(chat, int) and chat in self._migrated:
            raise _ApiError(400, "Bad Request: group chat was upgraded to a supergroup chat",
                            {"migrate_to_chat_id": self._migrated[chat]})
        known = self._known
        known_keys = {k.lower() if isinstance(k, str) else k for k in known} if known is not None else set()
        if known is not None and chat not in known and key not in known_keys:
            raise _ApiError(400, "Bad Request: chat not found")
        if chat in self._forbidden or key in self._forbidden:
            ctype = self._chat_type(self._resolve_chat(chat))
            desc = {
                "private": "Forbidden: bot was blocked by the user",
                "group": "Forbidden: bot was kicked from the group chat",
                "channel": "Forbidden: bot is not a member of the channel chat",
            }.get(ctype, "Forbidden: bot was kicked from the supergroup chat")
            raise _ApiError(403, desc)

    @staticmethod
    def _flood_key(chat: int | str) -> int | str:
        return chat.lower() if isinstance(chat, str) else chat

    def _check_flood(self, chat: int | str, now: float) -> None:
        """Raise 429 when ``chat`` may not get a message now; else count it in the windows."""
        key = self._flood_key(chat)
        admit = now
        deadline = self._retry_deadline.get(key)
        early = deadline is not None and now < deadline
        if early:
            self._early_retries += 1
            admit = deadline  # type: ignore[assignment]
        win = self._chat_windows.setdefault(key, deque())
        if self._enforce:
            is_group = isinstance(chat, str) or chat < 0
            limit, length = (self._group_limit, self._group_window) if is_group else (
                self._private_limit, self._private_window)
            while win and win[0] <= now - length:
                win.popleft()
            g = self._global_window_q
            while g and g[0] <= now - self._global_window:
                g.popleft()
            if len(win) >= limit:
                admit = max(admit, win[-limit] + length)
            if len(g) >= self._global_limit:
                admit = max(admit, g[-self._global_limit] + self._global_window)
        if admit > now:
            n = max(1, math.ceil(admit - now - 1e-9))
            self._retry_deadline[key] = max(deadline or 0.0, now + n)
            raise _ApiError(429, f"Too Many Requests: retry after {n}", {"retry_after": n})
        if self._enforce:
            win.append(now)
            self._global_window_q.append(now)

    def _format_text(self, text: str | None, parse_mode: str | None, *, caption: bool = False
                     ) -> tuple[str, list[dict[str, Any]]]:
        raw = text or ""
        mode = (parse_mode or "").strip().lower()
        if mode == "html" and self._validate_html:
            try:
                plain, entities = parse_html(raw)
            except HtmlParseError as exc:
                raise _ApiError(400, f"Bad Request: can't parse entities: {exc}") from None
        elif mode in ("", "html", "markdown", "markdownv2"):
            plain, entities = raw, []
        else:
            raise _ApiError(400, "Bad Request: unsupported parse_mode")
        plain, entities = _strip_with_entities(plain, entities)
        if caption:
            if utf16_len(plain) > _MAX_CAPTION:
                raise _ApiError(400, "Bad Request: message caption is too long")
        else:
            if not plain:
                raise _ApiError(400, "Bad Request: message text is empty")
            if utf16_len(plain) > _MAX_TEXT:
                raise _ApiError(400, "Bad Request: message is too long")
        return plain, entities

    def _bot_user(self) -> dict[str, Any]:
        return {"id": self._bot_id, "is_bot": True, "first_name": "LaporGub", "username": self._bot_username}

    def _reply_target(self, params: dict[str, str], chat_id: int) -> tuple[int | None, dict[str, Any] | None]:
        reply_id: int | None = None
        allow_without = _parse_bool(params.get("allow_sending_without_reply"))
        reply_chat = chat_id
        if params.get("reply_parameters"):
            try:
                rp = json.loads(params["reply_parameters"])
                if not isinstance(rp, dict):
                    raise ValueError
            except ValueError:
                raise _ApiError(400, "Bad Request: can't parse reply parameters JSON object") from None
            if "message_id" not in rp:
                raise _ApiError(400, "Bad Request: message_id is empty")
            try:
                reply_id = int(rp["message_id"])
            except (TypeError, ValueError):
                raise _ApiError(400, "Bad Request: invalid reply message specified") from None
            allow_without = allow_without or bool(rp.get("allow_sending_without_reply"))
            if rp.get("chat_id") is not None:
                reply_chat = self._resolve_chat(_parse_chat_id(str(rp["chat_id"])))
        elif params.get("reply_to_message_id"):
            reply_id = _parse_int(params.get("reply_to_message_id"), "reply message")
        if reply_id is None:
            return None, None
        replied = self._chat_msgs.get(reply_chat, {}).get(reply_id)
        if replied is None:
            if allow_without:
                return None, None
            raise _ApiError(400, "Bad Request: message to be replied not found")
        return reply_id, {k: v for k, v in replied.items() if k != "reply_to_message"}

    # ------------------------------------------------------------------ request handling
    def _take_drop(self, method: str, after_accept: bool) -> bool:
        for d in self._drops:
            if d.after_accept != after_accept:
                continue
            if d.method == method or (d.method == "*" and method != "getUpdates"):
                d.times -= 1
                if d.times <= 0:
                    self._drops.remove(d)
                return True
        return False

    def _take_fault(self, method: str) -> _Fault | None:
        for f in self._faults:
            if f.method == method or (f.method == "*" and method != "getUpdates"):
                f.times -= 1
                if f.times <= 0:
                    self._faults.remove(f)
                return f
        return None

    def _record(self, method: str, chat: int | str | None, status: int, now: float, retry_after: int | None) -> None:
        with self._cond:
            self._requests.append(RequestRecord(method, chat, status, now, retry_after))

    def _handle(self, raw_path: str, headers: Any, body: bytes) -> _Reply:
        now = time.monotonic()
        url = urlsplit(raw_path)
        path = unquote(url.path)
        if path.startswith("/file/bot"):
            return self._serve_file(path)
        m = re.fullmatch(r"/bot([^/]*)/([^/]*)/?", path)
        method_raw = m.group(2) if m else ""
        canon = _METHODS.get(method_raw.lower())
        mname = canon or method_raw or path

        # parse parameters first: the record wants the chat_id, and the body must be consumed anyway
        params: dict[str, str] = dict(parse_qsl(url.query, keep_blank_values=True))
        files: dict[str, _Upload] = {}
        ctype = (headers.get("Content-Type") or "").lower()
        parse_error: _ApiError | None = None
        try:
            if body:
                if ctype.startswith("application/x-www-form-urlencoded"):
                    params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
                elif ctype.startswith("application/json"):
                    try:
                        obj = json.loads(body.decode("utf-8", "replace"))
                    except ValueError:
                        raise _ApiError(400, "Bad Request: can't parse JSON object") from None
                    if not isinstance(obj, dict):
                        raise _ApiError(400, "Bad Request: can't parse JSON object")
                    params.update({k: _form_value(v) for k, v in obj.items() if v is not None})
                elif ctype.startswith("multipart/form-data"):
                    fields, files = _parse_multipart(body, headers.get("Content-Type") or "")
                    params.update(fields)
        except _ApiError as exc:
            parse_error = exc
        chat_for_record = _lenient_chat_id(params.get("chat_id"))

        with self._cond:
            drop = self._take_drop(mname, after_accept=False)
            down = self._down
        if drop:
            self._record(mname, chat_for_record, 0, now, None)
            return _Reply(0, b"", drop=True)
        if down:
            self._record(mname, chat_for_record, 502, now, None)
            return _Reply(502, _nginx_page(502), "text/html")

        try:
            if m is None or not _TOKEN_RE.fullmatch(m.group(1)):
                raise _ApiError(404, "Not Found")
            if self._token is not None and m.group(1) != self._token:
                raise _ApiError(401, "Unauthorized")
            if canon is None:
                raise _ApiError(404, "Not Found")
            if parse_error is not None:
                raise parse_error
            with self._cond:
                fault = self._take_fault(canon)
                if fault is not None:
                    self._raise_fault(fault, chat_for_record, now)
            handler = getattr(self, "_m_" + canon)
            result = handler(params, files, now)
            reply = _json_reply(200, {"ok": True, "result": result})
            retry_after = None
        except _ApiError as exc:
            if exc.status in _NGINX_PAGES and exc.description == "__nginx__":
                reply = _Reply(exc.status, _nginx_page(exc.status), "text/html")
            else:
                reply = _error_reply(exc)
            retry_after = (exc.parameters or {}).get("retry_after")

        with self._cond:
            drop_after = self._take_drop(mname, after_accept=True)
            delay = 0.0 if canon == "getUpdates" else self._delay
        if drop_after:  # processed (a message is stored), but the answer is lost
            self._record(mname, chat_for_record, 0, now, None)
            return _Reply(0, b"", drop=True)
        self._record(mname, chat_for_record, reply.status, now, retry_after)
        if delay > 0:
            self._stop_event.wait(delay)
        return reply

    def _raise_fault(self, fault: _Fault, chat: int | str | None, now: float) -> None:
        status = fault.status
        if status == 429:
            n = max(1, int(fault.retry_after or 1))
            if chat is not None:
                key = self._flood_key(chat)
                self._retry_deadline[key] = max(self._retry_deadline.get(key, 0.0), now + n)
            raise _ApiError(429, fault.description or f"Too Many Requests: retry after {n}", {"retry_after": n})
        if fault.description is None and status in _NGINX_PAGES:
            raise _ApiError(status, "__nginx__")
        desc = fault.description or _DEFAULT_DESCRIPTIONS.get(status, "Internal Server Error")
        params = {"retry_after": fault.retry_after} if fault.retry_after else None
        raise _ApiError(status, desc, params)

    def _serve_file(self, path: str) -> _Reply:
        m = re.fullmatch(r"/file/bot([^/]*)/(.+)", path)
        if not m or (self._token is not None and m.group(1) != self._token):
            return _json_reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        with self._cond:
            fid = self._file_paths.get(m.group(2))
            data = self._files[fid][1] if fid else None
            mime = self._files[fid][2] if fid else ""
        if data is None:
            return _json_reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        return _Reply(200, data, mime or "application/octet-stream")

    # ------------------------------------------------------------------ methods
    def _m_getMe(self, params: dict[str, str], files: dict[str, _Upload], now: float) -> Any:  # noqa: N802
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": not self._privacy,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _m_logOut(self, params: dict[str, str], files: dict[str, _Upload], now: float) -> Any:  # noqa: N802
        return True

    def _m_close(self, params: dict[str, str], files: dict[str, _Upload], now: float) -> Any:
        return True

    def _m_setWebhook(self, params: dict[str, str], files: dict[str, _Upload], now: float) -> Any:  # noqa: N802
        url = params.get("url", "")
        if url and not url.lower().startswith("https://"):
            raise _ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        with self._cond:
            self._webhook_url = url
            if _parse_bool(params.get("drop_pending_updates")):
                self._updates.clear()
            self._poll_generation += 1
            self._cond.notify_all()
        return True

    def _m_deleteWebhook(self, params: dict[str, str], files: dict[str, _Upload], now: float) -> Any:  # noqa: N802
        with self._cond:
            self._webhook_url = ""
            if _parse_bool(params.get("drop_pending_updates")):
                self._updates.clear()
        return True

    def _m_getWebhookInfo(self, params: dict[str, str], files: dict[str, _Upload], now: float) -> Any:  # noqa: N802
        with self._cond:
            return {"url": self._webhook_url, "has_custom_certificate": False,
                    "pending_update_count": len(self._updates)}

    def _m_getUpdates(self, params: dict[str, str], files: dict[str, _Upload], now: float) -> Any:  # noqa: N802
        offset = _parse_int(params.get("offset"), "offset")
        limit = _parse_int(params.get("limit"), "limit") or 100
        limit = min(100, max(1, limit))
        try:
            timeout = max(0.0, float(params.get("timeout") or 0))
        except ValueError:
            raise _ApiError(400, "Bad Request: invalid timeout specified") from None
        allowed_raw = params.get("allowed_updates")
        allowed: set[str] | None = None
        if allowed_raw is not None and allowed_raw != "":
            try:
                lst = json.loads(allowed_raw)
                if not isinstance(lst, list):
                    raise ValueError
            except ValueError:
                raise _ApiError(400, "Bad Request: can't parse allowed updates") from None
            allowed = {str(x) for x in lst if str(x) in _ALL_UPDATE_TYPES} or set(_DEFAULT_UPDATE_TYPES)
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._webhook_url:
                raise _ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                     "use deleteWebhook to delete the webhook first")
            # a newer getUpdates terminates the one still waiting
            self._poll_generation += 1
            generation = self._poll_generation
            self._cond.notify_all()
            if allowed is not None:
                self._allowed_updates = allowed
            if offset is not None:
                if offset < 0:
                    keep = -offset
                    while len(self._updates) > keep:
                        self._updates.popleft()
                else:
                    while self._updates and self._updates[0]["update_id"] < offset:
                        self._updates.popleft()
            self._polls_waiting += 1
            try:
                return self._poll(generation, limit, deadline)
            finally:
                self._polls_waiting -= 1

    def _poll(self, generation: int, limit: int, deadline: float) -> list[dict[str, Any]]:
        with self._cond:
            while True:
                if self._stopping:
                    return []
                if self._down:
                    raise _ApiError(502, "__nginx__")
                if self._poll_generation != generation:
                    raise _ApiError(409, "Conflict: terminated by other getUpdates request; "
                                         "make sure that only one bot instance is running")
                # updates of types the bot does not want are dropped, as Telegram never queues them
                kept = deque(u for u in self._updates if self._update_type(u) in self._allowed_updates)
                self._updates = kept
                if kept:
                    return [kept[k] for k in range(min(limit, len(kept)))]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._cond.wait(remaining)

    @staticmethod
    def _update_type(update: dict[str, Any]) -> str:
        return next((k for k in update if k != "update_id"), "")

    def _m_sendMessage(self, params: dict[str, str], files: dict[str, _Upload], now: float) -> Any:  # noqa: N802
        chat = _parse_chat_id(params.get("chat_id"))
        text = params.get("text")
        parse_mode = params.get("parse_mode") or None
        with self._cond:
            self._check_chat(chat)
        plain, entities = self._format_text(text, parse_mode)
        with self._cond:
            chat_id = self._resolve_chat(chat)
            reply_id, replied = self._reply_target(params, chat_id)
            self._check_flood(chat, now)
            msg = self._new_bot_message(chat, chat_id)
            msg["text"] = plain
            if entities:
                msg["entities"] = entities
            if replied is not None:
                msg["reply_to_message"] = replied
            self._store(msg, chat_id, SentMessage(
                message_id=msg["message_id"], chat_id=chat, text=text, parse_mode=parse_mode, date=msg["date"],
                reply_to_message_id=reply_id, method="sendMessage", params=MappingProxyType(dict(params)),
                received_monotonic=now, plain_text=plain))
            return msg

    def _send_file(self, kind: str, params: dict[str, str], files: dict[str, _Upload], now: float) -> Any:
        chat = _parse_chat_id(params.get("chat_id"))
        with self._cond:
            self._check_chat(chat)
        caption = params.get("caption")
        parse_mode = params.get("parse_mode") or None
        plain, entities = self._format_text(caption, parse_mode, caption=True)
        ref = params.get(kind)
        upload: _Upload | None = files.get(kind)
        if upload is None and ref and ref.startswith("attach://"):
            upload = files.get(ref[len("attach://"):])
        name: str | None
        data: bytes | None
        mime = "application/octet-stream"
        if upload is not None:
            if not upload.content:
                raise _ApiError(400, "Bad Request: file must be non-empty")
            if len(upload.content) > _MAX_UPLOAD:
                raise _ApiError(413, "Request Entity Too Large")
            name, data, mime = upload.filename, upload.content, upload.content_type
            file_id = None
        elif ref:
            if ref.lower().startswith(("http://", "https://")):
                name, data, file_id = ref.rstrip("/").rsplit("/", 1)[-1] or "file", None, None
            else:
                with self._cond:
                    known = self._files.get(ref)
                if known is None:
                    raise _ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
                name, data, mime, _ = known
                file_id = ref
        else:
            raise _ApiError(400, f"Bad Request: there is no {kind} in the request")
        with self._cond:
            chat_id = self._resolve_chat(chat)
            reply_id, replied = self._reply_target(params, chat_id)
            self._check_flood(chat, now)
            if file_id is None:
                file_id = f"BQACAgIAAxk{uuid.uuid4().hex}"
                ext = ("." + name.rsplit(".", 1)[-1]) if name and "." in name else ""
                fpath = f"{'photos' if kind == 'photo' else 'documents'}/file_{len(self._files)}{ext}"
                self._files[file_id] = (name or "file", data or b"", mime, fpath)
                self._file_paths[fpath] = file_id
            size = len(data) if data is not None else 0
            msg = self._new_bot_message(chat, chat_id)
            unique = file_id[-16:]
            if kind == "photo":
                msg["photo"] = [{"file_id": file_id, "file_unique_id": unique, "width": 1, "height": 1,
                                 "file_size": size}]
            else:
                msg["document"] = {"file_id": file_id, "file_unique_id": unique, "file_name": name,
                                   "mime_type": mime, "file_size": size}
            if plain:
                msg["caption"] = plain
                if entities:
                    msg["caption_entities"] = entities
            if replied is not None:
                msg["reply_to_message"] = replied
            method = "sendPhoto" if kind == "photo" else "sendDocument"
            self._store(msg, chat_id, SentMessage(
                message_id=msg["message_id"], chat_id=chat, text=None, parse_mode=parse_mode, date=msg["date"],
                reply_to_message_id=reply_id, method=method, document_name=name, document=data, caption=caption,
                params=MappingProxyType(dict(params)), received_monotonic=now, plain_text=plain or None))
            return msg

    def _m_sendDocument(self, params: dict[str, str], files: dict[str, _Upload], now: float) -> Any:  # noqa: N802
        return self._send_file("document", params, files, now)

    def _m_sendPhoto(self, params: dict[str, str], files: dict[str, _Upload], now: float) -> Any:  # noqa: N802
        return self._send_file("photo", params, files, now)

    def _copy_or_forward(self, params: dict[str, str], now: float, forward: bool) -> Any:
        chat = _parse_chat_id(params.get("chat_id"))
        from_chat = _parse_chat_id(params.get("from_chat_id"), "from_chat_id")
        mid = _parse_int(params.get("message_id"), "message_id")
        if mid is None:
            raise _ApiError(400, "Bad Request: message_id is empty")
        with self._cond:
            self._check_chat(chat)
            self._check_chat(from_chat)
            src = self._chat_msgs.get(self._resolve_chat(from_chat), {}).get(mid)
            if src is None:
                raise _ApiError(400, "Bad Request: message to copy not found" if not forward
                                else "Bad Request: message to forward not found")
            chat_id = self._resolve_chat(chat)
            self._check_flood(chat, now)
            msg = self._new_bot_message(chat, chat_id)
            for k in ("text", "entities", "caption", "caption_entities", "document", "photo"):
                if k in src:
                    msg[k] = src[k]
            if forward:
                msg["forward_origin"] = {"type": "user", "date": src["date"], "sender_user": src["from"]}
            self._store(msg, chat_id, SentMessage(
                message_id=msg["message_id"], chat_id=chat, text=src.get("text"), parse_mode=None,
                date=msg["date"], reply_to_message_id=None, method="forwardMessage" if forward else "copyMessage",
                params=MappingProxyType(dict(params)), received_monotonic=now, plain_text=src.get("text")))
            return msg if forward else {"message_id": msg["message_id"]}

    def _m_forwardMessage(self, params: dict[str, str], files: dict[str, _Upload], now: float) -> Any:  # noqa: N802
        return self._copy_or_forward(params, now, forward=True)

    def _m_copyMessage(self, params: dict[str, str], files: dict[str, _Upload], now: float) -> Any:  # noqa: N802
        return self._copy_or_forward(params, now, forward=False)

    def _m_editMessageText(self, params: dict[str, str], files: dict[str, _Upload], now: float) -> Any:  # noqa: N802
        if params.get("inline_message_id"):
            self._format_text(params.get("text"), params.get("parse_mode") or None)
            return True
        chat = _parse_chat_id(params.get("chat_id"))
        mid = _parse_int(params.get("message_id"), "message_id")
        if mid is None:
            raise _ApiError(400, "Bad Request: message identifier is not specified")
        text = params.get("text")
        parse_mode = params.get("parse_mode") or None
        with self._cond:
            self._check_chat(chat)
        plain, entities = self._format_text(text, parse_mode)
        with self._cond:
            chat_id = self._resolve_chat(chat)
            msg = self._chat_msgs.get(chat_id, {}).get(mid)
            if msg is None:
                raise _ApiError(400, "Bad Request: message to edit not found")
            if msg.get("from", {}).get("id") != self._bot_id:
                raise _ApiError(400, "Bad Request: message can't be edited")
            if "text" not in msg:
                raise _ApiError(400, "Bad Request: there is no text in the message to edit")
            if msg["text"] == plain and msg.get("entities", []) == entities:
                raise _ApiError(400, "Bad Request: message is not modified: specified new message content and "
                                     "reply markup are exactly the same as a current content and reply markup "
                                     "of the message")
            self._check_flood(chat, now)
            msg["text"] = plain
            if entities:
                msg["entities"] = entities
            else:
                msg.pop("entities", None)
            msg["edit_date"] = int(time.time())
            self._messages.append(SentMessage(
                message_id=mid, chat_id=chat, text=text, parse_mode=parse_mode, date=msg["edit_date"],
                reply_to_message_id=(msg.get("reply_to_message") or {}).get("message_id"),
                method="editMessageText", params=MappingProxyType(dict(params)), received_monotonic=now,
                plain_text=plain))
            self._cond.notify_all()
            return dict(msg)

    def _m_deleteMessage(self, params: dict[str, str], files: dict[str, _Upload], now: float) -> Any:  # noqa: N802
        chat = _parse_chat_id(params.get("chat_id"))
        mid = _parse_int(params.get("message_id"), "message_id")
        with self._cond:
            self._check_chat(chat)
            msgs = self._chat_msgs.get(self._resolve_chat(chat), {})
            if mid is None or mid not in msgs:
                raise _ApiError(400, "Bad Request: message to delete not found")
            del msgs[mid]
        return True

    def _m_getChat(self, params: dict[str, str], files: dict[str, _Upload], now: float) -> Any:  # noqa: N802
        chat = _parse_chat_id(params.get("chat_id"))
        with self._cond:
            self._check_chat(chat)
            obj = self._chat_obj(self._resolve_chat(chat), username=chat if isinstance(chat, str) else None)
        obj.update({
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {"unlimited_gifts": False, "limited_gifts": False, "unique_gifts": False,
                                    "premium_subscription": False, "gifts_from_channels": False},
        })
        return obj

    def _m_sendChatAction(self, params: dict[str, str], files: dict[str, _Upload], now: float) -> Any:  # noqa: N802
        chat = _parse_chat_id(params.get("chat_id"))
        if not params.get("action"):
            raise _ApiError(400, "Bad Request: action is empty")
        with self._cond:
            self._check_chat(chat)
        return True

    def _m_answerCallbackQuery(self, params: dict[str, str], files: dict[str, _Upload], now: float) -> Any:  # noqa: N802
        if not params.get("callback_query_id"):
            raise _ApiError(400, "Bad Request: query_id is empty")
        return True

    def _m_getFile(self, params: dict[str, str], files: dict[str, _Upload], now: float) -> Any:  # noqa: N802
        fid = params.get("file_id") or ""
        with self._cond:
            known = self._files.get(fid)
        if known is None:
            raise _ApiError(400, "Bad Request: wrong file_id or the file is temporarily unavailable")
        return {"file_id": fid, "file_unique_id": fid[-16:], "file_size": len(known[1]), "file_path": known[3]}

    @staticmethod
    def _commands_key(params: dict[str, str]) -> tuple[str, str]:
        scope = "default"
        if params.get("scope"):
            try:
                sc = json.loads(params["scope"])
                scope = json.dumps(sc, sort_keys=True) if sc.get("type") != "default" else "default"
            except (ValueError, AttributeError):
                raise _ApiError(400, "Bad Request: can't parse BotCommandScope JSON object") from None
        return scope, params.get("language_code") or ""

    def _m_setMyCommands(self, params: dict[str, str], files: dict[str, _Upload], now: float) -> Any:  # noqa: N802
        try:
            cmds = json.loads(params.get("commands") or "")
            if not isinstance(cmds, list):
                raise ValueError
        except ValueError:
            raise _ApiError(400, "Bad Request: can't parse commands JSON object") from None
        if len(cmds) > 100:
            raise _ApiError(400, "Bad Request: too many commands specified")
        clean = []
        for c in cmds:
            if not isinstance(c, dict):
                raise _ApiError(400, "Bad Request: can't parse BotCommand JSON object")
            command = str(c.get("command", "")).lstrip("/")
            desc = str(c.get("description", ""))
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command):
                raise _ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(desc.strip()) <= 256:
                raise _ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID" if desc.strip()
                                else "Bad Request: command description is empty")
            clean.append({"command": command, "description": desc})
        key = self._commands_key(params)
        with self._cond:
            if clean:
                self._commands[key] = clean
            else:
                self._commands.pop(key, None)
        return True

    def _m_getMyCommands(self, params: dict[str, str], files: dict[str, _Upload], now: float) -> Any:  # noqa: N802
        key = self._commands_key(params)
        with self._cond:
            return [dict(c) for c in self._commands.get(key, [])]

    def _m_deleteMyCommands(self, params: dict[str, str], files: dict[str, _Upload], now: float) -> Any:  # noqa: N802
        key = self._commands_key(params)
        with self._cond:
            self._commands.pop(key, None)
        return True

    # ------------------------------------------------------------------ storage
    def _new_bot_message(self, chat: int | str, chat_id: int) -> dict[str, Any]:
        return {
            "message_id": self._alloc_msg_id(chat_id),
            "from": self._bot_user(),
            "chat": self._chat_obj(chat_id, username=chat if isinstance(chat, str) else None),
            "date": int(time.time()),
        }

    def _store(self, msg: dict[str, Any], chat_id: int, sent: SentMessage) -> None:
        self._chat_msgs.setdefault(chat_id, {})[msg["message_id"]] = msg
        self._messages.append(sent)
        self._cond.notify_all()


def _utf16_slice(text: str, offset: int, length: int) -> str:
    raw = text.encode("utf-16-le")
    return raw[offset * 2:(offset + length) * 2].decode("utf-16-le", "replace")


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m laporgub.sim.botapi",
                                 description="Local Telegram Bot API stand-in (prints accepted messages).")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8081)
    ap.add_argument("--token", default=None, help="accept only this token (else any well-formed token)")
    ap.add_argument("--bot-username", default="laporgub_bot")
    ap.add_argument("--enforce-limits", action="store_true", help="apply Telegram's flood limits")
    args = ap.parse_args(argv)
    server = BotApiServer(host=args.host, port=args.port, token=args.token, bot_username=args.bot_username,
                          enforce_limits=args.enforce_limits).start()
    print(f"Bot API stand-in on {server.base_url}<token>/<method>  (Ctrl-C stops)", flush=True)
    seen = 0
    try:
        while True:
            def grown(msgs: list[SentMessage], seen: int = seen) -> bool:
                return len(msgs) > seen

            server.wait_for(grown, timeout=1.0)
            msgs = server.messages
            for msg in msgs[seen:]:
                shown = msg.plain_text if msg.plain_text is not None else (msg.text or "")
                if msg.document_name:
                    shown = f"[{msg.document_name}, {len(msg.document or b'')} bytes] {shown}"
                print(f"{msg.method} chat={msg.chat_id} id={msg.message_id}: {shown!r}", flush=True)
            seen = len(msgs)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
