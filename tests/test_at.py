"""Tests of laporgub.at: the AT channel over a real pty, and its pure parsers.

The modem side is a small scripted fake on the pty master: it answers each
command line with a canned transcript queued by the test. The full modem
emulator lives in laporgub/sim/modem.py; this one only knows what a test told it.
"""

from __future__ import annotations

import logging
import os
import pty
import select
import threading
import tty
from collections.abc import Callable, Iterator

import pytest
import serial
from hypothesis import given, settings
from hypothesis import strategies as st

from laporgub.at import (
    PROMPT,
    AtChannel,
    AtError,
    AtParseError,
    AtResponse,
    AtTimeout,
    LineSplitter,
    PortClosed,
    StoredPdu,
    Urc,
    csq_to_dbm,
    is_final,
    is_urc,
    parse_cmgl,
    parse_cmgr,
    parse_cmgs,
    parse_cmti,
    parse_cpms,
    parse_creg,
    parse_csq,
)
from laporgub.exceptions import ModemError

pytestmark = pytest.mark.timeout(30)

# The dreamfabric SMS-DELIVER ("hellohello" from 27838890001): 8-octet SCA + 28-octet TPDU.
# PDU2: a hand-built SMS-DELIVER from an Indonesian number (+628112345678), 29-octet TPDU.
PDU1 = "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37"
PDU2 = "0791261810000000040C912618214365870000624011713283820AC8329BFD065DDF723619"
SUBMIT = "0011000D91261821436587F90000AA0AE8329BFD4697D9EC37"  # SCA 00 + 24-octet TPDU


# --------------------------------------------------------------------------
# Scripted fake modem on a pty

Reply = bytes | Callable[["FakeModem", str], None] | None


class FakeModem:
    """The master side of a pty that answers commands from a per-command reply queue.

    Runs one thread reading the master. ``\\r`` ends a command, Ctrl-Z ends a
    PDU (looked up as ``"<PDU>" + pdu``, then ``"<PDU>"``), ESC is ``"<ESC>"``.
    Unknown commands get ``ERROR``; a reply of ``None`` means silence.
    """

    def __init__(self) -> None:
        self.master, slave = pty.openpty()
        tty.setraw(self.master)
        tty.setraw(slave)
        self.port = serial.Serial(os.ttyname(slave), 115200, timeout=0.1)
        os.close(slave)
        self.echo = False
        self.received = bytearray()
        self.events: list[str] = []
        self._replies: dict[str, list[Reply]] = {}
        self._defaults: dict[str, Reply] = {"AT": b"\r\nOK\r\n"}
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._buf = b""
        self._thread = threading.Thread(target=self._run, name="fake-modem", daemon=True)
        self._thread.start()

    def on(self, key: str, *replies: Reply) -> None:
        """Queue replies for the next occurrences of a command (or ``"<PDU>"``/``"<ESC>"``)."""
        with self._cond:
            self._replies.setdefault(key, []).extend(replies)

    def default(self, key: str, reply: Reply) -> None:
        with self._cond:
            self._defaults[key] = reply

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def wait_event(self, event: str, count: int = 1, timeout: float = 5.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self.events.count(event) >= count, timeout):
                raise AssertionError(f"fake modem never saw {event!r} x{count}; saw {self.events}")

    def hang_up(self) -> None:
        """Stop answering and close the master: the port vanishes under the channel."""
        self._stop.set()
        self._thread.join(2)
        os.close(self.master)
        self.master = -1

    def close(self) -> None:
        if self.master >= 0:
            self.hang_up()
        self.port.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.02)
            if not ready:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            if self.echo:
                self.send(data)
            with self._cond:
                self.received += data
            for byte in data:
                self._byte(byte)

    def _byte(self, byte: int) -> None:
        if byte == 0x1B:
            self._buf = b""
            self._event("<ESC>")
        elif byte == 0x1A:
            text, self._buf = self._buf.decode().strip(), b""
            self._event("<PDU>", text)
        elif byte == 0x0D:
            text, self._buf = self._buf.decode().strip(), b""
            if text:
                self._event(text)
        elif byte != 0x0A:
            self._buf += bytes([byte])

    def _event(self, key: str, text: str | None = None) -> None:
        event = key if text is None else f"{key}{text}"
        with self._cond:
            self.events.append(event)
            queue = self._replies.get(event) or self._replies.get(key)
            reply = queue.pop(0) if queue else self._defaults.get(key, b"" if key == "<ESC>" else b"\r\nERROR\r\n")
            self._cond.notify_all()
        if callable(reply):
            reply(self, key)
        elif reply:
            self.send(reply)


