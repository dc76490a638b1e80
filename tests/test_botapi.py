"""Tests of the Bot API stand-in, driven by real python-telegram-bot over HTTP/1.1 keep-alive."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import telegram
from telegram import ReplyParameters
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.ext import Application, CommandHandler, MessageHandler, filters

from laporgub.sim.botapi import EXAMPLE_TOKEN, BotApiServer, HtmlParseError, parse_html, utf16_len

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # RetryAfter.retry_after as int

TOKEN = EXAMPLE_TOKEN
GROUP = -1001000000003
OTHER_GROUP = -1001000000004
PRIVATE = 111111111


@pytest.fixture
def server():
    srv = BotApiServer(token=TOKEN).start()
    try:
        yield srv
    finally:
        srv.stop()


def make_bot(srv: BotApiServer, token: str = TOKEN) -> telegram.Bot:
    return telegram.Bot(token, base_url=srv.base_url, base_file_url=srv.base_file_url)


def raw_call(srv: BotApiServer, method: str, body: bytes | None = None, ctype: str | None = None,
             token: str = TOKEN, timeout: float = 5.0) -> tuple[int, dict]:
    req = urllib.request.Request(f"{srv.base_url}{token}/{method}", data=body, method="POST" if body else "GET")
    if ctype:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# --------------------------------------------------------------------------- HTML rules (no network)


@pytest.mark.parametrize(
    ("html", "plain"),
    [
        ("<b>Tiket</b> 261128-0200-1", "Tiket 261128-0200-1"),
        ("a &lt;b&gt; &amp; &quot;c&quot; &#39;d&#x27;", "a <b> & \"c\" 'd'"),
        ('<a href="https://x.id/?a=1&amp;b=2">link</a>', "link"),
        ("<i>x</i><code>y</code><pre>z</pre><u>u</u><s>s</s><tg-spoiler>t</tg-spoiler>", "xyzust"),
        ('<span class="tg-spoiler">s</span><blockquote expandable>q</blockquote>', "sq"),
        ("a > b", "a > b"),
    ],
)
def test_parse_html_accepts(html, plain):
    assert parse_html(html)[0] == plain


@pytest.mark.parametrize(
    ("html", "error"),
    [
        ("<foo>x</foo>", 'Unsupported start tag "foo" at byte offset 0'),
        ("é <p>", 'Unsupported start tag "p" at byte offset 3'),  # offsets are UTF-8 bytes
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("a & b", 'Unescaped "&" at byte offset 2'),
        ("AT&T", 'Unescaped "&"'),
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b", "Unclosed start tag at byte offset 0"),
        ("<span>s</span>", 'Tag "span" must have class "tg-spoiler"'),
    ],
)
def test_parse_html_rejects(html, error):
    with pytest.raises(HtmlParseError) as info:
        parse_html(html)
    assert error in str(info.value)


def test_entities_use_utf16_offsets():
    plain, entities = parse_html("😀 <b>é</b>")
    assert plain == "😀 é"
    assert entities == [{"type": "bold", "offset": 3, "length": 1}]
    assert utf16_len("😀") == 2


# --------------------------------------------------------------------------- PTB over HTTP


def test_getme_send_html_keepalive_and_store(server):
    async def main():
        async with make_bot(server) as bot:  # initialize() = getMe
            assert bot.username == "laporgub_bot"
            assert bot.id == int(TOKEN.split(":")[0])
            m1 = await bot.send_message(GROUP, "<b>Tiket 261128-0200-1</b>\nJalan &lt;rusak&gt; &amp; berlubang",
                                        parse_mode="HTML", disable_notification=True)
            m2 = await bot.send_message(GROUP, "kedua", reply_parameters=ReplyParameters(m1.message_id))
            m3 = await bot.send_message(OTHER_GROUP, "lain")
            return m1, m2, m3

    m1, m2, m3 = asyncio.run(main())
    assert m1.text == "Tiket 261128-0200-1\nJalan <rusak> & berlubang"
    assert m1.entities[0].type == "bold" and m1.entities[0].offset == 0 and m1.entities[0].length == 19
    assert m1.chat.id == GROUP and m1.chat.type == "supergroup" and m1.from_user.is_bot
    assert (m1.message_id, m2.message_id, m3.message_id) == (1, 2, 1)  # per-chat counters
    assert m2.reply_to_message.message_id == m1.message_id
    assert server.connections_accepted == 1  # getMe and three sends over one keep-alive connection

    stored = server.messages_for(GROUP)
    assert [m.method for m in stored] == ["sendMessage", "sendMessage"]
    assert stored[0].parse_mode == "HTML" and "&lt;rusak&gt;" in stored[0].text
    assert stored[0].plain_text == m1.text
    assert stored[0].params["disable_notification"] == "true"
    assert stored[1].reply_to_message_id == m1.message_id
    assert server.messages_for(str(OTHER_GROUP))[0].text == "lain"
    assert [r.method for r in server.requests] == ["getMe", "sendMessage", "sendMessage", "sendMessage"]
    assert all(r.status == 200 for r in server.requests)
    assert server.wait_for(lambda msgs: len(msgs) == 3, timeout=0.1)
    assert not server.wait_for(lambda msgs: len(msgs) == 4, timeout=0.05)


def test_validation_errors(server):
    async def main():
        errors = {}
        async with make_bot(server) as bot:
            for name, kwargs in {
                "bad_html": dict(text="Jalan <rusak> parah", parse_mode="HTML"),
                "bare_amp": dict(text="<b>PDAM & PLN</b>", parse_mode="HTML"),
                "too_long": dict(text="x" * 4097),
                "too_long_utf16": dict(text="😀" * 2049),
                "too_long_after_parse": dict(text="<b>" + "&lt;" * 4097 + "</b>", parse_mode="HTML"),
                "empty": dict(text="  \n "),
                "empty_after_parse": dict(text="<b></b>", parse_mode="HTML"),
                "no_reply_target": dict(text="x", reply_parameters=ReplyParameters(999)),
            }.items():
                with pytest.raises(BadRequest) as info:
                    await bot.send_message(GROUP, **kwargs)
                errors[name] = str(info.value)
            # the limits are inclusive: exactly 4096 after entity parsing is fine
            ok = await bot.send_message(GROUP, "<i>" + "&lt;" * 4096 + "</i>", parse_mode="HTML")
            lenient = await bot.send_message(GROUP, "x", reply_parameters=ReplyParameters(
                999, allow_sending_without_reply=True))
        return errors, ok, lenient

    errors, ok, lenient = asyncio.run(main())
    assert errors["bad_html"].lower() == "can't parse entities: unsupported start tag \"rusak\" at byte offset 6"
    assert "unescaped \"&\"" in errors["bare_amp"].lower()
    assert errors["too_long"] == errors["too_long_utf16"] == errors["too_long_after_parse"] == "Message is too long"
    assert errors["empty"] == errors["empty_after_parse"] == "Message text is empty"
    assert errors["no_reply_target"] == "Message to be replied not found"
    assert len(ok.text) == 4096 and lenient.reply_to_message is None
    assert len(server.messages) == 2
    assert [r.status for r in server.requests[1:9]] == [400] * 8


def test_fail_next_429_and_early_retry(server):
    server.fail_next("sendMessage", status=429, retry_after=2)

    async def main():
        async with make_bot(server) as bot:
            with pytest.raises(RetryAfter) as first:
                await bot.send_message(GROUP, "satu")
            with pytest.raises(RetryAfter) as early:  # a client that ignores retry_after
                await bot.send_message(GROUP, "satu lagi")
            other = await bot.send_message(OTHER_GROUP, "other chats are not affected")
            return first.value, early.value, other

    first, early, other = asyncio.run(main())
    assert first.retry_after == 2 and early.retry_after in (1, 2)
    assert server.early_retries == 1
    assert other.text.startswith("other")
    assert [m.chat_id for m in server.messages] == [OTHER_GROUP]
    recs = [r for r in server.requests if r.method == "sendMessage"]
    assert [(r.status, r.retry_after, r.chat_id) for r in recs[:1]] == [(429, 2, GROUP)]


def test_flood_limits_sliding_window():
    srv = BotApiServer(token=TOKEN, enforce_limits=True, group_per_minute=3, group_window_seconds=1.0,
                       private_per_second=1.0, global_per_second=100).start()
    try:
        async def main():
            async with make_bot(srv) as bot:
                for i in range(3):
                    await bot.send_message(GROUP, f"pesan {i}")
                with pytest.raises(RetryAfter) as over:
                    await bot.send_message(GROUP, "keempat")
                with pytest.raises(RetryAfter):
                    await bot.send_message(GROUP, "retried at once")  # early: counted and refused
                early_after_two = srv.early_retries
                await bot.send_message(PRIVATE, "private 1")
                with pytest.raises(RetryAfter) as private_over:
                    await bot.send_message(PRIVATE, "private 2")
                await asyncio.sleep(over.value.retry_after)  # then behave
                await bot.send_message(GROUP, "after waiting")
                return over.value.retry_after, early_after_two, private_over.value.retry_after

        retry_after, early, private_retry = asyncio.run(main())
        assert retry_after == 1 and private_retry == 1
        assert early == 1 and srv.early_retries == 1
        assert [m.text for m in srv.messages_for(GROUP)] == ["pesan 0", "pesan 1", "pesan 2", "after waiting"]
        assert [r.retry_after for r in srv.requests if r.status == 429] == [1, 1, 1]
    finally:
        srv.stop()


def test_edits_count_against_the_group_limit_and_follow_the_message():
    """An incident's message is edited: edits take the chat's flood budget, and a deleted or foreign message
    cannot be edited (Telegram's answers, which the dispatcher acts on)."""
    srv = BotApiServer(token=TOKEN, enforce_limits=True, group_per_minute=3, group_window_seconds=1.0,
                       global_per_second=100).start()
    try:
        user_message = srv.push_message(chat_id=GROUP, user_id=7, text="/status@laporgub_bot")
        assert user_message > 0

        async def main():
            async with make_bot(srv) as bot:
                sent = await bot.send_message(GROUP, "kejadian K1: 2 laporan")
                await bot.edit_message_text("kejadian K1: 3 laporan", GROUP, sent.message_id)
                with pytest.raises(BadRequest) as same:  # refused before the limits: not counted
                    await bot.edit_message_text("kejadian K1: 3 laporan", GROUP, sent.message_id)
                await bot.edit_message_text("kejadian K1: 4 laporan", GROUP, sent.message_id)
                with pytest.raises(RetryAfter):  # a send and two edits: the third request in the second
                    await bot.edit_message_text("kejadian K1: 5 laporan", GROUP, sent.message_id)
                await asyncio.sleep(1.1)
                with pytest.raises(BadRequest) as foreign:
                    await bot.edit_message_text("x", GROUP, 1)  # the user's message, not the bot's
                assert await bot.delete_message(GROUP, sent.message_id)
                with pytest.raises(BadRequest) as gone:
                    await bot.edit_message_text("kejadian K1: 5 laporan", GROUP, sent.message_id)
                return str(same.value), str(foreign.value), str(gone.value)

        same, foreign, gone = asyncio.run(main())
        assert same.startswith("Message is not modified")
        assert foreign == "Message can't be edited" and gone == "Message to edit not found"
        assert [m.plain_text for m in srv.messages_for(GROUP) if m.method == "editMessageText"] == [
            "kejadian K1: 3 laporan", "kejadian K1: 4 laporan"]
    finally:
        srv.stop()


def test_global_limit():
    srv = BotApiServer(token=TOKEN, enforce_limits=True, global_per_second=2, global_window_seconds=5.0).start()
    try:
        async def main():
            async with make_bot(srv) as bot:
                await bot.send_message(GROUP, "a")
                await bot.send_message(OTHER_GROUP, "b")
                with pytest.raises(RetryAfter) as info:
                    await bot.send_message(-1001000000005, "c")
                return info.value.retry_after

        assert asyncio.run(main()) == 5
    finally:
        srv.stop()


def test_server_errors_down_and_dropped_connections(server):
    async def main():
        async with make_bot(server) as bot:
            server.fail_next("*", status=500)
            with pytest.raises(NetworkError) as e500:
                await bot.send_message(GROUP, "500")
            assert not isinstance(e500.value, (BadRequest, RetryAfter))
            server.set_down(True)
            with pytest.raises(NetworkError) as e502:
                await bot.send_message(GROUP, "502")
            server.set_down(False)
            server.drop_connections()
            with pytest.raises(NetworkError):
                await bot.send_message(GROUP, "dropped before accept")
            server.drop_connections(after_accept=True)
            with pytest.raises(NetworkError):
                await bot.send_message(GROUP, "dropped after accept")
            ok = await bot.send_message(GROUP, "ok again")
            return str(e500.value), str(e502.value), ok

    e500, e502, ok = asyncio.run(main())
    assert e500 == "Internal Server Error"
    assert "Bad Gateway (502)" in e502
    assert ok.text == "ok again"
    # the message whose answer got lost was delivered anyway, the other was not
    assert [m.text for m in server.messages] == ["dropped after accept", "ok again"]
    assert [r.status for r in server.requests if r.method == "sendMessage"] == [500, 502, 0, 0, 200]  # 0 = no answer


def test_delay_makes_ptb_time_out_but_message_is_delivered(server):
    async def main():
        request = telegram.request.HTTPXRequest(read_timeout=0.3)
        async with telegram.Bot(TOKEN, base_url=server.base_url, request=request) as bot:
            server.set_delay(0.8)
            with pytest.raises(telegram.error.TimedOut):
                await bot.send_message(GROUP, "slow")
            server.set_delay(0)
            return await bot.send_message(GROUP, "fast")

    fast = asyncio.run(main())
    # a TimedOut send may still have been delivered: that is why ticket texts must be idempotent
    assert [m.text for m in server.messages] == ["slow", "fast"] and fast.message_id == 2


def test_chat_errors_and_token():
    srv = BotApiServer(token=TOKEN, known_chats=[GROUP, PRIVATE, -1001000000099, 42],
                       forbidden_chats=[-1001000000099, 42], migrated_chats={-555: -1001000000555}).start()
    try:
        async def main():
            async with make_bot(srv) as bot:
                with pytest.raises(Forbidden) as kicked:
                    await bot.send_message(-1001000000099, "x")
                with pytest.raises(Forbidden) as blocked:
                    await bot.send_message(42, "x")
                with pytest.raises(BadRequest) as unknown:
                    await bot.send_message(OTHER_GROUP, "x")
                with pytest.raises(telegram.error.ChatMigrated) as migrated:
                    await bot.send_message(-555, "x")
                chat = await bot.get_chat(GROUP)
                await bot.send_chat_action(GROUP, "typing")
            with pytest.raises(InvalidToken):
                async with make_bot(srv, token="123:wrong-token") as bad:
                    await bad.get_me()
            return kicked.value, blocked.value, unknown.value, migrated.value, chat

        kicked, blocked, unknown, migrated, chat = asyncio.run(main())
        assert str(kicked) == "Forbidden: bot was kicked from the supergroup chat"
        assert str(blocked) == "Forbidden: bot was blocked by the user"
        assert str(unknown) == "Chat not found"
        assert migrated.new_chat_id == -1001000000555
        assert chat.id == GROUP and chat.type == "supergroup"
        assert srv.messages == []
    finally:
        srv.stop()


def test_raw_http_details(server):
    # method names are case-insensitive; JSON bodies work; unknown methods are 404; bad token shape is 404
    status, body = raw_call(server, "SENDMESSAGE", json.dumps({"chat_id": GROUP, "text": "json"}).encode(),
                            "application/json")
    assert status == 200 and body["result"]["text"] == "json"
    status, body = raw_call(server, f"sendMessage?chat_id={GROUP}&text=query")
    assert status == 200 and body["result"]["message_id"] == 2
    assert raw_call(server, "noSuchMethod") == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    assert raw_call(server, "getMe", token="not-a-token")[0] == 404
    assert raw_call(server, "getMe", token="1:other") == (
        401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    status, body = raw_call(server, "sendMessage", b"text=no+chat", "application/x-www-form-urlencoded")
    assert (status, body["description"]) == (400, "Bad Request: chat_id is empty")
    server.fail_next("getMe", status=502)
    req = urllib.request.Request(f"{server.base_url}{TOKEN}/getMe")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=5)
    assert info.value.code == 502 and info.value.headers["Content-Type"] == "text/html"
    assert b"nginx" in info.value.read()


def test_send_document_and_download(server):
    payload = b"tiket;teks\n261128-0200-1;jalan rusak\n" * 50

    async def main():
        async with make_bot(server) as bot:
            msg = await bot.send_document(GROUP, document=payload, filename="laporan \"bulanan\".csv",
                                          caption="<b>Laporan</b> Mei", parse_mode="HTML")
            file = await bot.get_file(msg.document.file_id)
            data = await file.download_as_bytearray()
            again = await bot.send_document(OTHER_GROUP, document=msg.document.file_id)
            with pytest.raises(BadRequest) as info:
                await bot.send_document(GROUP, document=payload, caption="x" * 1025)
            return msg, bytes(data), again, str(info.value)

    msg, data, again, err = asyncio.run(main())
    assert msg.document.file_name == 'laporan "bulanan".csv' and msg.document.file_size == len(payload)
    assert msg.caption == "Laporan" + " Mei" and msg.caption_entities[0].type == "bold"
    assert data == payload
    stored = server.messages_for(GROUP)[0]
    assert (stored.method, stored.document, stored.document_name, stored.caption) == (
        "sendDocument", payload, 'laporan "bulanan".csv', "<b>Laporan</b> Mei")
    assert stored.text is None
    assert again.document.file_id == msg.document.file_id and server.messages_for(OTHER_GROUP)[0].document == payload
    assert err == "Message caption is too long"


def test_my_commands(server):
    async def main():
        async with make_bot(server) as bot:
            await bot.set_my_commands([("tutup", "Tutup tiket"), ("status", "Status tiket")])
            got = await bot.get_my_commands()
            with pytest.raises(BadRequest) as info:
                await bot.set_my_commands([("Bad-Command", "x")])
            return got, str(info.value)

    got, err = asyncio.run(main())
    assert [c.command for c in got] == ["tutup", "status"]
    assert server.commands == [{"command": "tutup", "description": "Tutup tiket"},
                               {"command": "status", "description": "Status tiket"}]
    assert err == "Bot_command_invalid"  # PTB capitalizes what follows "Bad Request: "


def test_polling_application_receives_reply_and_command(server):
    received: list[tuple[str, object]] = []

    async def main():
        app = Application.builder().token(TOKEN).base_url(server.base_url).base_file_url(server.base_file_url).build()
        done = asyncio.Event()

        async def on_close(update, context):
            received.append(("close", (context.args, update.effective_user.id)))
            if len(received) == 2:
                done.set()

        async def on_reply(update, context):
            msg = update.effective_message
            received.append(("reply", (msg.text, msg.reply_to_message.message_id)))
            if len(received) == 2:
                done.set()

        app.add_handler(CommandHandler("tutup", on_close))
        app.add_handler(MessageHandler(filters.REPLY & filters.TEXT & ~filters.COMMAND, on_reply))
        await app.initialize()
        await app.start()
        await app.updater.start_polling(timeout=5)
        ticket = await app.bot.send_message(GROUP, "<b>261128-0200-1</b> jalan rusak", parse_mode="HTML")
        loop = asyncio.get_running_loop()
        # privacy mode: a plain group message never reaches the bot
        plain = await loop.run_in_executor(None, lambda: server.push_message(
            chat_id=GROUP, user_id=555, text="obrolan biasa"))
        assert plain == 0
        await loop.run_in_executor(None, lambda: server.push_message(
            chat_id=GROUP, user_id=555, text="sudah ditangani", reply_to_message_id=ticket.message_id))
        await loop.run_in_executor(None, lambda: server.push_message(
            chat_id=GROUP, user_id=555, text="/tutup@laporgub_bot 261128-0200-1 selesai", username="pic_dinkes"))
        await asyncio.wait_for(done.wait(), 5)
        await app.updater.stop()
        await app.stop()
        await app.shutdown()

    asyncio.run(main())
    assert ("reply", ("sudah ditangani", 1)) in received
    assert ("close", (["261128-0200-1", "selesai"], 555)) in received
    assert server.pending_updates == 0  # the final getUpdates(offset=...) of updater.stop() acknowledged them
    methods = [r.method for r in server.requests]
    assert methods[:2] == ["getMe", "deleteWebhook"] and "getUpdates" in methods


def test_concurrent_getupdates_conflict(server):
    async def main():
        async with make_bot(server) as first, make_bot(server) as second:
            poll = asyncio.create_task(first.get_updates(timeout=5))
            loop = asyncio.get_running_loop()
            t0 = time.monotonic()
            while server.polls_waiting == 0 and time.monotonic() - t0 < 5:
                await asyncio.sleep(0.01)
            assert await second.get_updates(timeout=0) == ()
            with pytest.raises(Conflict) as info:
                await poll
            uid = await loop.run_in_executor(None, lambda: server.push_message(
                chat_id=PRIVATE, user_id=PRIVATE, text="halo", chat_type="private"))
            got = await second.get_updates(timeout=1, offset=0)
            return str(info.value), uid, got

    err, uid, got = asyncio.run(main())
    assert err == "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
    assert [u.update_id for u in got] == [uid] and got[0].message.chat.type == "private"


def test_stop_wakes_long_poll_and_is_idempotent():
    srv = BotApiServer().start()
    result: list[object] = []

    def poll():
        try:
            result.append(raw_call(srv, "getUpdates?timeout=30", timeout=10))
        except Exception as exc:  # noqa: BLE001 - the connection may be closed under us
            result.append(exc)

    t = threading.Thread(target=poll, daemon=True)
    t.start()
    t0 = time.monotonic()
    while srv.polls_waiting == 0 and time.monotonic() - t0 < 5:
        time.sleep(0.01)
    t0 = time.monotonic()
    srv.stop()
    srv.stop()
    t.join(5)
    assert not t.is_alive() and time.monotonic() - t0 < 2
    assert result and (isinstance(result[0], Exception) or result[0] == (200, {"ok": True, "result": []}))


def test_cli_prints_accepted_messages():
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    # Ctrl-C (SIGINT) is how the stand-in is stopped; a test run started in the background by a shell
    # without job control inherits SIGINT ignored, and so would the stand-in: give it the default back.
    proc = subprocess.Popen([sys.executable, "-u", "-m", "laporgub.sim.botapi", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        first = proc.stdout.readline()
        base = first.split(" on ", 1)[1].split("<token>", 1)[0]
        body = json.dumps({"chat_id": GROUP, "text": "<b>halo</b>", "parse_mode": "HTML"}).encode()
        req = urllib.request.Request(f"{base}{TOKEN}/sendMessage", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 200
        line = proc.stdout.readline()
        assert str(GROUP) in line and "'halo'" in line
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=5)
    assert proc.returncode == 0, err


def test_edit_message_and_privacy_mode(server):
    # before the bot has posted in a group, a bare /command is not delivered (Telegram's privacy-mode rule);
    # /command@bot always is; plain chatter never is
    assert server.push_message(chat_id=GROUP, user_id=7, text="/status") == 0
    assert server.push_message(chat_id=GROUP, user_id=7, text="/status@laporgub_bot") > 0
    assert server.push_message(chat_id=GROUP, user_id=7, text="/status@other_bot") == 0

    async def main():
        async with make_bot(server) as bot:
            sent = await bot.send_message(GROUP, "<b>261128-0200-1</b> baru", parse_mode="HTML")
            edited = await bot.edit_message_text("<b>261128-0200-1</b> selesai", GROUP, sent.message_id,
                                                 parse_mode="HTML")
            with pytest.raises(BadRequest) as same:
                await bot.edit_message_text("<b>261128-0200-1</b> selesai", GROUP, sent.message_id,
                                            parse_mode="HTML")
            with pytest.raises(BadRequest) as missing:
                await bot.edit_message_text("x", GROUP, 999)
            updates = await bot.get_updates(timeout=0)
            return sent, edited, str(same.value), str(missing.value), updates

    sent, edited, same, missing, updates = asyncio.run(main())
    assert edited.text == "261128-0200-1 selesai" and edited.edit_date is not None
    assert same.startswith("Message is not modified")
    assert missing == "Message to edit not found"
    assert [m.method for m in server.messages] == ["sendMessage", "editMessageText"]
    assert server.messages[1].message_id == sent.message_id
    assert [u.message.text for u in updates] == ["/status@laporgub_bot"]
    assert updates[0].message.entities[0].type == "bot_command"
    # now that the bot has posted there, a bare command and a reply to the bot both get through
    assert server.push_message(chat_id=GROUP, user_id=7, text="/status") > 0
    assert server.push_message(chat_id=GROUP, user_id=7, text="ok", reply_to_message_id=sent.message_id) > 0
    # a reply to a message the bot never saw carries no reply_to_message, so privacy mode hides it
    assert server.push_message(chat_id=GROUP, user_id=7, text="ok", reply_to_message_id=12345) == 0
