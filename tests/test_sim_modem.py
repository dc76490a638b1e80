"""The GSM modem emulator, driven through a real serial.Serial on its pty with raw AT lines."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

from laporgub import pdu
from laporgub.sim.modem import ModemEmulator, SentSms

pytestmark = pytest.mark.timeout(30)

FINAL_RE = re.compile(rb"\r\n(OK|ERROR|\+CM[ES] ERROR: [^\r\n]*)\r\n")
LONG_TEXT = (
    "Lapor Gub, jalan provinsi di Kecamatan Bawen rusak parah sejak banjir bulan lalu, "
    "banyak lubang besar dan sudah tiga kali terjadi kecelakaan motor malam hari. "
    "Mohon segera diperbaiki sebelum musim hujan, terima kasih. Warga Desa Harjosari RT 03 RW 05."
)


class Host:
    """The host side: raw bytes on a real serial port, as the service's modem reader sees them."""

    def __init__(self, port: str) -> None:
        self.ser = serial.Serial(port, 115200, timeout=0.2)
        self.buf = b""

    def close(self) -> None:
        self.ser.close()

    def write(self, data: bytes) -> None:
        self.ser.write(data)

    def read_until(self, pattern: bytes | re.Pattern[bytes], timeout: float = 3.0) -> bytes:
        """Reads until pattern appears; returns everything up to and including it."""
        deadline = time.monotonic() + timeout
        while True:
            if isinstance(pattern, bytes):
                at = self.buf.find(pattern)
                end = at + len(pattern) if at >= 0 else -1
            else:
                match = pattern.search(self.buf)
                end = match.end() if match else -1
            if end >= 0:
                out, self.buf = self.buf[:end], self.buf[end:]
                return out
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {pattern!r}; got {self.buf!r}")
            self.buf += self.ser.read(max(1, self.ser.in_waiting))

    def read_for(self, seconds: float) -> bytes:
        """Everything that arrives within ``seconds`` (used to assert silence)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.buf += self.ser.read(max(1, self.ser.in_waiting))
        out, self.buf = self.buf, b""
        return out

    def command(self, line: str, timeout: float = 3.0) -> bytes:
        self.write(line.encode("latin-1") + b"\r")
        return self.read_until(FINAL_RE, timeout)

    def ok(self, line: str) -> list[str]:
        """Sends a command that must succeed; returns its non-empty response lines without OK."""
        response = self.command(line)
        assert response.endswith(b"\r\nOK\r\n"), (line, response)
        return lines(response)[:-1]

    def init(self, cnmi: str = "2,1,0,0,0") -> None:
        for line in ("ATE0", "AT+CMEE=1", "AT+CMGF=0", 'AT+CPMS="SM","SM","SM"', f"AT+CNMI={cnmi}"):
            self.ok(line)


def lines(response: bytes) -> list[str]:
    return [line.strip("\r") for line in response.decode("latin-1").split("\r\n") if line.strip("\r")]


def cmgl(host: Host, stat: int = 4) -> list[tuple[int, int, int, str]]:
    """(index, stat, length, pdu) per listed message."""
    out = host.ok(f"AT+CMGL={stat}")
    result = []
    for header, pdu_hex in zip(out[::2], out[1::2]):
        match = re.fullmatch(r"\+CMGL: (\d+),(\d),,(\d+)", header)
        assert match, header
        result.append((int(match[1]), int(match[2]), int(match[3]), pdu_hex))
    return result


@pytest.fixture
def modem():
    emulator = ModemEmulator(name="test-modem").start()
    yield emulator
    emulator.stop()


@pytest.fixture
def host(modem):
    h = Host(modem.port)
    yield h
    h.close()


def test_echo_until_ate0_and_none_after(modem, host):
    assert host.command("AT") == b"AT\r\r\nOK\r\n"
    assert host.command("ATE0") == b"ATE0\r\r\nOK\r\n"
    assert host.command("AT") == b"\r\nOK\r\n"
    assert host.command("ATE1") == b"\r\nOK\r\n"
    assert host.command("AT") == b"AT\r\r\nOK\r\n"
    assert modem.commands == ["AT", "ATE0", "AT", "ATE1", "AT"]
    assert os.path.islink(modem.port) and os.readlink(modem.port).startswith("/dev/pts/")


def test_identification_and_status_commands(modem, host):
    host.ok("ATE0")
    assert len(host.ok("ATI")) >= 2
    assert host.ok("AT+CGMI") and host.ok("AT+CGMM") and host.ok("AT+CGMR")
    (imei,) = host.ok("AT+CGSN")
    assert re.fullmatch(r"\d{15}", imei)
    (imsi,) = host.ok("AT+CIMI")
    assert imsi.startswith("510")
    assert host.ok("AT+CSQ") == ["+CSQ: 20,99"]
    assert host.ok("AT+CREG?") == ["+CREG: 0,1"]
    assert host.ok("AT+CSCA?") == ['+CSCA: "+62816124",145']
    assert host.ok("AT+CSMS?")[0].startswith("+CSMS: 0,")
    assert host.ok("AT+CMGF?") == ["+CMGF: 0"]
    assert host.ok('AT+CPMS="SM","SM","SM"') == ["+CPMS: 0,30,0,30,0,30"]
    assert host.ok("AT+CPMS?") == ['+CPMS: "SM",0,30,"SM",0,30,"SM",0,30']
    host.ok("AT+CNMI=2,1,0,0,0")
    assert host.ok("AT+CNMI?") == ["+CNMI: 2,1,0,0,0"]
    assert host.ok("AT+CNMI=?")[0].startswith("+CNMI: (")
    assert host.command("AT+FOOBAR") == b"\r\nERROR\r\n"
    assert host.command("ATE0;+CSQ") == b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n"


def test_error_formats_follow_cmee(modem, host):
    host.ok("ATE0")
    assert host.command("AT+CMGR=99") == b"\r\nERROR\r\n"
    host.ok("AT+CMEE=1")
    assert host.command("AT+CMGR=99") == b"\r\n+CMS ERROR: 321\r\n"
    host.ok("AT+CMEE=2")
    assert host.command("AT+CMGR=99") == b"\r\n+CMS ERROR: invalid memory index\r\n"
    host.ok("AT+CMGF=1")
    assert host.command("AT+CMGL=4") == b"\r\n+CMS ERROR: operation not allowed\r\n"


def test_cnmi_then_receive_sms_gives_cmti_with_index(modem, host):
    host.init()
    assert modem.receive_sms("+628123456789", "Lampu jalan mati") == [1]
    assert host.read_until(b"\r\n") == b"\r\n"
    assert host.read_until(b"\r\n") == b'+CMTI: "SM",1\r\n'
    assert modem.receive_sms("+628123456790", "Sampah menumpuk") == [2]
    host.read_until(b'+CMTI: "SM",2\r\n')
    host.ok("AT+CMGD=1")
    assert modem.receive_sms("+628123456791", "Banjir") == [1]  # first free slot
    host.read_until(b'+CMTI: "SM",1\r\n')


def test_cnmi_mt0_gives_no_indication_and_mt2_routes_cmt(modem, host):
    host.init(cnmi="2,0,0,0,0")
    assert modem.receive_sms("+628123456789", "tanpa URC") == [1]
    assert b"+CMTI" not in host.read_for(0.3)
    host.ok("AT+CNMI=2,2,0,0,0")
    assert modem.receive_sms("+628123456789", "langsung") == []
    response = host.read_until(re.compile(rb"\+CMT: ,(\d+)\r\n([0-9A-F]+)\r\n"))
    match = re.search(rb"\+CMT: ,(\d+)\r\n([0-9A-F]+)\r\n", response)
    assert pdu.decode_deliver(match[2].decode()).text == "langsung"
    assert list(modem.stored) == [1]


def test_cmgl_lists_pdus_that_decode_and_marks_them_read(modem, host):
    host.init()
    modem.receive_sms("+628123456789", "Jalan rusak di Ungaran")
    modem.receive_sms("+6285700001111", "Harga pupuk naik")
    host.read_until(b'+CMTI: "SM",2\r\n')
    listed = cmgl(host, 4)
    assert [(i, stat) for i, stat, _, _ in listed] == [(1, 0), (2, 0)]
    decoded = [pdu.decode_deliver(p) for _, _, _, p in listed]
    assert [(d.sender, d.text) for d in decoded] == [
        ("+628123456789", "Jalan rusak di Ungaran"),
        ("+6285700001111", "Harga pupuk naik"),
    ]
    for _, _, length, pdu_hex in listed:
        sca_octets = int(pdu_hex[:2], 16) + 1
        assert length == len(pdu_hex) // 2 - sca_octets  # TPDU length excludes the SCA
    assert cmgl(host, 0) == []
    assert [stat for _, stat, _, _ in cmgl(host, 1)] == [1, 1]
    assert host.command('AT+CMGL="ALL"') == b"\r\nERROR\r\n"


def test_cmgr_and_cmgd(modem, host):
    host.init(cnmi="2,0,0,0,0")
    modem.receive_sms("+628123456789", "satu")
    modem.receive_sms("+628123456789", "dua")
    modem.receive_sms("+628123456789", "tiga")
    header, pdu_hex = host.ok("AT+CMGR=2")
    assert re.fullmatch(r"\+CMGR: 0,,\d+", header)
    assert pdu.decode_deliver(pdu_hex).text == "dua"
    assert host.ok("AT+CMGR=2")[0].startswith("+CMGR: 1,,")
    assert modem.stored_status == {1: 0, 2: 1, 3: 0}
    host.ok("AT+CMGD=2")
    assert host.ok("AT+CMGR=2") == []  # empty slot: just OK
    assert host.command("AT+CMGR=31") == b"\r\n+CMS ERROR: 321\r\n"
    assert host.command("AT+CMGD=0") == b"\r\n+CMS ERROR: 321\r\n"
    host.ok("AT+CMGR=1")
    host.ok("AT+CMGD=1,1")  # all read
    assert list(modem.stored) == [3]
    host.ok("AT+CMGD=0,4")  # all
    assert modem.stored == {}


def test_storage_full_refuses(tmp_path):
    with ModemEmulator(storage_size=2, link_path=tmp_path / "gsm0") as emulator:
        assert emulator.port == str(tmp_path / "gsm0")
        h = Host(emulator.port)
        try:
            h.init()
            assert emulator.receive_sms("+628123456789", "satu") == [1]
            assert emulator.receive_sms("+628123456789", "dua") == [2]
            h.read_until(b'+CMTI: "SM",2\r\n')
            assert emulator.receive_sms("+628123456789", "tiga") == []
            assert emulator.rejected == 1
            assert h.ok("AT+CPMS?") == ['+CPMS: "SM",2,2,"SM",2,2,"SM",2,2']
            assert [pdu.decode_deliver(p).text for p in emulator.stored.values()] == ["satu", "dua"]
        finally:
            h.close()
    assert not os.path.lexists(tmp_path / "gsm0")


def test_multipart_stored_in_given_order(modem, host):
    host.init()
    text = LONG_TEXT + " " + LONG_TEXT[:100]
    indexes = modem.receive_sms("+628123456789", text, order=(3, 1, 2))
    assert indexes == [1, 2, 3]
    for index in indexes:
        host.read_until(f'+CMTI: "SM",{index}\r\n'.encode())
    parts = [pdu.decode_deliver(p) for _, _, _, p in cmgl(host)]
    assert [p.concat.sequence for p in parts] == [3, 1, 2]
    assert {p.concat.total for p in parts} == {3}
    assert len({p.concat.reference for p in parts}) == 1
    assert pdu.join_parts(parts) == text
    # a missing part and 16-bit references
    assert len(modem.receive_sms("+628123456789", LONG_TEXT, ref_bits=16, order=[2])) == 1
    assert pdu.decode_deliver(modem.stored[4]).concat.ref_bits == 16


def test_cmgs_prompt_flow(modem, host):
    host.init()
    (submit,) = pdu.encode_submit("+6281234567890", "Tiket 261128-0200-1")
    host.write(f"AT+CMGS={submit.tpdu_length}\r".encode())
    assert host.read_until(b"> ") == b"\r\n> "
    assert host.read_for(0.2) == b""  # no newline after the prompt
    host.write(submit.hex.encode() + b"\x1a")
    assert host.read_until(FINAL_RE) == b"\r\n+CMGS: 1\r\n\r\nOK\r\n"
    assert modem.sent == [
        SentSms(
            destination="+6281234567890",
            destination_toa=0x91,
            text="Tiket 261128-0200-1",
            pdu=submit.hex,
            tpdu_length=submit.tpdu_length,
            message_reference=1,
            concat=None,
        )
    ]
    # multipart: one SentSms per part, message references count up
    parts = pdu.encode_submit("+6281234567890", LONG_TEXT)
    assert len(parts) == 2
    for part in parts:
        host.write(f"AT+CMGS={part.tpdu_length}\r".encode())
        host.read_until(b"> ")
        host.write(part.hex.encode() + b"\x1a")
        host.read_until(FINAL_RE)
    sent = modem.sent
    assert [s.message_reference for s in sent] == [1, 2, 3]
    assert [s.concat.sequence for s in sent[1:]] == [1, 2]
    assert modem.sent_messages[-1] == ("+6281234567890", LONG_TEXT)


def test_cmgs_with_echo_on_echoes_the_pdu(modem, host):
    host.ok('AT+CMEE=1')
    (submit,) = pdu.encode_submit("+6281234567890", "halo")
    host.write(f"AT+CMGS={submit.tpdu_length}\r".encode())
    assert host.read_until(b"> ") == f"AT+CMGS={submit.tpdu_length}\r\r\n> ".encode()
    host.write(submit.hex.encode() + b"\x1a")
    assert host.read_until(FINAL_RE) == submit.hex.encode() + b"\r\n+CMGS: 1\r\n\r\nOK\r\n"


def test_cmgs_wrong_length_and_bad_pdu_are_refused(modem, host):
    host.init()
    (submit,) = pdu.encode_submit("+6281234567890", "Tiket 261128-0200-1")
    host.write(f"AT+CMGS={submit.tpdu_length + 1}\r".encode())
    host.read_until(b"> ")
    host.write(submit.hex.encode() + b"\x1a")
    assert host.read_until(FINAL_RE) == b"\r\n+CMS ERROR: 305\r\n"
    host.write(b"AT+CMGS=5\r")
    host.read_until(b"> ")
    host.write(b"00ZZ11\x1a")
    assert host.read_until(FINAL_RE) == b"\r\n+CMS ERROR: 304\r\n"
    (deliver,) = pdu.encode_deliver("+628123456789", "bukan submit")  # an SMS-DELIVER is no SMS-SUBMIT
    host.write(f"AT+CMGS={len(deliver) // 2 - 1 - int(deliver[:2], 16)}\r".encode())
    host.read_until(b"> ")
    host.write(deliver.encode() + b"\x1a")
    assert host.read_until(FINAL_RE) == b"\r\n+CMS ERROR: 304\r\n"
    assert modem.sent == []
    assert host.command("AT") == b"\r\nOK\r\n"


def test_escape_aborts_cmgs(modem, host):
    host.init()
    (submit,) = pdu.encode_submit("+6281234567890", "batal")
    host.write(f"AT+CMGS={submit.tpdu_length}\r".encode())
    host.read_until(b"> ")
    host.write(submit.hex[:10].encode() + b"\x1b")
    assert host.read_until(FINAL_RE) == b"\r\nOK\r\n"
    assert modem.sent == []
    assert host.command("AT") == b"\r\nOK\r\n"


def test_lone_escape_and_garbage_do_not_wedge(modem, host):
    host.write(b"\x1b")
    host.write(b"\x00\xff\xfegarbage\x1a\r\n")
    host.write(b"x" * 2000)  # discarded: no "AT" prefix
    assert host.command("AT").endswith(b"AT\r\r\nOK\r\n")
    assert host.command("AT+CSQ" + "X" * 600).endswith(b"\r\nERROR\r\n")  # overlong line
    assert host.command("AT").endswith(b"AT\r\r\nOK\r\n")
    host.write(b"noise ATE0\r")
    assert host.read_until(FINAL_RE).endswith(b"\r\nOK\r\n")
    assert host.command("AT") == b"\r\nOK\r\n"
    assert modem.commands[-2:] == ["ATE0", "AT"]


def test_fail_next(modem, host):
    host.init(cnmi="2,0,0,0,0")
    modem.receive_sms("+628123456789", "satu")
    modem.fail_next("AT+CMGD", error="+CMS ERROR: 321", times=2)
    assert host.command("AT+CMGD=1") == b"\r\n+CMS ERROR: 321\r\n"
    assert host.command("AT+CMGD=1") == b"\r\n+CMS ERROR: 321\r\n"
    assert list(modem.stored) == [1]  # a failed command does not run
    host.ok("AT+CMGD=1")
    assert modem.stored == {}
    modem.fail_next("AT+CSQ")
    assert host.command("AT+CSQ") == b"\r\nERROR\r\n"
    assert host.ok("AT+CSQ") == ["+CSQ: 20,99"]


def test_inject_urc_during_cmgl(modem, host):
    host.init()
    modem.receive_sms("+628123456789", "satu")
    modem.receive_sms("+628123456789", "dua")
    host.read_until(b'+CMTI: "SM",2\r\n')
    modem.inject_urc_during("AT+CMGL", '+CMTI: "SM",3')
    out = lines(host.command("AT+CMGL=4"))
    assert out[0].startswith("+CMGL: 1,")
    assert out[2] == '+CMTI: "SM",3'
    assert out[3].startswith("+CMGL: 2,")
    assert out[-1] == "OK"
    assert lines(host.command("AT+CMGL=4")).count('+CMTI: "SM",3') == 0  # only once


def test_hung_modem_answers_nothing(modem, host):
    host.init()
    modem.set_hung(True)
    host.write(b"AT\r")
    assert host.read_for(0.5) == b""
    modem.receive_sms("+628123456789", "hilang")
    assert host.read_for(0.2) == b""
    modem.set_hung(False)
    assert host.command("AT") == b"\r\nOK\r\n"


def test_response_delay(modem, host):
    host.ok("ATE0")
    modem.set_delay(0.3)
    started = time.monotonic()
    host.ok("AT")
    assert time.monotonic() - started >= 0.3
    modem.set_delay(0)


def test_drop_and_restore_port(modem, host):
    host.init()
    modem.receive_sms("+628123456789", "tersimpan")
    host.read_until(b"+CMTI")
    old_device = modem.device
    modem.drop_port()
    assert not os.path.lexists(modem.port)
    with pytest.raises(serial.SerialException):
        host.ser.write(b"AT\r")
        host.ser.read(10)
    host.close()
    with pytest.raises(serial.SerialException):
        Host(modem.port)
    modem.restore_port()
    assert os.path.islink(modem.port)
    assert modem.device and modem.device == os.readlink(modem.port)
    assert old_device is not None
    again = Host(modem.port)
    try:
        assert again.command("AT") == b"AT\r\r\nOK\r\n"  # power cycle: echo back on
        again.ok("ATE0")
        assert again.ok("AT+CNMI?") == ["+CNMI: 0,0,0,0,0"]
        assert [pdu.decode_deliver(p).text for _, _, _, p in cmgl(again)] == ["tersimpan"]
    finally:
        again.close()


def test_indications_lost_while_port_closed(modem, host):
    host.init()
    host.close()
    assert modem.wait_for(lambda m: not m.host_connected, timeout=3)
    assert modem.receive_sms("+628123456789", "saat port tertutup") == [1]
    assert modem.lost_indications == 1
    reopened = Host(modem.port)
    try:
        assert reopened.command("AT") == b"\r\nOK\r\n"  # settings survive a port close
        assert modem.host_connected
        assert b"+CMTI" not in reopened.read_for(0.3)
        assert [pdu.decode_deliver(p).text for _, _, _, p in cmgl(reopened)] == ["saat port tertutup"]
        modem.receive_sms("+628123456789", "sesudah dibuka lagi")
        reopened.read_until(b'+CMTI: "SM",2\r\n')
    finally:
        reopened.close()


def test_pin_flow():
    with ModemEmulator(pin="1234") as emulator:
        h = Host(emulator.port)
        try:
            h.ok("ATE0")
            h.ok("AT+CMEE=1")
            assert h.ok("AT+CPIN?") == ["+CPIN: SIM PIN"]
            assert h.command("AT+CMGL=4") == b"\r\n+CMS ERROR: 311\r\n"
            assert h.command('AT+CPMS="SM","SM","SM"') == b"\r\n+CMS ERROR: 311\r\n"
            assert h.command("AT+CIMI") == b"\r\n+CME ERROR: 11\r\n"
            assert h.command("AT+CPIN=0000") == b"\r\n+CME ERROR: 16\r\n"
            h.ok('AT+CPIN="1234"')
            assert h.ok("AT+CPIN?") == ["+CPIN: READY"]
            assert h.ok("AT+CMGL=4") == []
            assert h.command("AT+CPIN=1234") == b"\r\n+CME ERROR: 3\r\n"
        finally:
            h.close()
        emulator.drop_port()
        emulator.restore_port()
        h = Host(emulator.port)
        try:
            assert h.ok("AT+CPIN?") == ["AT+CPIN?", "+CPIN: SIM PIN"]  # power cycle: PIN again, echo on
        finally:
            h.close()


def test_stop_is_idempotent_and_prompt():
    emulator = ModemEmulator().start()
    port = emulator.port
    assert emulator.wait_for(lambda m: os.path.islink(m.port), timeout=1)
    started = time.monotonic()
    emulator.stop()
    emulator.stop()
    assert time.monotonic() - started < 1.0
    assert not os.path.lexists(port)


def test_cli_delivers_stdin_lines_and_prints_sent(tmp_path):
    link = tmp_path / "modem"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "laporgub.sim.modem", "--link", str(link)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout.readline().strip() == str(link)
        proc.stdin.write("+628123456789 Jalan berlubang di Salatiga\n")
        proc.stdin.flush()
        assert "stored at [1]" in proc.stdout.readline()
        h = Host(str(link))
        try:
            h.init()
            assert [pdu.decode_deliver(p).text for _, _, _, p in cmgl(h)] == ["Jalan berlubang di Salatiga"]
            (submit,) = pdu.encode_submit("+6281234567890", "Tiket 261128-6789-1")
            h.write(f"AT+CMGS={submit.tpdu_length}\r".encode())
            h.read_until(b"> ")
            h.write(submit.hex.encode() + b"\x1a")
            h.read_until(FINAL_RE)
        finally:
            h.close()
        assert proc.stdout.readline().strip() == "SMS to +6281234567890: Tiket 261128-6789-1"
        proc.stdin.close()
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