class Urcs:
    """Collects URCs handed to on_urc (from the reader thread)."""

    def __init__(self) -> None:
        self.items: list[Urc] = []
        self._cond = threading.Condition()

    def __call__(self, urc: Urc) -> None:
        with self._cond:
            self.items.append(urc)
            self._cond.notify_all()

    def wait(self, count: int, timeout: float = 5.0) -> list[Urc]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.items) >= count, timeout), self.items
            return list(self.items)


@pytest.fixture
def modem() -> Iterator[FakeModem]:
    fake = FakeModem()
    yield fake
    fake.close()


@pytest.fixture
def urcs() -> Urcs:
    return Urcs()


@pytest.fixture
def channel(modem: FakeModem, urcs: Urcs) -> Iterator[AtChannel]:
    chan = AtChannel(modem.port, urcs, name="test")
    chan.start()
    yield chan
    chan.close()


def ok(*lines: str) -> bytes:
    return "".join(f"\r\n{line}\r\n" for line in (*lines, "OK")).encode()


# --------------------------------------------------------------------------
# Commands and responses


def test_simple_command(channel: AtChannel, modem: FakeModem) -> None:
    modem.on("AT+CSQ", ok("+CSQ: 20,99"))
    resp = channel.command("AT+CSQ")
    assert resp == AtResponse("AT+CSQ", ("+CSQ: 20,99",), "OK")
    assert bytes(modem.received) == b"AT+CSQ\r"
    assert channel.is_open


def test_echo_is_dropped(channel: AtChannel, modem: FakeModem) -> None:
    modem.echo = True
    modem.on("AT+CMGL=4", b"\r\n+CMGL: 1,0,,28\r\n" + PDU1.encode() + b"\r\n\r\nOK\r\n")
    modem.on("ATE0", b"\r\nOK\r\n")
    resp = channel.command("AT+CMGL=4", expect="+CMGL:")
    assert resp.lines == ("+CMGL: 1,0,,28", PDU1)
    assert channel.command("ATE0").lines == ()


def test_echo_after_boot_noise_is_dropped(channel: AtChannel, modem: FakeModem) -> None:
    modem.on("AT", lambda m, _: m.send(b"\x00\xffAT\r\r\nOK\r\n"))
    assert channel.command("AT").lines == ()


def test_urcs_in_the_middle_of_cmgl_and_before_ok(channel: AtChannel, modem: FakeModem, urcs: Urcs) -> None:
    modem.on(
        "AT+CMGL=4",
        b'\r\n+CMTI: "SM",4\r\n'
        b"\r\n+CMGL: 1,0,,28\r\n" + PDU1.encode() + b'\r\n+CMTI: "SM",5\r\n'
        b'\r\n+CMGL: 2,1,"",29\r\n' + PDU2.encode() + b'\r\n+CREG: 5\r\n\r\n+CMTI: "ME",6\r\n\r\nOK\r\n',
    )
    resp = channel.command("AT+CMGL=4", expect="+CMGL:")
    assert resp.lines == ("+CMGL: 1,0,,28", PDU1, '+CMGL: 2,1,"",29', PDU2)
    assert urcs.wait(4) == [Urc('+CMTI: "SM",4'), Urc('+CMTI: "SM",5'), Urc("+CREG: 5"), Urc('+CMTI: "ME",6')]
    assert parse_cmgl(resp) == [StoredPdu(1, 0, 28, PDU1), StoredPdu(2, 1, 29, PDU2)]


def test_response_delivered_byte_by_byte(channel: AtChannel, modem: FakeModem, urcs: Urcs) -> None:
    transcript = b"\r\n+CMGL: 7,1,,28\r\n" + PDU1.encode() + b'\r\n+CMTI: "SM",8\r\n\r\nOK\r\n'

    def trickle(m: FakeModem, _: str) -> None:
        for i in range(len(transcript)):
            m.send(transcript[i : i + 1])

    modem.on("AT+CMGL=4", trickle)
    resp = channel.command("AT+CMGL=4", expect="+CMGL:")
    assert parse_cmgl(resp) == [StoredPdu(7, 1, 28, PDU1)]
    assert urcs.wait(1) == [Urc('+CMTI: "SM",8')]


