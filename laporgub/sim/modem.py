"""A GSM modem emulator on a real pty, no kinder than the hardware it stands in for.

It speaks the AT command set of 3GPP TS 27.007/27.005 in PDU mode the way common
USB modems (Wavecom, SIMCom, Quectel) do: echo until ``ATE0``, ``\\r\\n``-framed
responses, the ``> `` prompt of ``AT+CMGS`` without a newline, ``+CMTI`` URCs that
are lost while no host has the port open, a SIM that refuses SMS when full, and a
USB device that can vanish (:meth:`ModemEmulator.drop_port`) and come back
(:meth:`ModemEmulator.restore_port`) like a power cycle.

The host side is an ordinary serial port: :attr:`ModemEmulator.port` is a symlink
to the current ``/dev/pts/N``, so ``serial.Serial(emulator.port)`` exercises the
real pyserial code path, timeouts and reconnects.

One daemon thread serves the pty with ``poll()``; everything else (the network
side, fault injection, inspection) is thread-safe and may be called from tests.

Run ``python -m laporgub.sim.modem`` for an interactive modem: it prints the port
path, delivers each stdin line ``+628123456789 some text`` as an SMS and prints
every SMS the host sends.
"""

from __future__ import annotations

import argparse
import collections
import errno
import fcntl
import logging
import os
import pty
import re
import select
import shutil
import sys
import tempfile
import threading
import tty
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from laporgub import pdu as _pdu
from laporgub.pdu import ConcatInfo

__all__ = ["ModemEmulator", "SentSms"]

logger = logging.getLogger(__name__)

_CR = 0x0D
_LF = 0x0A
_BS = 0x08
_DEL = 0x7F
_CTRL_Z = 0x1A
_ESC = 0x1B

#: Longest command line the emulator buffers (SIMCom: 556 characters); longer lines answer ERROR.
_MAX_LINE = 556
#: Longest PDU text buffered after the prompt (an SMS-SUBMIT is at most 12 + 164 octets).
_MAX_PDU_CHARS = 2 * (12 + 164) + 64
#: Longest TPDU an SMS-SUBMIT can have, in octets.
_MAX_TPDU = 164
#: How long a write to the pty may stall (host not reading) before the rest is dropped.
_WRITE_STALL_S = 2.0
#: Poll period while a host has the port open (stop() latency) and while none has.
_POLL_OPEN_MS = 50
_POLL_CLOSED_MS = 20

_MANUFACTURER = "LAPORGUB"
_MODEL = "EMU900"
_REVISION = "EMU900R01A01"
_OPERATOR = "TELKOMSEL"

_CME_TEXT = {
    3: "operation not allowed",
    4: "operation not supported",
    10: "SIM not inserted",
    11: "SIM PIN required",
    12: "SIM PUK required",
    13: "SIM failure",
    16: "incorrect password",
    21: "invalid index",
    50: "incorrect parameters",
    100: "unknown",
}
_CMS_TEXT = {
    300: "ME failure",
    302: "operation not allowed",
    303: "operation not supported",
    304: "invalid PDU mode parameter",
    305: "invalid text mode parameter",
    310: "SIM not inserted",
    311: "SIM PIN required",
    313: "SIM failure",
    316: "SIM PUK required",
    320: "memory failure",
    321: "invalid memory index",
    322: "memory full",
    330: "SMSC address unknown",
    340: "no +CNMA acknowledgement expected",
    500: "unknown error",
}

_HEX_RE = re.compile(r"[0-9A-Fa-f]*")
_BASIC_RE = re.compile(r"(&?[A-Z])(\d*)")
_EXT_RE = re.compile(r"\+([A-Z][A-Z0-9]*)")

# Message status (27.005 <stat> in PDU mode).
_REC_UNREAD = 0
_REC_READ = 1

_PIN_READY = "READY"
_PIN_SIM_PIN = "SIM PIN"
_PIN_SIM_PUK = "SIM PUK"
_PUK = "12345678"


@dataclass(frozen=True, slots=True)
class SentSms:
    """One SMS-SUBMIT part the host sent with ``AT+CMGS``, as the network received it."""

    destination: str
    destination_toa: int
    text: str
    pdu: str
    tpdu_length: int
    message_reference: int
    concat: ConcatInfo | None


class _CommandError(Exception):
    """A command's final result code is an error: kind "plain" (ERROR), "cme" or "cms"."""

    def __init__(self, kind: str, code: int = 0) -> None:
        super().__init__(kind, code)
        self.kind = kind
        self.code = code


def _syntax() -> _CommandError:
    return _CommandError("plain")


def _cme(code: int) -> _CommandError:
    return _CommandError("cme", code)


def _cms(code: int) -> _CommandError:
    return _CommandError("cms", code)


@dataclass
class _Settings:
    """Per-power-cycle settings; ATZ/AT&F restore the same defaults except the SIM state."""

    echo: bool = True
    verbose: bool = True
    quiet: bool = False
    cmee: int = 0
    cmgf: int = 0
    cnmi: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)
    creg_n: int = 0
    cscs: str = "GSM"
    csms: int = 0
    s_registers: dict[int, int] = field(default_factory=dict)


@dataclass
class _Slot:
    stat: int
    pdu: str


@dataclass
class _PendingSubmit:
    length: int
    inject: str | None
    buf: bytearray = field(default_factory=bytearray)
    overflow: bool = False


@dataclass
class _FaultRule:
    prefix: str
    value: str
    remaining: int


def _split_args(text: str) -> list[tuple[str, bool]]:
    """Splits ``a,"b,c",d`` into ``[(a, False), (b,c, True), (d, False)]``; raises on an open quote."""
    args: list[tuple[str, bool]] = []
    current: list[str] = []
    quoted = False
    in_quote = False
    for ch in text:
        if in_quote:
            if ch == '"':
                in_quote = False
            else:
                current.append(ch)
        elif ch == '"':
            if "".join(current).strip():
                raise _syntax()
            current = []
            in_quote = True
            quoted = True
        elif ch == ",":
            args.append(("".join(current) if quoted else "".join(current).strip(), quoted))
            current = []
            quoted = False
        else:
            if quoted and not ch.isspace():
                raise _syntax()
            if not quoted or not ch.isspace():
                current.append(ch)
    if in_quote:
        raise _syntax()
    args.append(("".join(current) if quoted else "".join(current).strip(), quoted))
    return args