def test_lone_cr_and_lone_lf_end_lines(channel: AtChannel, modem: FakeModem) -> None:
    modem.on("ATI", b"\nQuectel\rEC25\n\nRevision: EC25EFAR06A06M4G\r\rOK\r")
    assert channel.command("ATI").lines == ("Quectel", "EC25", "Revision: EC25EFAR06A06M4G")


def test_expected_prefix_beats_urc_list(channel: AtChannel, modem: FakeModem, urcs: Urcs) -> None:
    modem.on("AT+CREG?", ok("+CREG: 0,1"))
    modem.on("AT+CPIN?", ok("+CPIN: READY"))
    modem.on("AT+CSQ", b'\r\n+CREG: 1\r\n\r\n+CPIN: READY\r\n' + ok("+CSQ: 31,0"))
    assert channel.command("AT+CREG?").lines == ("+CREG: 0,1",)  # prefix derived from the command
    assert channel.command("AT+CPIN?", expect="+CPIN:").lines == ("+CPIN: READY",)
    assert channel.command("AT+CSQ").lines == ("+CSQ: 31,0",)
    assert urcs.wait(2) == [Urc("+CREG: 1"), Urc("+CPIN: READY")]


def test_set_command_of_a_urc_prefix_leaves_the_urc_alone(channel: AtChannel, modem: FakeModem, urcs: Urcs) -> None:
    modem.on("AT+CREG=2", b'\r\n+CREG: 1,"1A2B","01C3D4E5",7\r\n\r\nOK\r\n')
    assert channel.command("AT+CREG=2").lines == ()
    assert urcs.wait(1) == [Urc('+CREG: 1,"1A2B","01C3D4E5",7')]


def test_unknown_lines_stay_in_the_response(channel: AtChannel, modem: FakeModem) -> None:
    modem.on("AT+CGMR", ok("SIM800 R14.18", "GARBAGE 42"))
    assert channel.command("AT+CGMR").lines == ("SIM800 R14.18", "GARBAGE 42")


def test_two_line_cmt_urc_idle_and_during_a_command(channel: AtChannel, modem: FakeModem, urcs: Urcs) -> None:
    modem.send(b"\r\n+CMT: ,28\r\n" + PDU1.encode() + b"\r\n")
    assert urcs.wait(1) == [Urc("+CMT: ,28", PDU1)]
    modem.on("AT+CSQ", b"\r\n+CDS: 29\r\n" + PDU2.encode() + b"\r\n" + ok("+CSQ: 12,0"))
    assert channel.command("AT+CSQ").lines == ("+CSQ: 12,0",)
    assert urcs.wait(2)[1] == Urc("+CDS: 29", PDU2)


def test_unsolicited_non_urc_lines_are_dropped(channel: AtChannel, modem: FakeModem, urcs: Urcs) -> None:
    modem.send(b"\r\nOK\r\n\r\nJUNK\r\n\r\n> \r\nRING\r\n")
    assert urcs.wait(1) == [Urc("RING")]
    modem.on("AT+CSQ", ok("+CSQ: 5,0"))
    assert channel.command("AT+CSQ").lines == ("+CSQ: 5,0",)


@pytest.mark.parametrize(
    ("final", "code"),
    [
        ("+CMS ERROR: 322", 322),
        ("+CME ERROR: 10", 10),
        ("+CME ERROR: SIM not inserted", None),
        ("ERROR", None),
        ("NO CARRIER", None),
        ("COMMAND NOT SUPPORT", None),
    ],
)
def test_error_finals_raise_at_error(channel: AtChannel, modem: FakeModem, final: str, code: int | None) -> None:
    modem.on("AT+CMGD=3", f"\r\n{final}\r\n".encode())
    with pytest.raises(AtError) as info:
        channel.command("AT+CMGD=3")
    assert (info.value.command, info.value.final, info.value.code) == ("AT+CMGD=3", final, code)
    assert isinstance(info.value, ModemError)
    modem.on("AT", b"\r\nOK\r\n")
    assert channel.command("AT").final == "OK"  # the channel goes on


def test_timeout_then_stale_answer_is_discarded(channel: AtChannel, modem: FakeModem, urcs: Urcs) -> None:
    modem.on("AT+COPS=?", None)
    with pytest.raises(AtTimeout) as info:
        channel.command("AT+COPS=?", timeout=0.3)
    assert info.value.command == "AT+COPS=?"
    # The slow answer arrives after the timeout, just before the next command is written.
    modem.send(b'\r\n+COPS: (2,"TELKOMSEL","TSEL","51010",7)\r\n\r\nOK\r\n\r\n+CMTI: "SM",9\r\n')
    modem.on("AT+CREG?", b"\r\n+CREG: 0,5\r\n\r\nOK\r\n")
    resp = channel.command("AT+CREG?")
    assert resp.lines == ("+CREG: 0,5",)
    assert parse_creg(resp) == (0, 5)
    assert urcs.wait(1) == [Urc('+CMTI: "SM",9')]


def test_stale_ok_arriving_with_nothing_pending_is_not_an_answer(channel: AtChannel, modem: FakeModem) -> None:
    modem.on("AT+CMGD=1", None)
    with pytest.raises(AtTimeout):
        channel.command("AT+CMGD=1", timeout=0.2)
    modem.send(b"\r\nOK\r\n")
    modem.on("AT+CMGD=2", b"\r\n+CMS ERROR: 321\r\n")
    with pytest.raises(AtError) as info:
        channel.command("AT+CMGD=2")
    assert info.value.code == 321