def _int_arg(arg: tuple[str, bool] | None, lo: int, hi: int, default: int | None = None) -> int:
    if arg is None or (not arg[1] and arg[0] == ""):
        if default is None:
            raise _syntax()
        return default
    value, quoted = arg
    if quoted or not value.isdigit():
        raise _syntax()
    number = int(value)
    if not lo <= number <= hi:
        raise _syntax()
    return number


def _str_arg(arg: tuple[str, bool] | None) -> str:
    if arg is None or not arg[1]:
        raise _syntax()
    return arg[0]


def _tpdu_length(pdu_hex: str) -> int:
    """Octets after the SCA; best effort for corrupt PDUs."""
    try:
        sca = int(pdu_hex[:2], 16)
    except ValueError:
        sca = 0
    return max(0, len(pdu_hex) // 2 - 1 - sca)


def _luhn_complete(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return digits + str((10 - total % 10) % 10)


class ModemEmulator:
    """A GSM modem on a pty. See the module docstring; :meth:`start` it, then open :attr:`port`."""

    def __init__(
        self,
        *,
        name: str = "sim-modem",
        storage_size: int = 30,
        pin: str | None = None,
        echo: bool = True,
        smsc: str = "+62816124",
        response_delay: float = 0.0,
        link_path: str | os.PathLike[str] | None = None,
    ) -> None:
        if storage_size < 1:
            raise ValueError("storage_size must be at least 1")
        self.name = name
        self._storage_size = storage_size
        self._pin = pin
        self._initial_echo = echo
        self._smsc = smsc
        self._csca = smsc
        self._delay = float(response_delay)
        self._link_path: Path | None = Path(link_path) if link_path is not None else None
        self._own_tmpdir: str | None = None

        seed = zlib.crc32(name.encode("utf-8"))
        self._imei = _luhn_complete("35" + f"{seed:012d}"[-12:])
        self._imsi = "51010" + f"{seed:010d}"[-10:]
        self._concat_ref = seed % 200 + 1
        self._next_mr = 1

        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._slots: dict[int, _Slot] = {}
        self._sent: list[SentSms] = []
        self._commands: list[str] = []
        self._rejected = 0
        self._lost_urcs = 0
        self._fail_rules: list[_FaultRule] = []
        self._inject_rules: list[_FaultRule] = []
        self._hung = False

        self._settings = self._fresh_settings()
        self._pin_state = _PIN_SIM_PIN if pin is not None else _PIN_READY
        self._pin_attempts = 3

        # Serving-thread state.
        self._master: int | None = None
        self._device: str | None = None
        self._connected = False
        self._line = bytearray()
        self._line_overflow = False
        self._submit: _PendingSubmit | None = None
        self._urcs: collections.deque[str] = collections.deque()
        self._ta_buffer: list[str] = []  # URCs held under CNMI mode 0
        self._controls: collections.deque[tuple[Callable[[], None], threading.Event]] = collections.deque()
        self._wake_r: int | None = None
        self._wake_w: int | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._started = False
        self._stopped = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> ModemEmulator:
        """Opens the pty, creates the port symlink and starts the serving thread; returns self."""
        with self._lock:
            if self._stopped:
                raise RuntimeError("a stopped ModemEmulator cannot be restarted")
            if self._started:
                return self
            self._started = True
        if self._link_path is None:
            self._own_tmpdir = tempfile.mkdtemp(prefix="laporgub-modem-")
            safe = re.sub(r"[^A-Za-z0-9_.-]", "_", self.name) or "modem"
            self._link_path = Path(self._own_tmpdir) / safe
        self._wake_r, self._wake_w = os.pipe()
        for fd in (self._wake_r, self._wake_w):
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
        self._open_pty()
        self._thread = threading.Thread(target=self._serve, name=f"modem-emulator-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops the serving thread, closes the pty and removes the symlink. Idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            started = self._started
        if not started:
            return
        self._stopping.set()
        self._wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        with self._lock:
            self._close_master()
            self._remove_link()
            for fd in (self._wake_r, self._wake_w):
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self._wake_r = self._wake_w = None
            if self._own_tmpdir is not None:
                shutil.rmtree(self._own_tmpdir, ignore_errors=True)
                self._own_tmpdir = None
            self._cond.notify_all()

    def __enter__(self) -> ModemEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ inspection

    @property
    def port(self) -> str:
        """The path to configure: a symlink that follows the current ``/dev/pts/N``."""
        if self._link_path is None:
            raise RuntimeError("the emulator is not started: no port yet")
        return str(self._link_path)

    @property
    def device(self) -> str | None:
        """The current ``/dev/pts/N``, or None while the port is dropped."""
        with self._lock:
            return self._device

    @property
    def stored(self) -> dict[int, str]:
        """SIM storage: index -> PDU hex (snapshot)."""
        with self._lock:
            return {index: slot.pdu for index, slot in sorted(self._slots.items())}

    @property
    def stored_status(self) -> dict[int, int]:
        """SIM storage: index -> <stat> (0 unread, 1 read) (snapshot)."""
        with self._lock:
            return {index: slot.stat for index, slot in sorted(self._slots.items())}

    @property
    def sent(self) -> list[SentSms]:
        """Every SMS-SUBMIT part accepted from the host, in order (snapshot)."""
        with self._lock:
            return list(self._sent)

    @property
    def sent_messages(self) -> list[tuple[str, str]]:
        """(destination, text) per sent message, multipart texts joined once all parts are in."""
        with self._lock:
            sent = list(self._sent)
        result: list[tuple[str, str]] = []
        groups: dict[tuple[str, int, int], dict[int, SentSms]] = {}
        for sms in sent:
            if sms.concat is None or sms.concat.total <= 1:
                result.append((sms.destination, sms.text))
                continue
            key = (sms.destination, sms.concat.reference, sms.concat.total)
            parts = groups.setdefault(key, {})
            parts[sms.concat.sequence] = sms
            if len(parts) == sms.concat.total:
                # Join the raw payloads, so a character split across parts comes out whole.
                decoded = [_pdu.decode_submit(parts[i].pdu) for i in sorted(parts)]
                result.append((sms.destination, _pdu.join_parts(decoded)))
                del groups[key]
        return result

    @property
    def commands(self) -> list[str]:
        """Every command line received (from its ``AT`` prefix, CR stripped), in order (snapshot)."""
        with self._lock:
            return list(self._commands)

    @property
    def rejected(self) -> int:
        """SMS parts refused because SIM storage was full."""
        with self._lock:
            return self._rejected

    @property
    def lost_indications(self) -> int:
        """URCs (``+CMTI``/``+CMT``) that never reached a host: port closed, dropped, hung, CNMI mode."""
        with self._lock:
            return self._lost_urcs

    @property
    def host_connected(self) -> bool:
        """Whether a host currently has the slave side of the pty open."""
        with self._lock:
            return self._connected

    @property
    def pin_state(self) -> str:
        """``READY``, ``SIM PIN`` or ``SIM PUK``."""
        with self._lock:
            return self._pin_state

    def wait_for(self, predicate: Callable[[ModemEmulator], bool], timeout: float = 10.0) -> bool:
        """Waits until ``predicate(self)`` is true (re-checked on every state change); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    # ------------------------------------------------------------------ network side

    def receive_sms(
        self,
        sender: str,
        text: str,
        *,
        timestamp: datetime | None = None,
        encoding: str | None = None,
        ref_bits: int = 8,
        order: Sequence[int] | None = None,
        notify: bool = True,
    ) -> list[int]:
        """An SMS arrives from the network; returns the SIM indexes its parts were stored at.

        Parts are delivered in ``order`` (1-based part numbers; may omit or repeat parts).
        A part that finds the SIM full is refused and counted in :attr:`rejected`.
        With ``AT+CNMI`` mt=2 a part is routed as ``+CMT`` and not stored (lost when no host
        listens). ``notify=False`` stores silently whatever CNMI says.
        """
        with self._lock:
            reference = self._concat_ref & (0xFF if ref_bits == 8 else 0xFFFF)
            self._concat_ref = (self._concat_ref + 1) % 0x10000 or 1
        parts = _pdu.encode_deliver(
            sender,
            text,
            timestamp=timestamp,
            smsc=self._smsc,
            encoding=encoding,
            concat_reference=reference,
            ref_bits=ref_bits,
        )
        sequence = list(order) if order is not None else list(range(1, len(parts) + 1))
        for number in sequence:
            if not 1 <= number <= len(parts):
                raise ValueError(f"part {number} out of range 1..{len(parts)}")
        indexes: list[int] = []
        with self._lock:
            for number in sequence:
                index = self._deliver_locked(parts[number - 1], notify)
                if index is not None:
                    indexes.append(index)
        return indexes

    def receive_pdu(self, pdu_hex: str, *, notify: bool = True) -> int | None:
        """A raw (possibly corrupt) SMS-DELIVER PDU arrives; stored as given. Returns its index."""
        with self._lock:
            return self._deliver_locked(pdu_hex, notify)

    def _deliver_locked(self, pdu_hex: str, notify: bool) -> int | None:
        mt = self._settings.cnmi[1]
        if notify and mt == 2:
            self._queue_urc_locked(f"+CMT: ,{_tpdu_length(pdu_hex)}\r\n{pdu_hex}")
            self._cond.notify_all()
            return None
        index = next((i for i in range(1, self._storage_size + 1) if i not in self._slots), None)
        if index is None:
            self._rejected += 1
            logger.info("%s: SIM full, SMS refused", self.name)
            self._cond.notify_all()
            return None
        self._slots[index] = _Slot(_REC_UNREAD, pdu_hex)
        if notify and mt in (1, 3):
            self._queue_urc_locked(f'+CMTI: "SM",{index}')
        self._cond.notify_all()
        return index

    def _queue_urc_locked(self, urc: str) -> None:
        if not self._connected or self._hung or self._master is None:
            self._lost_urcs += 1
            return
        if self._settings.cnmi[0] == 0:
            self._ta_buffer.append(urc)
            del self._ta_buffer[:-16]
            return
        self._urcs.append(urc)
        self._wake()

    # ------------------------------------------------------------------ faults

    def set_delay(self, seconds: float) -> None:
        """Waits ``seconds`` before every response (and before the ``> `` prompt)."""
        with self._lock:
            self._delay = max(0.0, float(seconds))

    def fail_next(self, prefix: str, *, error: str = "ERROR", times: int = 1) -> None:
        """The next ``times`` command lines starting with ``prefix`` answer ``error`` without running."""
        with self._lock:
            self._fail_rules.append(_FaultRule(prefix.upper(), error, times))

    def inject_urc_during(self, prefix: str, urc: str) -> None:
        """The next response to a command starting with ``prefix`` carries ``urc`` between its lines.

        It goes after the second response line (e.g. after the first ``+CMGL`` header and
        its PDU), or just before the final result code of a shorter response.
        """
        with self._lock:
            self._inject_rules.append(_FaultRule(prefix.upper(), urc, 1))

    def set_hung(self, hung: bool) -> None:
        """A hung modem reads and discards everything and answers nothing."""
        with self._lock:
            self._hung = bool(hung)
            self._cond.notify_all()
        self._wake()

    def drop_port(self) -> None:
        """The USB device vanishes: the pty master closes and the symlink goes away."""
        self._control(self._do_drop)

    def restore_port(self) -> None:
        """A new pty appears behind the same symlink; the modem power-cycles, SIM storage kept."""
        self._control(self._do_restore)

    def _control(self, action: Callable[[], None]) -> None:
        with self._lock:
            if not self._started or self._stopped:
                raise RuntimeError("the emulator is not running")
            thread = self._thread
            if thread is None or thread is threading.current_thread() or not thread.is_alive():
                action()
                return
            done = threading.Event()
            self._controls.append((action, done))
        self._wake()
        if not done.wait(timeout=10.0 + self._delay):
            raise RuntimeError("the emulator thread did not answer")

    def _do_drop(self) -> None:
        with self._lock:
            self._close_master()
            self._remove_link()
            self._cond.notify_all()

    def _do_restore(self) -> None:
        with self._lock:
            self._close_master()
            self._settings = self._fresh_settings()
            self._pin_state = _PIN_SIM_PIN if self._pin is not None else _PIN_READY
            self._pin_attempts = 3
            self._hung = False
            self._open_pty()
            self._cond.notify_all()

    # ------------------------------------------------------------------ pty plumbing

    def _fresh_settings(self) -> _Settings:
        return _Settings(echo=self._initial_echo)

    def _open_pty(self) -> None:
        master, slave = pty.openpty()
        try:
            tty.setraw(master)
            tty.setraw(slave)
            device = os.ttyname(slave)
        finally:
            # Without our own slave fd, poll() on the master reports POLLHUP while no host has it open.
            os.close(slave)
        fcntl.fcntl(master, fcntl.F_SETFL, fcntl.fcntl(master, fcntl.F_GETFL) | os.O_NONBLOCK)
        with self._lock:
            self._master = master
            self._device = device
            self._connected = False
            self._reset_parser()
            self._point_link(device)

    def _close_master(self) -> None:
        with self._lock:
            if self._master is not None:
                try:
                    os.close(self._master)
                except OSError:
                    pass
            self._master = None
            self._device = None
            self._connected = False
            self._reset_parser()

    def _reset_parser(self) -> None:
        self._line.clear()
        self._line_overflow = False
        self._submit = None
        self._lost_urcs += len(self._urcs) + len(self._ta_buffer)
        self._urcs.clear()
        self._ta_buffer.clear()

    def _point_link(self, device: str) -> None:
        assert self._link_path is not None
        link = self._link_path
        if link.exists() and not link.is_symlink():
            raise FileExistsError(f"{link} exists and is not a symlink")
        tmp = link.with_name(f".{link.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        os.symlink(device, tmp)
        os.replace(tmp, link)

    def _remove_link(self) -> None:
        if self._link_path is not None:
            try:
                if self._link_path.is_symlink():
                    self._link_path.unlink()
            except FileNotFoundError:
                pass

    def _wake(self) -> None:
        fd = self._wake_w
        if fd is None:
            return
        try:
            os.write(fd, b"x")
        except OSError:
            pass  # pipe full (a wake-up is pending anyway) or closed by stop()

    def _drain_wake(self) -> None:
        assert self._wake_r is not None
        try:
            while os.read(self._wake_r, 4096):
                pass
        except OSError:
            pass

    def _set_connected(self, connected: bool) -> None:
        with self._lock:
            if self._connected == connected:
                return
            self._connected = connected
            if not connected:
                # A real modem cannot tell the host went away: what it writes meanwhile is
                # lost, but it stays in whatever state it was, a half-typed command line or
                # the "> " prompt of an AT+CMGS included; the host that comes back finds it so.
                self._lost_urcs += len(self._urcs)
                self._urcs.clear()
            self._cond.notify_all()
        logger.debug("%s: host %s", self.name, "connected" if connected else "disconnected")

    def _serve(self) -> None:
        try:
            self._serve_loop()
        except Exception:  # pragma: no cover - a bug here must not pass silently
            logger.exception("%s: emulator thread crashed", self.name)
            raise

    def _serve_loop(self) -> None:
        assert self._wake_r is not None
        wake_only = select.poll()
        wake_only.register(self._wake_r, select.POLLIN)
        both: select.poll | None = None
        polled_fd: int | None = None
        while not self._stopping.is_set():
            self._run_controls()
            master = self._master
            if master is None:
                if wake_only.poll(_POLL_CLOSED_MS):
                    self._drain_wake()
                continue
            if polled_fd != master:
                both = select.poll()
                both.register(master, select.POLLIN)
                both.register(self._wake_r, select.POLLIN)
                polled_fd = master
            assert both is not None
            if not self._connected:
                probe = select.poll()
                probe.register(master, select.POLLIN)
                events = probe.poll(0)
                if events and events[0][1] & select.POLLHUP:
                    if events[0][1] & select.POLLIN:
                        try:  # left over from a host that has gone: nobody to answer
                            os.read(master, 4096)
                        except OSError:
                            pass
                    if wake_only.poll(_POLL_CLOSED_MS):
                        self._drain_wake()
                    continue
                self._set_connected(True)
            for fd, mask in both.poll(_POLL_OPEN_MS):
                if fd == self._wake_r:
                    self._drain_wake()
                    continue
                if mask & select.POLLIN:
                    try:
                        data = os.read(master, 4096)
                    except BlockingIOError:
                        continue
                    except OSError as exc:
                        if exc.errno != errno.EIO:
                            logger.warning("%s: pty read failed: %s", self.name, exc)
                        self._set_connected(False)
                        continue
                    if not data:
                        self._set_connected(False)
                        continue
                    self._feed(data)
                elif mask & (select.POLLHUP | select.POLLERR | select.POLLNVAL):
                    self._set_connected(False)
            self._flush_urcs()

    def _run_controls(self) -> None:
        while True:
            with self._lock:
                if not self._controls:
                    return
                action, done = self._controls.popleft()
            try:
                action()
            except Exception:
                logger.exception("%s: control action failed", self.name)
            finally:
                done.set()

    def _host_gone(self) -> bool:
        master = self._master
        if master is None:
            return True
        probe = select.poll()
        probe.register(master, 0)
        events = probe.poll(0)
        return bool(events and events[0][1] & (select.POLLHUP | select.POLLERR | select.POLLNVAL))

    def _write(self, data: bytes) -> None:
        """Writes all of ``data`` unless the host is gone or stops reading for too long."""
        master = self._master
        if master is None or not data:
            return
        if self._host_gone():
            self._set_connected(False)
            return
        view = memoryview(data)
        stalled = 0.0
        while view:
            if self._stopping.is_set():
                return
            try:
                written = os.write(master, view)
            except BlockingIOError:
                written = 0
            except OSError as exc:
                if exc.errno != errno.EIO:
                    logger.warning("%s: pty write failed: %s", self.name, exc)
                self._set_connected(False)
                return
            if written:
                view = view[written:]
                stalled = 0.0
                continue
            probe = select.poll()
            probe.register(master, select.POLLOUT)
            probe.poll(50)
            stalled += 0.05
            if stalled >= _WRITE_STALL_S:
                logger.warning("%s: host not reading, %d bytes dropped", self.name, len(view))
                return

    def _pause(self) -> None:
        delay = self._delay
        if delay > 0:
            self._stopping.wait(delay)

    # ------------------------------------------------------------------ output framing

    def _frame_line(self, line: str) -> bytes:
        if self._settings.verbose:
            return f"\r\n{line}\r\n".encode("latin-1", "replace")
        return f"{line}\r\n".encode("latin-1", "replace")

    def _frame_final(self, final: str) -> bytes:
        settings = self._settings
        if settings.quiet:
            return b""
        if settings.verbose:
            return f"\r\n{final}\r\n".encode("latin-1", "replace")
        numeric = {"OK": "0", "ERROR": "4"}.get(final, final)
        return f"{numeric}\r".encode("latin-1", "replace")

    def _format_error(self, error: _CommandError) -> str:
        cmee = self._settings.cmee
        if error.kind == "plain" or cmee == 0:
            return "ERROR"
        prefix, table = ("+CME ERROR", _CME_TEXT) if error.kind == "cme" else ("+CMS ERROR", _CMS_TEXT)
        if cmee == 2:
            return f"{prefix}: {table.get(error.code, str(error.code))}"
        return f"{prefix}: {error.code}"

    def _respond(self, info: list[str], final: str, inject: str | None) -> None:
        self._pause()
        if self._stopping.is_set() or self._master is None or self._hung:
            return
        chunks = [self._frame_line(line) for line in info]
        final_bytes = self._frame_final(final)
        if inject is not None:
            position = min(2, len(chunks))
            chunks.insert(position, self._frame_line(inject))
        self._write(b"".join(chunks) + final_bytes)

    def _flush_urcs(self) -> None:
        with self._lock:
            if not self._urcs:
                return
            if not self._connected or self._hung or self._master is None:
                self._lost_urcs += len(self._urcs)
                self._urcs.clear()
                return
            mode = self._settings.cnmi[0]
            if self._submit is not None:
                if mode == 1:  # link reserved: mode 1 discards
                    self._lost_urcs += len(self._urcs)
                    self._urcs.clear()
                return  # modes 2/3 buffer until the prompt ends
            urcs = list(self._urcs)
            self._urcs.clear()
        self._write(b"".join(self._frame_line(urc) for urc in urcs))

    # ------------------------------------------------------------------ input parsing

    def _feed(self, data: bytes) -> None:
        echo = bytearray()

        def flush_echo() -> None:
            if echo:
                self._write(bytes(echo))
                echo.clear()

        for byte in data:
            if self._hung or self._master is None:
                self._line.clear()  # a hung modem forgets what it was typed
                self._submit = None
                return
            submit = self._submit
            if submit is not None:
                if byte == _CTRL_Z:
                    flush_echo()
                    self._submit = None
                    self._finish_submit(submit)
                elif byte == _ESC:
                    flush_echo()
                    self._submit = None
                    self._respond([], "OK", submit.inject)
                else:
                    if self._settings.echo:
                        echo.append(byte)
                    if len(submit.buf) < _MAX_PDU_CHARS:
                        submit.buf.append(byte)
                    else:
                        submit.overflow = True
                continue
            if byte == _CR:
                if self._settings.echo:
                    echo.append(byte)
                flush_echo()
                line = bytes(self._line)
                overflow = self._line_overflow
                self._line.clear()
                self._line_overflow = False
                self._handle_line(line, overflow)
            elif byte == _LF:
                if self._settings.echo:
                    echo.append(byte)
            elif byte in (_BS, _DEL):
                if self._settings.echo:
                    echo.append(byte)
                if self._line:
                    self._line.pop()
            elif byte < 0x20:
                continue  # stray control characters (a lone ESC or Ctrl-Z) are ignored
            else:
                if self._settings.echo:
                    echo.append(byte)
                self._take_char(byte)
        flush_echo()

    def _take_char(self, byte: int) -> None:
        """Buffers a command-line character; V.250: characters before the "AT" prefix are discarded."""
        line = self._line
        if len(line) >= 2:
            if len(line) < _MAX_LINE:
                line.append(byte)
            else:
                self._line_overflow = True
        elif len(line) == 1 and byte in b"Tt":
            line.append(byte)
        else:
            line.clear()
            if byte in b"Aa":
                line.append(byte)

    def _take_rule(self, rules: list[_FaultRule], command: str) -> str | None:
        upper = command.upper()
        for rule in rules:
            if upper.startswith(rule.prefix):
                rule.remaining -= 1
                if rule.remaining <= 0:
                    rules.remove(rule)
                return rule.value
        return None

    def _handle_line(self, raw: bytes, overflow: bool) -> None:
        if len(raw) < 2:
            return  # no "AT" prefix, no command (garbage, a lone "A", an empty line)
        command = raw.decode("latin-1")
        with self._lock:
            self._commands.append(command)
            failure = self._take_rule(self._fail_rules, command)
            inject = self._take_rule(self._inject_rules, command)
            self._cond.notify_all()
        if failure is not None:
            self._respond([], failure, inject)
            return
        if overflow:
            self._respond([], "ERROR", inject)
            return
        try:
            with self._lock:
                info, prompt = self._execute(command[2:])
        except _CommandError as error:
            with self._lock:
                final = self._format_error(error)
            self._respond([], final, inject)
            return
        except Exception:
            logger.exception("%s: emulator failed on %r", self.name, command)
            self._respond([], "ERROR", inject)
            return
        if prompt is None:
            self._respond(info, "OK", inject)
            return
        self._pause()
        if self._stopping.is_set() or self._master is None or self._hung:
            return
        prefix = b"".join(self._frame_line(line) for line in info)
        self._submit = _PendingSubmit(prompt, inject)
        self._write(prefix + (b"\r\n> " if self._settings.verbose else b"> "))

    # ------------------------------------------------------------------ command execution

    def _execute(self, body: str) -> tuple[list[str], int | None]:
        """Runs a command line (after "AT"); returns (information lines, CMGS length or None)."""
        info: list[str] = []
        pos = 0
        upper = body.upper()
        while pos < len(body):
            ch = body[pos]
            if ch.isspace() or ch == ";":
                pos += 1
                continue
            if ch == "+":
                end = pos
                in_quote = False
                while end < len(body) and (in_quote or body[end] != ";"):
                    if body[end] == '"':
                        in_quote = not in_quote
                    end += 1
                segment = body[pos:end]
                pos = end + 1
                lines, prompt = self._extended(segment)
                info.extend(lines)
                if prompt is not None:
                    if body[pos:].strip(" ;"):
                        raise _syntax()  # AT+CMGS must end the command line
                    return info, prompt
                continue
            match = _BASIC_RE.match(upper, pos)
            if match is None:
                raise _syntax()
            name, digits = match.group(1), match.group(2)
            pos = match.end()
            if name == "S":
                pos = self._s_register(upper, pos, int(digits) if digits else -1, info)
                continue
            info.extend(self._basic(name, int(digits) if digits else 0))
        return info, None

    def _s_register(self, upper: str, pos: int, number: int, info: list[str]) -> int:
        if number < 0 or number > 255:
            raise _syntax()
        registers = self._settings.s_registers
        defaults = {3: 13, 4: 10, 5: 8}
        if upper.startswith("?", pos):
            info.append(f"{registers.get(number, defaults.get(number, 0)):03d}")
            return pos + 1
        if upper.startswith("=", pos):
            match = re.compile(r"\d+").match(upper, pos + 1)
            if match is None or int(match.group()) > 255:
                raise _syntax()
            registers[number] = int(match.group())
            return match.end()
        raise _syntax()

    def _basic(self, name: str, value: int) -> list[str]:
        settings = self._settings
        if name == "E" and value in (0, 1):
            settings.echo = value == 1
        elif name == "V" and value in (0, 1):
            settings.verbose = value == 1
        elif name == "Q" and value in (0, 1):
            settings.quiet = value == 1
        elif name in ("Z", "&F") and value == 0:
            self._settings = self._fresh_settings()
            self._settings.echo = True
            self._lost_urcs += len(self._ta_buffer)
            self._ta_buffer.clear()
        elif name == "I" and value == 0:
            return [_MANUFACTURER, _MODEL, f"Revision: {_REVISION}"]
        elif name in ("&D", "&C", "&K", "X", "&W", "H", "L", "M") and value <= 6:
            pass
        else:
            raise _syntax()
        return []

    def _require_sim(self, cms: bool = True) -> None:
        if self._pin_state == _PIN_SIM_PIN:
            raise _cms(311) if cms else _cme(11)
        if self._pin_state == _PIN_SIM_PUK:
            raise _cms(316) if cms else _cme(12)

    def _require_pdu_mode(self) -> None:
        if self._settings.cmgf != 0:
            raise _cms(302)

    def _extended(self, segment: str) -> tuple[list[str], int | None]:
        match = _EXT_RE.match(segment.upper())
        if match is None:
            raise _syntax()
        name = match.group(1)
        rest = segment[match.end():]
        args: list[tuple[str, bool]]
        if rest == "":
            mode, args = "exec", []
        elif rest == "?":
            mode, args = "read", []
        elif rest == "=?":
            mode, args = "test", []
        elif rest.startswith("="):
            mode, args = "set", _split_args(rest[1:])
        else:
            raise _syntax()
        handler = getattr(self, f"_cmd_{name.lower()}", None)
        if handler is None:
            raise _syntax()
        result = handler(mode, args)
        if isinstance(result, int):
            return [], result
        return result, None

    def _arg(self, args: list[tuple[str, bool]], i: int) -> tuple[str, bool] | None:
        return args[i] if i < len(args) else None

    # --- general (27.007)

    def _ident(self, mode: str, value: str) -> list[str]:
        if mode == "exec":
            return [value]
        if mode == "test":
            return []
        raise _syntax()

    def _cmd_cgmi(self, mode: str, args: list) -> list[str]:
        return self._ident(mode, _MANUFACTURER)

    _cmd_gmi = _cmd_cgmi

    def _cmd_cgmm(self, mode: str, args: list) -> list[str]:
        return self._ident(mode, _MODEL)

    _cmd_gmm = _cmd_cgmm

    def _cmd_cgmr(self, mode: str, args: list) -> list[str]:
        return self._ident(mode, f"Revision: {_REVISION}")

    _cmd_gmr = _cmd_cgmr

    def _cmd_cgsn(self, mode: str, args: list) -> list[str]:
        return self._ident(mode, self._imei)

    _cmd_gsn = _cmd_cgsn

    def _cmd_gcap(self, mode: str, args: list) -> list[str]:
        return self._ident(mode, "+GCAP: +CGSM")

    def _cmd_cimi(self, mode: str, args: list) -> list[str]:
        if mode == "test":
            return []
        if mode != "exec":
            raise _syntax()
        self._require_sim(cms=False)
        return [self._imsi]

    def _cmd_cmee(self, mode: str, args: list) -> list[str]:
        if mode == "read":
            return [f"+CMEE: {self._settings.cmee}"]
        if mode == "test":
            return ["+CMEE: (0-2)"]
        if mode == "exec":
            self._settings.cmee = 0
            return []
        if len(args) != 1:
            raise _syntax()
        self._settings.cmee = _int_arg(args[0], 0, 2)
        return []

    def _cmd_cpin(self, mode: str, args: list) -> list[str]:
        if mode == "read":
            return [f"+CPIN: {self._pin_state}"]
        if mode == "test":
            return []
        if mode != "set" or not 1 <= len(args) <= 2:
            raise _syntax()
        given = args[0][0]
        if not given or not given.isdigit():
            raise _syntax()
        if self._pin_state == _PIN_READY:
            raise _cme(3)
        if self._pin_state == _PIN_SIM_PIN:
            if given == self._pin:
                self._pin_state = _PIN_READY
                self._pin_attempts = 3
                self._cond.notify_all()
                return []
            self._pin_attempts -= 1
            if self._pin_attempts <= 0:
                self._pin_state = _PIN_SIM_PUK
            self._cond.notify_all()
            raise _cme(16)
        # SIM PUK: AT+CPIN=<puk>,<new pin>
        new_pin = self._arg(args, 1)
        if new_pin is None or not new_pin[0].isdigit():
            raise _cme(12)
        if given != _PUK:
            raise _cme(16)
        self._pin = new_pin[0]
        self._pin_state = _PIN_READY
        self._pin_attempts = 3
        self._cond.notify_all()
        return []

    def _cmd_csq(self, mode: str, args: list) -> list[str]:
        if mode == "exec":
            return ["+CSQ: 20,99"]
        if mode == "test":
            return ["+CSQ: (0-31,99),(0-7,99)"]
        raise _syntax()

    def _cmd_creg(self, mode: str, args: list) -> list[str]:
        if mode == "read":
            stat = 1 if self._pin_state == _PIN_READY else 0
            return [f"+CREG: {self._settings.creg_n},{stat}"]
        if mode == "test":
            return ["+CREG: (0-2)"]
        if mode == "set" and len(args) == 1:
            self._settings.creg_n = _int_arg(args[0], 0, 2)
            return []
        raise _syntax()

    def _cmd_cops(self, mode: str, args: list) -> list[str]:
        if mode == "read":
            if self._pin_state != _PIN_READY:
                return ["+COPS: 0"]
            return [f'+COPS: 0,0,"{_OPERATOR}"']
        if mode == "test":
            return [f'+COPS: (2,"{_OPERATOR}","TSEL","51010"),,(0-4),(0-2)']
        if mode == "set":
            _int_arg(self._arg(args, 0), 0, 4)
            return []
        raise _syntax()

    def _cmd_cfun(self, mode: str, args: list) -> list[str]:
        if mode == "read":
            return ["+CFUN: 1"]
        if mode == "test":
            return ["+CFUN: (0,1,4),(0,1)"]
        if mode == "set":
            _int_arg(self._arg(args, 0), 0, 4)
            return []
        raise _syntax()

    def _cmd_cscs(self, mode: str, args: list) -> list[str]:
        if mode == "read":
            return [f'+CSCS: "{self._settings.cscs}"']
        if mode == "test":
            return ['+CSCS: ("GSM","IRA","UCS2","HEX")']
        if mode == "set" and len(args) == 1:
            value = _str_arg(args[0]).upper()
            if value not in ("GSM", "IRA", "UCS2", "HEX"):
                raise _cme(4)
            self._settings.cscs = value
            return []
        raise _syntax()

    # --- SMS (27.005)

    def _cmd_csms(self, mode: str, args: list) -> list[str]:
        if mode == "read":
            return [f"+CSMS: {self._settings.csms},1,1,1"]
        if mode == "test":
            return ["+CSMS: (0,1)"]
        if mode == "set" and len(args) == 1:
            self._settings.csms = _int_arg(args[0], 0, 1)
            return ["+CSMS: 1,1,1"]
        raise _syntax()

    def _cmd_cmgf(self, mode: str, args: list) -> list[str]:
        if mode == "read":
            return [f"+CMGF: {self._settings.cmgf}"]
        if mode == "test":
            return ["+CMGF: (0,1)"]
        if mode == "exec":
            self._settings.cmgf = 0
            return []
        if len(args) != 1:
            raise _syntax()
        self._settings.cmgf = _int_arg(args[0], 0, 1)
        return []

    def _cpms_counts(self) -> tuple[int, int]:
        return len(self._slots), self._storage_size

    def _cmd_cpms(self, mode: str, args: list) -> list[str]:
        if mode == "test":
            return ['+CPMS: ("SM"),("SM"),("SM")']
        self._require_sim()
        used, total = self._cpms_counts()
        if mode == "read":
            return [f'+CPMS: "SM",{used},{total},"SM",{used},{total},"SM",{used},{total}']
        if mode != "set" or not 1 <= len(args) <= 3:
            raise _syntax()
        for arg in args:
            if _str_arg(arg).upper() != "SM":
                raise _cms(302)
        return [f"+CPMS: {used},{total},{used},{total},{used},{total}"]

    def _cmd_cnmi(self, mode: str, args: list) -> list[str]:
        if mode == "test":
            return ["+CNMI: (0-3),(0-3),(0,2),(0-2),(0,1)"]
        if mode == "read":
            return ["+CNMI: " + ",".join(str(v) for v in self._settings.cnmi)]
        self._require_sim()
        if mode != "set" or not 1 <= len(args) <= 5:
            raise _syntax()
        limits = ((0, 3), (0, 3), (0, 2), (0, 2), (0, 1))
        values = [_int_arg(self._arg(args, i), lo, hi, 0) for i, (lo, hi) in enumerate(limits)]
        if values[2] == 1:
            raise _cms(303)
        self._settings.cnmi = (values[0], values[1], values[2], values[3], values[4])
        if values[0] != 0:
            # 27.005: leaving mode 0 flushes (bfr=0) or clears (bfr=1) the buffered indications.
            if values[4] == 0:
                self._urcs.extend(self._ta_buffer)
            else:
                self._lost_urcs += len(self._ta_buffer)
            self._ta_buffer.clear()
        return []

    def _cmd_cnma(self, mode: str, args: list) -> list[str]:
        if mode == "test":
            return []
        raise _cms(340)

    def _cmd_csca(self, mode: str, args: list) -> list[str]:
        if mode == "test":
            return []
        self._require_sim()
        if mode == "read":
            toa = 145 if self._csca.startswith("+") else 129
            return [f'+CSCA: "{self._csca}",{toa}']
        if mode == "set" and 1 <= len(args) <= 2:
            address = _str_arg(args[0])
            if self._arg(args, 1) is not None:
                _int_arg(args[1], 0, 255)
            if not re.fullmatch(r"\+?\d{1,20}", address):
                raise _cms(304)
            self._csca = address
            return []
        raise _syntax()

    def _listing(self, index: int, slot: _Slot, header: str) -> list[str]:
        return [f"{header}{_tpdu_length(slot.pdu)}", slot.pdu]

    def _cmd_cmgl(self, mode: str, args: list) -> list[str]:
        if mode == "test":
            return ["+CMGL: (0-4)"]
        self._require_sim()
        self._require_pdu_mode()
        if mode == "exec":
            stat = _REC_UNREAD
        elif mode == "set" and len(args) == 1:
            stat = _int_arg(args[0], 0, 4)  # text mode's "ALL" is a syntax error in PDU mode
        else:
            raise _syntax()
        lines: list[str] = []
        for index in sorted(self._slots):
            slot = self._slots[index]
            if stat == 4 or slot.stat == stat:
                lines.extend(self._listing(index, slot, f"+CMGL: {index},{slot.stat},,"))
                if slot.stat == _REC_UNREAD:
                    slot.stat = _REC_READ
        self._cond.notify_all()
        return lines

    def _cmd_cmgr(self, mode: str, args: list) -> list[str]:
        if mode == "test":
            return []
        self._require_sim()
        self._require_pdu_mode()
        if mode != "set" or len(args) != 1:
            raise _syntax()
        index = _int_arg(args[0], 0, 65535)
        if not 1 <= index <= self._storage_size:
            raise _cms(321)
        slot = self._slots.get(index)
        if slot is None:
            return []
        lines = self._listing(index, slot, f"+CMGR: {slot.stat},,")
        slot.stat = _REC_READ
        self._cond.notify_all()
        return lines

    def _cmd_cmgd(self, mode: str, args: list) -> list[str]:
        if mode == "test":
            return [f"+CMGD: (1-{self._storage_size}),(0-4)"]
        self._require_sim()
        if mode != "set" or not 1 <= len(args) <= 2:
            raise _syntax()
        index = _int_arg(args[0], 0, 65535)
        flag = _int_arg(self._arg(args, 1), 0, 4, 0)
        if flag == 0:
            if not 1 <= index <= self._storage_size:
                raise _cms(321)
            self._slots.pop(index, None)
        else:
            # 1: all read; 2: read + sent; 3: read + sent + unsent; 4: all (only received ones are stored here).
            for i in [i for i, slot in self._slots.items() if flag == 4 or slot.stat == _REC_READ]:
                del self._slots[i]
        self._cond.notify_all()
        return []

    def _cmd_cmgs(self, mode: str, args: list) -> list[str] | int:
        if mode == "test":
            return []
        self._require_sim()
        self._require_pdu_mode()
        if mode != "set" or len(args) != 1:
            raise _syntax()
        length = _int_arg(args[0], 0, 65535)
        if not 1 <= length <= _MAX_TPDU:
            raise _cms(304)
        return length

    def _finish_submit(self, submit: _PendingSubmit) -> None:
        text = bytes(submit.buf).decode("latin-1")
        error: _CommandError | None = None
        decoded = None
        if submit.overflow or not text or len(text) % 2 or not _HEX_RE.fullmatch(text):
            error = _cms(304)
        else:
            try:
                decoded = _pdu.decode_submit(text)
            except Exception:  # PduError, or anything an unexpected PDU provokes
                error = _cms(304)
        tpdu_length = _tpdu_length(text)
        if error is None and tpdu_length != submit.length:
            error = _cms(305)
        with self._lock:
            if error is not None or decoded is None:
                final = self._format_error(error or _cms(304))
                info: list[str] = []
            else:
                mr = self._next_mr
                self._next_mr = (self._next_mr + 1) % 256
                self._sent.append(
                    SentSms(
                        destination=decoded.destination,
                        destination_toa=decoded.destination_toa,
                        text=decoded.text,
                        pdu=text,
                        tpdu_length=tpdu_length,
                        message_reference=mr,
                        concat=decoded.concat,
                    )
                )
                self._cond.notify_all()
                info, final = [f"+CMGS: {mr}"], "OK"
        self._respond(info, final, submit.inject)


# ---------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m laporgub.sim.modem``: an interactive emulated modem."""
    parser = argparse.ArgumentParser(
        prog="python -m laporgub.sim.modem",
        description="Emulated GSM modem on a pty. Type '+628123456789 some text' to deliver an SMS.",
    )
    parser.add_argument("--link", help="symlink to create for the port (default: one in a temp dir)")
    parser.add_argument("--name", default="sim-modem")
    parser.add_argument("--pin", help="SIM PIN the host must enter")
    parser.add_argument("--storage-size", type=int, default=30)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before every response")
    args = parser.parse_args(argv)

    emulator = ModemEmulator(
        name=args.name,
        storage_size=args.storage_size,
        pin=args.pin,
        response_delay=args.delay,
        link_path=args.link,
    ).start()
    print(emulator.port, flush=True)
    done = threading.Event()

    def report_sent() -> None:
        seen = 0
        while not done.is_set():
            def more(m: ModemEmulator, seen: int = seen) -> bool:
                return len(m.sent) > seen or done.is_set()

            emulator.wait_for(more, timeout=0.5)
            for sms in emulator.sent[seen:]:
                part = f" [{sms.concat.sequence}/{sms.concat.total}]" if sms.concat else ""
                print(f"SMS to {sms.destination}{part}: {sms.text}", flush=True)
                seen += 1

    printer = threading.Thread(target=report_sent, name="modem-cli-sent", daemon=True)
    printer.start()
    try:
        for raw in sys.stdin:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            sender, _, text = line.partition(" ")
            try:
                indexes = emulator.receive_sms(sender, text)
            except Exception as exc:  # a typo must not end the session
                print(f"cannot deliver: {exc}", file=sys.stderr, flush=True)
                continue
            status = f"stored at {indexes}" if indexes else "not stored (SIM full or routed as +CMT)"
            print(f"SMS from {sender} {status}", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        done.set()
        emulator.stop()
        printer.join(timeout=1.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