def test_commands_are_serialised(channel: AtChannel, modem: FakeModem) -> None:
    for i in range(10):
        modem.on(f"AT+CMGR={i}", ok(f"+CMGR: 1,,{28 if i % 2 else 29}", PDU1 if i % 2 else PDU2))
    results: dict[int, StoredPdu | None] = {}

    def worker(start: int) -> None:
        for i in range(start, 10, 2):
            results[i] = parse_cmgr(channel.command(f"AT+CMGR={i}", expect="+CMGR:"), i)

    threads = [threading.Thread(target=worker, args=(s,)) for s in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == {i: StoredPdu(i, 1, 28 if i % 2 else 29, PDU1 if i % 2 else PDU2) for i in range(10)}


def test_on_urc_exception_does_not_kill_the_reader(modem: FakeModem) -> None:
    seen: list[Urc] = []
    done = threading.Event()

    def flaky(urc: Urc) -> None:
        seen.append(urc)
        if len(seen) == 1:
            raise RuntimeError("actor is dead")
        done.set()

    chan = AtChannel(modem.port, flaky, name="flaky")
    chan.start()
    try:
        modem.send(b'\r\n+CMTI: "SM",1\r\n\r\n+CMTI: "SM",2\r\n')
        assert done.wait(5)
        assert [u.line for u in seen] == ['+CMTI: "SM",1', '+CMTI: "SM",2']
        modem.on("AT", b"\r\nOK\r\n")
        assert chan.command("AT").final == "OK"
    finally:
        chan.close()


def test_command_rejects_line_breaks(channel: AtChannel) -> None:
    with pytest.raises(ValueError):
        channel.command("AT\rAT")


def test_command_before_start_is_a_programming_error(modem: FakeModem) -> None:
    chan = AtChannel(modem.port)
    with pytest.raises(RuntimeError):
        chan.command("AT")


# --------------------------------------------------------------------------
# AT+CMGS and the prompt


def test_send_pdu_prompt_flow(channel: AtChannel, modem: FakeModem) -> None:
    modem.on("AT+CMGS=24", b"\r\n> ")
    modem.on(f"<PDU>{SUBMIT}", ok("+CMGS: 42"))
    assert channel.send_pdu(24, SUBMIT) == 42
    assert bytes(modem.received) == b"AT+CMGS=24\r" + SUBMIT.encode() + b"\x1a"


def test_send_pdu_with_echo_on(channel: AtChannel, modem: FakeModem) -> None:
    modem.echo = True
    modem.on("AT+CMGS=24", b"\r\n> ")
    modem.on(f"<PDU>{SUBMIT}", ok("+CMGS: 7"))
    assert channel.send_pdu(24, SUBMIT) == 7


def test_send_pdu_cms_error(channel: AtChannel, modem: FakeModem) -> None:
    modem.on("AT+CMGS=24", b"\r\n> ")
    modem.on(f"<PDU>{SUBMIT}", b"\r\n+CMS ERROR: 304\r\n")
    with pytest.raises(AtError) as info:
        channel.send_pdu(24, SUBMIT)
    assert info.value.code == 304
    assert info.value.command == "AT+CMGS=24"


def test_send_pdu_error_instead_of_prompt(channel: AtChannel, modem: FakeModem) -> None:
    modem.on("AT+CMGS=24", b"\r\n+CMS ERROR: 330\r\n")
    with pytest.raises(AtError) as info:
        channel.send_pdu(24, SUBMIT)
    assert info.value.code == 330
    assert b"\x1a" not in modem.received


def test_send_pdu_without_prompt_writes_esc(channel: AtChannel, modem: FakeModem) -> None:
    modem.on("AT+CMGS=24", None)
    with pytest.raises(AtTimeout) as info:
        channel.send_pdu(24, SUBMIT, prompt_timeout=0.3)
    assert (info.value.command, info.value.waiting_for) == ("AT+CMGS=24", "'> ' prompt")
    modem.wait_event("<ESC>")
    assert bytes(modem.received) == b"AT+CMGS=24\r\x1b"


def test_send_pdu_late_answer_after_timeout_is_discarded(channel: AtChannel, modem: FakeModem) -> None:
    modem.on("AT+CMGS=24", b"\r\n> ")
    modem.on(f"<PDU>{SUBMIT}", None)
    with pytest.raises(AtTimeout) as info:
        channel.send_pdu(24, SUBMIT, timeout=0.4)
    assert info.value.waiting_for == "final result"
    modem.send(ok("+CMGS: 5"))
    modem.on("AT+CPMS?", ok('+CPMS: "SM",30,30,"SM",30,30,"SM",30,30'))
    assert parse_cpms(channel.command("AT+CPMS?")) == (30, 30)


def test_logs_carry_no_phone_number_or_pdu(
    channel: AtChannel, modem: FakeModem, urcs: Urcs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="laporgub.at")
    modem.send(b'\r\n+CLIP: "+6281234567890",145,"",0,"",0\r\n')
    modem.on("AT+CMGR=1", ok("+CMGR: 0,,28", PDU1))
    modem.on("AT+CMGS=24", b"\r\n> ")
    modem.on(f"<PDU>{SUBMIT}", ok("+CMGS: 1"))
    urcs.wait(1)
    channel.command("AT+CMGR=1")
    channel.send_pdu(24, SUBMIT)
    assert "0812****7890" in caplog.text
    for secret in ("1234567890", PDU1, SUBMIT):
        assert secret not in caplog.text


def test_send_pdu_rejects_non_hex(channel: AtChannel) -> None:
    with pytest.raises(ValueError):
        channel.send_pdu(24, "00zz")
    with pytest.raises(ValueError):
        channel.send_pdu(0, SUBMIT)


def test_reset_prompt_writes_esc_then_at(channel: AtChannel, modem: FakeModem) -> None:
    modem.send(b"\r\n> ")  # what a crashed process left behind
    modem.on("<ESC>", b"\r\nOK\r\n")
    modem.on("AT", b"\r\nOK\r\n")
    channel.reset_prompt()
    assert bytes(modem.received) == b"\x1bAT\r"
    modem.on("AT+CSQ", ok("+CSQ: 9,0"))
    assert channel.command("AT+CSQ").lines == ("+CSQ: 9,0",)


def test_reset_prompt_swallows_errors_and_silence(channel: AtChannel, modem: FakeModem) -> None:
    modem.send(b"\xff\xfe junk without a line end")
    modem.on("AT", b"\r\nERROR\r\n")
    channel.reset_prompt()
    modem.wait_event("<ESC>")
    assert channel.is_open


# --------------------------------------------------------------------------
# The port vanishing, closing


def test_port_vanishing_fails_the_pending_command(modem: FakeModem) -> None:
    lost: list[PortClosed] = []
    lost_event = threading.Event()

    def port_lost(error: PortClosed) -> None:
        lost.append(error)
        lost_event.set()

    chan = AtChannel(modem.port, name="usb", on_port_lost=port_lost)
    chan.start()
    modem.on("AT+CMGL=4", None)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            chan.command("AT+CMGL=4", timeout=10)
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
            errors.append(exc)

    caller = threading.Thread(target=run)
    caller.start()
    modem.wait_event("AT+CMGL=4")
    modem.hang_up()
    caller.join(5)
    assert len(errors) == 1 and isinstance(errors[0], PortClosed)
    assert not chan.is_open
    assert lost_event.wait(5)
    assert len(lost) == 1
    with pytest.raises(PortClosed):
        chan.command("AT")
    chan.close()
    chan.close()


def test_close_fails_the_pending_command_and_is_idempotent(channel: AtChannel, modem: FakeModem) -> None:
    modem.on("AT+CMGS=24", b"\r\n> ")
    modem.on(f"<PDU>{SUBMIT}", None)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            channel.send_pdu(24, SUBMIT, timeout=10)
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
            errors.append(exc)

    caller = threading.Thread(target=run)
    caller.start()
    modem.wait_event(f"<PDU>{SUBMIT}")
    channel.close()
    caller.join(5)
    assert len(errors) == 1 and isinstance(errors[0], PortClosed)
    assert not channel.is_open
    channel.close()
    with pytest.raises(PortClosed):
        channel.command("AT")


# --------------------------------------------------------------------------
# Parsers on realistic samples


def resp(command: str, *lines: str) -> AtResponse:
    return AtResponse(command, lines, "OK")


@pytest.mark.parametrize(
    "header",
    [
        "+CMGL: 1,0,,28",  # Wavecom, SIM800, Quectel
        '+CMGL: 1,0,"",28',  # Huawei
        "+CMGL: 1,0,28",  # alpha field left out altogether
        '+CMGL: 1,0,"Doe, John",28',  # phonebook alpha with a comma
        "+CMGL:1, 0 , ,28",
    ],
)
def test_parse_cmgl_header_variants(header: str) -> None:
    assert parse_cmgl(resp("AT+CMGL=4", header, PDU1)) == [StoredPdu(1, 0, 28, PDU1)]


def test_parse_cmgl_several_and_empty() -> None:
    r = resp("AT+CMGL=4", "+CMGL: 0,1,,28", PDU1, "+CMGL: 11,0,,29", PDU2.lower())
    assert parse_cmgl(r) == [StoredPdu(0, 1, 28, PDU1), StoredPdu(11, 0, 29, PDU2.lower())]
    assert parse_cmgl(resp("AT+CMGL=4")) == []


def test_parse_cmgl_skips_damaged_entries() -> None:
    r = resp(
        "AT+CMGL=4",
        "+CMGL: 1,0,,28",  # PDU line missing
        "+CMGL: 2,0,,28",
        PDU1,
        '+CMGL: 3,"REC UNREAD","+6281234567890",,"26/11/28,10:00:00+28"',  # text mode
        "hello",
        "+CMGL: 4,0,,28",
        "0791ZZ",  # not hex
    )
    assert parse_cmgl(r) == [StoredPdu(2, 0, 28, PDU1)]


def test_parse_cmgr() -> None:
    assert parse_cmgr(resp("AT+CMGR=3", "+CMGR: 0,,28", PDU1), 3) == StoredPdu(3, 0, 28, PDU1)
    assert parse_cmgr(resp("AT+CMGR=3", '+CMGR: 1,"",28', PDU1), 3) == StoredPdu(3, 1, 28, PDU1)
    assert parse_cmgr(resp("AT+CMGR=4"), 4) is None  # empty slot: OK only
    assert parse_cmgr(resp("AT+CMGR=4", "+CMGR: 0,,0"), 4) is None  # SIM800 empty slot
    with pytest.raises(AtParseError):
        parse_cmgr(resp("AT+CMGR=5", "+CMGR: 0,,28"), 5)
    with pytest.raises(AtParseError):
        parse_cmgr(resp("AT+CMGR=5", '+CMGR: "REC READ","+6281234567890",,"26/11/28,10:00:00+28"', "hi"), 5)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('+CMTI: "SM",3', ("SM", 3)),
        ('+CMTI: "ME",12', ("ME", 12)),
        ("+CMTI: SM,0", ("SM", 0)),
        ('+CMTI:"MT", 7 ', ("MT", 7)),
        ("+CMT: ,24", None),
        ('+CMTI: "SM"', None),
        ("RING", None),
    ],
)
def test_parse_cmti(line: str, expected: tuple[str, int] | None) -> None:
    assert parse_cmti(line) == expected


def test_parse_csq_and_dbm() -> None:
    assert parse_csq(resp("AT+CSQ", "+CSQ: 20,99")) == (20, 99)
    assert parse_csq(resp("AT+CSQ", "+CSQ:31,0")) == (31, 0)
    assert parse_csq(resp("AT+CSQ", "+CSQ: 99,99")) == (99, 99)
    with pytest.raises(AtParseError):
        parse_csq(resp("AT+CSQ"))
    with pytest.raises(AtParseError):
        parse_csq(resp("AT+CSQ", "+CSQ: x,1"))
    assert csq_to_dbm(0) == -113.0
    assert csq_to_dbm(20) == -73.0
    assert csq_to_dbm(31) == -51.0
    assert csq_to_dbm(99) is None
    assert csq_to_dbm(150) is None


def test_parse_creg() -> None:
    assert parse_creg(resp("AT+CREG?", "+CREG: 0,1")) == (0, 1)
    assert parse_creg(resp("AT+CREG?", '+CREG: 2,5,"1A2B","01C3D4E5",7')) == (2, 5)  # Quectel LTE
    assert parse_creg(resp("AT+CREG?", '+CREG: 2,1,"00C3","2F0A"')) == (2, 1)  # SIM800
    assert parse_creg(resp("AT+CEREG?", "+CEREG: 0,1")) == (0, 1)
    assert parse_creg(resp("AT+CREG?", "+CREG: 5", "+CREG: 1,5")) == (1, 5)  # URC form skipped
    with pytest.raises(AtParseError):
        parse_creg(resp("AT+CREG?", "+CREG: 1"))


def test_parse_cpms() -> None:
    assert parse_cpms(resp("AT+CPMS?", '+CPMS: "SM",3,30,"SM",3,30,"SM",3,30')) == (3, 30)
    assert parse_cpms(resp("AT+CPMS?", '+CPMS: "SM_P",0,20,"SM_P",0,20,"SM_P",0,20')) == (0, 20)  # SIM800
    assert parse_cpms(resp('AT+CPMS="SM","SM","SM"', "+CPMS: 12,50,12,50,12,50")) == (12, 50)
    assert parse_cpms(resp('AT+CPMS="ME"', "+CPMS: 1,255,0,30,0,30")) == (1, 255)  # Huawei ME
    with pytest.raises(AtParseError):
        parse_cpms(resp("AT+CPMS?"))
    with pytest.raises(AtParseError):
        parse_cpms(resp("AT+CPMS?", '+CPMS: "SM"'))


def test_parse_cmgs() -> None:
    assert parse_cmgs("+CMGS: 42") == 42
    assert parse_cmgs("+CMGS:0") == 0
    assert parse_cmgs('+CMGS: 255,"26/11/28,10:00:00+28"') == 255
    with pytest.raises(AtParseError):
        parse_cmgs("+CMGS: ")
    with pytest.raises(AtParseError):
        parse_cmgs("OK")


def test_classifiers() -> None:
    assert is_final("OK") and is_final("+CMS ERROR: 500") and is_final("NO DIALTONE")
    assert not is_final("OK ") and not is_final("+CMGS: 4")
    assert is_urc('+CMTI: "SM",1') and is_urc("^RSSI: 14") and is_urc("Call Ready") and is_urc("+QIND: PB DONE")
    assert not is_urc("+CMGL: 1,0,,28") and not is_urc("+CSQ: 1,1")


def test_at_errors_pickle() -> None:
    import pickle

    err = pickle.loads(pickle.dumps(AtError("AT+CMGD=1", "+CMS ERROR: 321")))
    assert (err.command, err.final, err.code) == ("AT+CMGD=1", "+CMS ERROR: 321", 321)
    tmo = pickle.loads(pickle.dumps(AtTimeout("AT", 1.5, waiting_for="'> ' prompt")))
    assert (tmo.command, tmo.timeout, tmo.waiting_for) == ("AT", 1.5, "'> ' prompt")


# --------------------------------------------------------------------------
# The line splitter


def test_splitter_prompt_without_newline() -> None:
    s = LineSplitter()
    assert s.feed(b"AT+CMGS=24\r\r\n> ") == ["AT+CMGS=24", PROMPT]
    assert s.pending == b""
    assert s.feed(b"\r\n>") == [PROMPT]
    assert s.feed(b" ") == []  # the prompt's space, in the next read
    assert s.pending == b""
    assert s.feed(b"> 0011\x1a\r\n+CMGS: 3\r\n") == [PROMPT, "0011", "+CMGS: 3"]


def test_splitter_partial_lines_and_overlong_junk() -> None:
    s = LineSplitter(max_line=12)
    assert s.feed(b"\r\n+CSQ: 2") == []
    assert s.feed(b"0,0\r\n") == ["+CSQ: 20,0"]
    assert s.feed(b"0123456789AB0123456789AB01") == ["0123456789AB", "0123456789AB"]
    assert s.discard() == b"01"
    assert s.feed(b"\xffOK\x00\r") == ["OK"]


line_bytes = st.lists(
    st.one_of(
        st.sampled_from([b"\r\n", b"\r", b"\n", b"> ", b">", b"OK", b"+CMTI: \"SM\",3", b"\x1a", b"\x00", b"\xff"]),
        st.binary(max_size=12),
    ),
    max_size=30,
).map(b"".join)


@settings(max_examples=1000, deadline=None, database=None)
@given(data=line_bytes, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8))
def test_splitter_fuzz_chunking_does_not_matter(data: bytes, cuts: list[int]) -> None:
    whole = LineSplitter(max_line=64)
    expected = whole.feed(data)
    chunked = LineSplitter(max_line=64)
    got: list[object] = []
    previous = 0
    for cut in sorted(c for c in cuts if c <= len(data)) + [len(data)]:
        got += chunked.feed(data[previous:cut])
        previous = cut
    assert got == expected
    assert chunked.pending == whole.pending
    for item in got:
        if item is not PROMPT:
            assert isinstance(item, str) and item and "\r" not in item and "\n" not in item
            assert item == item.strip()


# --------------------------------------------------------------------------
# Parser fuzz: nothing but our own errors

field_text = st.one_of(
    st.text(max_size=12),
    st.integers(min_value=-5, max_value=10**6).map(str),
    st.sampled_from(['"SM"', '""', "", " ", "99", "٣", "0x1F", PDU1]),
)
at_lines = st.one_of(
    st.text(max_size=40),
    st.builds(
        lambda prefix, fields: prefix + ",".join(fields),
        st.sampled_from(["+CMGL: ", "+CMGR: ", "+CSQ: ", "+CREG: ", "+CEREG:", "+CPMS: ", "+CMGS: ", "+CMTI: "]),
        st.lists(field_text, max_size=7),
    ),
    st.sampled_from([PDU1, PDU2, "OK", "0791"]),
)


@settings(max_examples=400, deadline=None, database=None)
@given(lines=st.lists(at_lines, max_size=8), index=st.integers(min_value=0, max_value=500))
def test_parsers_fuzz_raise_only_our_errors(lines: list[str], index: int) -> None:
    r = AtResponse("AT+X", tuple(lines), "OK")
    for parse in (parse_cmgl, lambda x: parse_cmgr(x, index), parse_csq, parse_creg, parse_cpms):
        try:
            parse(r)
        except AtParseError:
            pass
    for line in lines:
        result = parse_cmti(line)
        assert result is None or (isinstance(result[0], str) and result[1] >= 0)
        try:
            assert parse_cmgs(line) >= 0
        except AtParseError:
            pass
        assert isinstance(AtError("AT", line).code, (int, type(None)))
    for entry in parse_cmgl(r):
        assert entry.index >= 0 and entry.pdu


@settings(max_examples=200, deadline=None, database=None)
@given(rssi=st.integers(min_value=-1000, max_value=1000))
def test_csq_to_dbm_fuzz(rssi: int) -> None:
    dbm = csq_to_dbm(rssi)
    assert dbm is None or -113.0 <= dbm <= -51.0
