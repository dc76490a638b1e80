"""The AT command layer: one command/response channel per GSM modem port.

:class:`AtChannel` owns an open pyserial port and one daemon reader thread.
The reader splits the byte stream into lines (``\\r\\n``, lone ``\\r`` or
``\\n``), spots the ``> `` prompt of ``AT+CMGS`` (which has no newline), and
routes every line either to the command that is waiting for its answer or, for
unsolicited result codes (URCs such as ``+CMTI: "SM",3``), to the ``on_urc``
callback. A URC may arrive anywhere in a response (between ``+CMGL:`` entries,
just before ``OK``), so routing is by line, not by position.

Threads:

* the **caller's thread** (the modem actor) runs :meth:`AtChannel.command`,
  :meth:`AtChannel.send_pdu`, :meth:`AtChannel.reset_prompt` and
  :meth:`AtChannel.close`; one command runs at a time, others wait on a lock;
* the **reader thread** runs ``on_urc`` and ``on_port_lost``; both must return
  quickly (the modem actor's callbacks only ``tell`` the actor).

Stale answers: a final result code that arrives while no command is waiting
(for example the ``OK`` of a command that already timed out) is logged and
dropped. After a timeout the channel is marked *stale*, and the next command
first waits until the port has been quiet for a moment (at most
:data:`STALE_DRAIN_MAX_S`), dropping whatever the modem still sends, before it
writes anything. An answer that comes later than that cannot be told apart
from the next command's answer when echo is off; use generous timeouts for
slow commands (``AT+CMGS``, ``AT+COPS=?``).

The parsers at the bottom (:func:`parse_cmgl`, :func:`parse_csq`, ...) are
pure functions of an :class:`AtResponse` or a line; they raise
:class:`AtParseError` (a :class:`~laporgub.exceptions.ModemError`) and nothing
else.

Log lines never carry a phone number in clear: digit runs are masked and PDU
lines are logged by length only (docs/sop.md).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import serial

from laporgub.exceptions import ModemError
from laporgub.masking import mask_text

__all__ = [
    "PROMPT",
    "STALE_DRAIN_MAX_S",
    "TWO_LINE_URC_PREFIXES",
    "URC_PREFIXES",
    "AtChannel",
    "AtError",
    "AtParseError",
    "AtResponse",
    "AtTimeout",
    "LineSplitter",
    "PortClosed",
    "StoredPdu",
    "Urc",
    "csq_to_dbm",
    "is_final",
    "is_urc",
    "parse_cmgl",
    "parse_cmgr",
    "parse_cmgs",
    "parse_cmti",
    "parse_cpms",
    "parse_creg",
    "parse_csq",
]

logger = logging.getLogger(__name__)

#: Line starts of unsolicited result codes: 3GPP TS 27.005/27.007 plus what
#: Huawei (``^``), SIMCom, Quectel and Wavecom modems print on their own.
URC_PREFIXES: tuple[str, ...] = (
    # SMS and cell broadcast (27.005)
    "+CMTI:",
    "+CMT:",
    "+CDS:",
    "+CDSI:",
    "+CBM:",
    "+CBMI:",
    # calls, USSD (27.007)
    "RING",
    "+CRING:",
    "+CLIP:",
    "+CCWA:",
    "+CUSD:",
    # registration, SIM, power (27.007)
    "+CREG:",
    "+CGREG:",
    "+CEREG:",
    "+C5GREG:",
    "+CGEV:",
    "+CPIN:",
    "+CFUN:",
    "+CIEV:",
    "+CTZV:",
    "+CTZE:",
    "+STIN:",
    # Huawei
    "^RSSI:",
    "^HCSQ:",
    "^BOOT:",
    "^MODE:",
    "^SRVST:",
    "^SIMST:",
    "^SYSSTART",
    "^DSFLOWRPT:",
    "^CEND:",
    "^ORIG:",
    "^CONF:",
    "^CONN:",
    "^NWTIME:",
    "^STIN:",
    # SIMCom
    "RDY",
    "Call Ready",
    "SMS Ready",
    "PB DONE",
    "*PSUTTZ:",
    "DST:",
    "UNDER-VOLTAGE",
    "OVER-VOLTAGE",
    "NORMAL POWER DOWN",
    # Quectel
    "+QIND:",
    "+QUSIM:",
    "+QSIMSTAT:",
    "POWERED DOWN",
    # Sony Ericsson / Wavecom
    "+PBREADY",
    "+WIND:",
)

#: URCs whose PDU follows on a second line in PDU mode (TS 27.005 3.4.1/3.4.2).
TWO_LINE_URC_PREFIXES: tuple[str, ...] = ("+CMT:", "+CDS:", "+CBM:")

#: Response headers whose next line is a PDU.
_PDU_HEADER_PREFIXES: tuple[str, ...] = ("+CMGL:", "+CMGR:")

_FINAL_OK: Final = "OK"
_FINAL_ERRORS: tuple[str, ...] = (
    "ERROR",
    "NO CARRIER",
    "BUSY",
    "NO ANSWER",
    "NO DIALTONE",
    "COMMAND NOT SUPPORT",  # Huawei and ZTE instead of ERROR
    "TOO MANY PARAMETERS",  # Huawei
)
_FINAL_ERROR_PREFIXES: tuple[str, ...] = ("+CMS ERROR:", "+CME ERROR:")

ESC: Final = b"\x1b"
CTRL_Z: Final = b"\x1a"

#: Longest stretch without a line end kept before it is cut off as junk.
MAX_LINE_BYTES: Final = 8192
#: After a timeout, how long the port must be quiet before the next command is written.
STALE_QUIET_S: Final = 0.2
#: ... and the longest the next command waits for that quiet.
STALE_DRAIN_MAX_S: Final = 1.0
#: Default wait for the ``> `` prompt of AT+CMGS.
PROMPT_TIMEOUT_S: Final = 10.0


# --------------------------------------------------------------------------
# Errors and values


class AtError(ModemError):
    """Raised when a command ends in ERROR, +CMS ERROR: n, +CME ERROR: n, NO CARRIER and the like.

    Attributes:
        command: The command as written, without the trailing ``\\r``.
        final: The final result code line, e.g. ``+CMS ERROR: 322``.
        code: The number of a ``+CMS ERROR``/``+CME ERROR``; None for plain
            ``ERROR`` and for verbose (``AT+CMEE=2``) texts.
    """

    def __init__(self, command: str, final: str, code: int | None = None) -> None:
        self.command = command
        self.final = final
        self.code = code if code is not None else _error_code(final)
        super().__init__(f"{command}: {final}")

    def __reduce__(self) -> tuple[type[AtError], tuple[str, str, int | None]]:
        return (type(self), (self.command, self.final, self.code))


class AtTimeout(ModemError):
    """Raised when a command (or the ``> `` prompt) gets no final result within its timeout.

    Attributes:
        command: The command that timed out.
        timeout: The timeout in seconds, or None if unknown.
        waiting_for: What did not come: ``final result`` or ``'> ' prompt``.
    """

    def __init__(self, command: str, timeout: float | None = None, *, waiting_for: str = "final result") -> None:
        self.command = command
        self.timeout = timeout
        self.waiting_for = waiting_for
        if timeout is None:
            super().__init__(f"{command}: timed out waiting for {waiting_for}")
        else:
            super().__init__(f"{command}: no {waiting_for} within {timeout:g} s")

    def __reduce__(self) -> tuple[Callable[..., AtTimeout], tuple[str, float | None, str]]:
        return (_make_timeout, (self.command, self.timeout, self.waiting_for))


def _make_timeout(command: str, timeout: float | None, waiting_for: str) -> AtTimeout:
    return AtTimeout(command, timeout, waiting_for=waiting_for)


class PortClosed(ModemError):
    """Raised when the serial port vanished (read or write failed) or the channel was closed."""


class AtParseError(ModemError):
    """Raised when a response has not the shape its parser expects (e.g. no ``+CSQ:`` line)."""


@dataclass(frozen=True, slots=True)
class Urc:
    """An unsolicited result code, as handed to ``on_urc``.

    Attributes:
        line: The URC line, e.g. ``+CMTI: "SM",3``.
        pdu: The second line of a two-line URC (``+CMT: ,<len>``,
            ``+CDS: <len>``, ``+CBM: <len>``), None otherwise or if it never came.
    """

    line: str
    pdu: str | None = None


@dataclass(frozen=True, slots=True)
class AtResponse:
    """The successful answer to one command.

    Attributes:
        command: The command as written, without the trailing ``\\r``.
        lines: Intermediate lines in order; echo, URCs and empty lines removed.
        final: The final result code, always ``OK`` (errors raise :class:`AtError`).
    """

    command: str
    lines: tuple[str, ...]
    final: str = _FINAL_OK


@dataclass(frozen=True, slots=True)
class StoredPdu:
    """One SMS stored on the SIM or modem, as listed by AT+CMGL or read by AT+CMGR (PDU mode).

    Attributes:
        index: The storage slot (for AT+CMGR / AT+CMGD).
        status: 0 received unread, 1 received read, 2 stored unsent, 3 stored sent.
        length: The TPDU length in octets (SCA not counted).
        pdu: The hex PDU line, SCA included, as the modem printed it.
    """

    index: int
    status: int
    length: int
    pdu: str


def is_final(line: str) -> bool:
    """Tell whether a line is a final result code (``OK`` or one of the errors)."""
    return line == _FINAL_OK or _is_error_final(line)


def is_urc(line: str) -> bool:
    """Tell whether a line starts like an unsolicited result code (see :data:`URC_PREFIXES`)."""
    return line.startswith(URC_PREFIXES)


def _is_error_final(line: str) -> bool:
    return line in _FINAL_ERRORS or line.startswith(_FINAL_ERROR_PREFIXES)


def _error_code(final: str) -> int | None:
    if not final.startswith(_FINAL_ERROR_PREFIXES):
        return None
    value = final.split(":", 1)[1].strip()
    return int(value) if value.isascii() and value.isdecimal() else None


# --------------------------------------------------------------------------
# Logging without phone numbers

_HEX_LINE = re.compile(r"[0-9A-Fa-f]+", re.ASCII)


def _for_log(line: str) -> str:
    """Return a line fit for a log: PDUs by length only, phone numbers masked (laporgub.masking)."""
    if len(line) > 24 and _HEX_LINE.fullmatch(line):
        return f"<PDU {len(line)} hex chars>"
    return mask_text(line)


# --------------------------------------------------------------------------
# Byte stream -> lines


class _Prompt:
    """The ``> `` prompt of AT+CMGS (a singleton: :data:`PROMPT`)."""

    def __repr__(self) -> str:
        return "PROMPT"


#: Emitted by :class:`LineSplitter` for the ``> `` prompt.
PROMPT: Final = _Prompt()

_CR, _LF, _GT, _SPACE = 0x0D, 0x0A, 0x3E, 0x20
# Stripped from both ends of a line: controls (NUL from modem boot noise,
# Ctrl-Z/ESC from an echoed PDU), whitespace, and U+FFFD from undecodable bytes.
_EDGE_JUNK = re.compile(r"^[\s\x00-\x20\x7f\ufffd]+|[\s\x00-\x20\x7f\ufffd]+$")


class LineSplitter:
    """Splits modem output into lines and the ``> `` prompt.

    Lines end at ``\\r``, ``\\n`` or both; empty lines are dropped. A ``>`` at
    the start of a line (optionally followed by a space) is the AT+CMGS
    prompt, which the modem sends without a line end. Not thread-safe: only
    the reader thread (or a test) feeds it.
    """

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self._buf = b""
        self._max_line = max_line
        self._prompt_space = False  # a '>' ended the last chunk: its space may come next

    @property
    def pending(self) -> bytes:
        """Bytes of an unfinished line."""
        return self._buf

    def discard(self) -> bytes:
        """Drop and return the unfinished line."""
        junk, self._buf = self._buf, b""
        self._prompt_space = False
        return junk

    def feed(self, data: bytes) -> list[str | _Prompt]:
        """Consume bytes; return the complete lines and prompts they finish, in order."""
        if self._prompt_space and data:
            self._prompt_space = False
            if data[0] == _SPACE:
                data = data[1:]
        buf = self._buf + data
        out: list[str | _Prompt] = []
        start = 0
        i = 0
        n = len(buf)
        while i < n:
            byte = buf[i]
            if byte in (_CR, _LF):
                self._emit(buf[start:i], out)
                i += 1
                start = i
            elif byte == _GT and i == start:
                out.append(PROMPT)
                if i + 1 == n:
                    self._prompt_space = True
                i += 2 if i + 1 < n and buf[i + 1] == _SPACE else 1
                start = i
            elif i - start >= self._max_line:
                self._emit(buf[start:i], out)
                start = i
            else:
                i += 1
        self._buf = buf[start:]
        return out

    @staticmethod
    def _emit(raw: bytes, out: list[str | _Prompt]) -> None:
        line = _EDGE_JUNK.sub("", raw.decode("utf-8", errors="replace"))
        if line:
            out.append(line)


# --------------------------------------------------------------------------
# The channel


@dataclass(eq=False, slots=True)
class _Pending:
    """Mutable state of the one command in flight; guarded by ``AtChannel._cond``."""

    command: str
    expect: tuple[str, ...]
    echoes: list[str]
    want_prompt: bool = False
    prompt_seen: bool = False
    awaiting_pdu: bool = False
    lines: list[str] = field(default_factory=list)
    final: str | None = None
    error: ModemError | None = None


_COMMAND_NAME = re.compile(r"AT([+^$%#*][A-Z0-9]+)(=\?|=|\?)?", re.IGNORECASE)


def _derived_expect(cmd: str) -> tuple[str, ...]:
    """The response prefix a command implies (``AT+CREG?`` -> ``+CREG:``).

    A set command whose prefix is also a URC (``AT+CREG=1``, ``AT+CPIN=1234``,
    ``AT+CUSD=1,...``) implies nothing: what follows it is the URC it enables.
    """
    match = _COMMAND_NAME.match(cmd.strip())
    if match is None:
        return ()
    prefix = match.group(1).upper() + ":"
    if match.group(2) == "=" and is_urc(prefix):
        return ()
    return (prefix,)


class AtChannel:
    """A thread-safe AT command/response channel over an open pyserial port.

    The port must already be open with a short read timeout (about 0.1 s):
    the reader thread polls its stop flag between reads.

    Args:
        port: The open port (``serial.Serial``, ``serial_for_url(...)``).
        on_urc: Called from the reader thread with every :class:`Urc`; must not
            block. Exceptions it raises are logged and ignored.
        name: The modem's name, for logs and the thread name.
        on_port_lost: Called once with a :class:`PortClosed` when the port
            fails (not on :meth:`close`), from the reader thread or from the
            thread whose write failed; must not block.
    """

    def __init__(
        self,
        port: serial.SerialBase,
        on_urc: Callable[[Urc], None] | None = None,
        *,
        name: str = "modem",
        on_port_lost: Callable[[PortClosed], None] | None = None,
    ) -> None:
        self._port = port
        self._on_urc = on_urc
        self._on_port_lost = on_port_lost
        self._name = name
        self._splitter = LineSplitter()
        self._cmd_lock = threading.Lock()  # one command at a time
        self._cond = threading.Condition()  # guards everything below
        self._pending: _Pending | None = None
        self._urc_header: str | None = None  # first line of a two-line URC
        self._closed = False
        self._stale = False
        self._last_rx = 0.0
        self._empty_reads = 0  # reads that timed out with no byte; see _drain
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if port.timeout is None or port.timeout > 1.0:
            logger.warning(
                "%s: port read timeout is %s; use about 0.1 s or close() and stale-answer draining get slow",
                name,
                port.timeout,
            )

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        """Start the reader thread. Runs in the caller's thread; call once.

        Raises:
            RuntimeError: If already started.
            PortClosed: If the channel was closed.
        """
        if self._thread is not None:
            raise RuntimeError(f"AtChannel {self._name} already started")
        if self._closed:
            raise PortClosed(f"{self._name}: channel is closed")
        self._thread = threading.Thread(target=self._read_loop, name=f"at-reader-{self._name}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the reader thread and close the port. Idempotent; any thread.

        A command waiting for its answer raises :class:`PortClosed`.
        """
        self._stop.set()
        self._fail(PortClosed(f"{self._name}: channel closed"), report=False)
        cancel_read = getattr(self._port, "cancel_read", None)
        if cancel_read is not None:
            try:
                cancel_read()
            except Exception:  # best effort: the read times out anyway
                logger.debug("%s: cancel_read failed", self._name, exc_info=True)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)
            if thread.is_alive():
                logger.warning("%s: AT reader thread did not stop within 2 s", self._name)
        try:
            self._port.close()
        except Exception:  # the port may be gone already
            logger.debug("%s: closing the port failed", self._name, exc_info=True)

    @property
    def is_open(self) -> bool:
        """False once the port failed or :meth:`close` was called."""
        return not self._closed

    # -- commands ----------------------------------------------------------

    def command(
        self,
        cmd: str,
        *,
        timeout: float = 5.0,
        expect: str | tuple[str, ...] | None = None,
    ) -> AtResponse:
        """Write ``cmd + "\\r"`` and wait for its final result code. Runs in the caller's thread.

        Args:
            cmd: The command, e.g. ``AT+CMGL=4``, without line end.
            timeout: Seconds to wait for the final result, after the lock is held.
            expect: Response prefix(es) of this command; lines starting with
                them belong to the response even if they look like URCs. The
                command's own prefix (``+CREG:`` for ``AT+CREG?``) is added
                automatically, except for set commands of URC prefixes.

        Returns:
            The response, final ``OK``.

        Raises:
            AtError: On ERROR, +CMS ERROR, +CME ERROR, NO CARRIER and the like.
            AtTimeout: If no final result came in time.
            PortClosed: If the port failed or the channel was closed.
        """
        _check_text(cmd)
        with self._cmd_lock:
            pending = self._begin(cmd, expect, echoes=[cmd])
            self._write(cmd.encode("ascii") + b"\r", cmd)
            self._wait(pending, time.monotonic() + timeout, timeout)
            return self._finish(pending)

    def send_pdu(
        self,
        tpdu_length: int,
        pdu_hex: str,
        *,
        timeout: float = 60.0,
        prompt_timeout: float = PROMPT_TIMEOUT_S,
    ) -> int:
        """Send an SMS-SUBMIT with AT+CMGS in PDU mode. Runs in the caller's thread.

        Writes ``AT+CMGS=<tpdu_length>``, waits for the ``> `` prompt, writes
        the PDU and Ctrl-Z and waits for ``+CMGS: <mr>`` and ``OK``. If the
        prompt does not come, writes ESC to leave the prompt state.

        Args:
            tpdu_length: TPDU octets, SCA excluded.
            pdu_hex: The whole PDU in hex, SCA included (``00`` = SIM's SMSC).
            timeout: Seconds for the whole exchange (networks take up to a minute).
            prompt_timeout: Seconds to wait for the prompt (capped by ``timeout``).

        Returns:
            The message reference ``<mr>``.

        Raises:
            AtError: On +CMS ERROR (e.g. 304 invalid PDU, 330 SMSC unknown).
            AtTimeout: If the prompt or the final result did not come in time.
            AtParseError: If OK came without a ``+CMGS:`` line.
            PortClosed: If the port failed or the channel was closed.
            ValueError: If ``pdu_hex`` is not hex or ``tpdu_length`` not positive.
        """
        if not isinstance(tpdu_length, int) or tpdu_length <= 0:
            raise ValueError(f"tpdu_length must be a positive int, not {tpdu_length!r}")
        if not _HEX_LINE.fullmatch(pdu_hex) or len(pdu_hex) % 2:
            raise ValueError("pdu_hex must be an even number of hex digits")
        cmd = f"AT+CMGS={tpdu_length}"
        with self._cmd_lock:
            deadline = time.monotonic() + timeout
            pending = self._begin(cmd, ("+CMGS:",), echoes=[cmd, pdu_hex], want_prompt=True)
            self._write(cmd.encode("ascii") + b"\r", cmd)
            prompt_wait = min(prompt_timeout, timeout)
            if not self._wait_prompt(pending, time.monotonic() + prompt_wait):
                # The prompt may still come: ESC leaves it without sending anything.
                self._write(ESC, "ESC")
                self._give_up(pending)
                raise AtTimeout(cmd, prompt_wait, waiting_for="'> ' prompt")
            if pending.final is None and pending.error is None:
                self._write(pdu_hex.encode("ascii") + CTRL_Z, f"<PDU {len(pdu_hex)} hex chars> Ctrl-Z")
                self._wait(pending, deadline, timeout)
            elif pending.error is None and pending.final == _FINAL_OK:
                raise AtParseError(f"{cmd}: OK before the '> ' prompt")
            response = self._finish(pending)
        for line in response.lines:
            if line.startswith("+CMGS:"):
                return parse_cmgs(line)
        raise AtParseError(f"{cmd}: OK without a +CMGS: line")

    def reset_prompt(self) -> None:
        """Leave a half-finished AT+CMGS prompt a crashed process may have left. Caller's thread.

        Drops junk input, writes ESC, then ``AT`` and waits briefly for OK.
        Errors and timeouts are swallowed: the point is to get the modem back
        to command state, whatever it says.

        Raises:
            PortClosed: If the port failed or the channel was closed.
        """
        with self._cmd_lock:
            self._check_usable()
            self._drain(STALE_QUIET_S, STALE_DRAIN_MAX_S)
            self._write(ESC, "ESC")
            # A modem in prompt state answers the ESC with OK or an error; let it pass unclaimed.
            self._drain(STALE_QUIET_S, STALE_DRAIN_MAX_S)
            try:
                pending = self._begin("AT", None, echoes=["AT"])
                self._write(b"AT\r", "AT")
                self._wait(pending, time.monotonic() + 2.0, 2.0)
                self._finish(pending)
            except (AtError, AtTimeout) as exc:
                logger.debug("%s: reset_prompt: %s (ignored)", self._name, exc)
            with self._cond:
                # The modem may answer ESC late; have the next command check for quiet first.
                self._stale = True

    # -- caller-side internals ---------------------------------------------

    def _begin(
        self,
        cmd: str,
        expect: str | tuple[str, ...] | None,
        *,
        echoes: list[str],
        want_prompt: bool = False,
    ) -> _Pending:
        self._check_usable()
        if self._stale:
            self._drain(STALE_QUIET_S, STALE_DRAIN_MAX_S)
        if isinstance(expect, str):
            expect = (expect,)
        prefixes = tuple(dict.fromkeys(tuple(expect or ()) + _derived_expect(cmd)))
        pending = _Pending(
            command=cmd,
            expect=prefixes,
            echoes=[e.upper() for e in echoes],
            want_prompt=want_prompt,
        )
        with self._cond:
            if self._closed:
                raise PortClosed(f"{self._name}: channel is closed")
            self._pending = pending
        return pending

    def _check_usable(self) -> None:
        if self._thread is None:
            raise RuntimeError(f"AtChannel {self._name}: call start() before sending commands")
        if threading.current_thread() is self._thread:
            raise RuntimeError("AT commands must not be sent from the reader thread (on_urc)")
        if self._closed:
            raise PortClosed(f"{self._name}: channel is closed")

    def _drain(self, quiet: float, max_wait: float) -> None:
        """Wait until the port is quiet (at most ``max_wait`` s), then drop partial input.

        Quiet means no byte for ``quiet`` s *and* two reads that found nothing
        since the drain began: bytes already in the OS buffer but not yet
        read would not show in the time of the last byte alone, and the
        first empty read may have returned just before they arrived.
        """
        deadline = time.monotonic() + max_wait
        with self._cond:
            empty_reads_before = self._empty_reads
            while not self._closed:
                now = time.monotonic()
                silent_for = now - self._last_rx
                if (silent_for >= quiet and self._empty_reads >= empty_reads_before + 2) or now >= deadline:
                    break
                self._cond.wait(max(0.01, min(quiet - silent_for, deadline - now)))
            junk = self._splitter.discard()
            self._stale = False
        if junk:
            logger.debug("%s: dropped %d bytes of unfinished input", self._name, len(junk))

    def _write(self, data: bytes, what: str) -> None:
        logger.debug("%s: -> %s", self._name, _for_log(what))
        try:
            self._port.write(data)
        except (serial.SerialException, OSError, ValueError, TypeError, AttributeError) as exc:
            # pyserial raises the last three when the port is closed under it.
            error = PortClosed(f"{self._name}: write failed: {exc}")
            self._fail(error)
            raise error from exc

    def _wait(self, pending: _Pending, deadline: float, timeout: float) -> None:
        with self._cond:
            while pending.final is None and pending.error is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._give_up_locked(pending)
                    logger.debug(
                        "%s: %s timed out after %g s; a late answer will be dropped",
                        self._name,
                        pending.command,
                        timeout,
                    )
                    raise AtTimeout(pending.command, timeout)
                self._cond.wait(remaining)

    def _wait_prompt(self, pending: _Pending, deadline: float) -> bool:
        """Wait for the prompt or an early final; False on timeout."""
        with self._cond:
            while not pending.prompt_seen and pending.final is None and pending.error is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def _give_up(self, pending: _Pending) -> None:
        with self._cond:
            self._give_up_locked(pending)

    def _give_up_locked(self, pending: _Pending) -> None:
        if self._pending is pending:
            self._pending = None
        self._stale = True

    def _finish(self, pending: _Pending) -> AtResponse:
        if pending.error is not None:
            raise pending.error
        assert pending.final is not None
        if pending.final != _FINAL_OK:
            raise AtError(pending.command, pending.final)
        return AtResponse(pending.command, tuple(pending.lines), pending.final)

    def _fail(self, error: PortClosed, *, report: bool = True) -> None:
        """Mark the channel closed and fail the command in flight. Any thread."""
        with self._cond:
            first = not self._closed
            self._closed = True
            pending, self._pending = self._pending, None
            if pending is not None:
                pending.error = error
            self._cond.notify_all()
        if first and report:
            logger.warning("%s", error)
            if self._on_port_lost is not None:
                try:
                    self._on_port_lost(error)
                except Exception:
                    logger.exception("%s: on_port_lost callback failed", self._name)

    # -- reader thread -----------------------------------------------------

    def _read_loop(self) -> None:
        """Body of the reader thread: read, split, route, until stopped or the port fails."""
        logger.debug("%s: AT reader started", self._name)
        reason: PortClosed | None = None
        try:
            while not self._stop.is_set():
                try:
                    # in_waiting lives on the concrete port classes, not on SerialBase.
                    data = self._port.read(max(1, getattr(self._port, "in_waiting", 1)))
                except (serial.SerialException, OSError, ValueError, TypeError, AttributeError) as exc:
                    # ValueError/TypeError/AttributeError: pyserial on a port closed under it.
                    if not self._stop.is_set():
                        reason = PortClosed(f"{self._name}: read failed: {exc}")
                    return
                if data:
                    self._on_bytes(data)
                else:
                    with self._cond:
                        self._empty_reads += 1
                        self._cond.notify_all()
                    if not self._port.timeout:
                        self._stop.wait(0.05)  # a non-blocking port would spin
        except Exception as exc:
            logger.exception("%s: AT reader crashed", self._name)
            reason = PortClosed(f"{self._name}: AT reader crashed: {exc!r}")
        finally:
            if reason is not None:
                self._fail(reason)
            elif not self._stop.is_set():
                self._fail(PortClosed(f"{self._name}: AT reader stopped"))
            logger.debug("%s: AT reader stopped", self._name)

    def _on_bytes(self, data: bytes) -> None:
        urcs: list[Urc] = []
        with self._cond:
            self._last_rx = time.monotonic()
            try:
                for event in self._splitter.feed(data):
                    if event is PROMPT:
                        self._route_prompt()
                    else:
                        assert isinstance(event, str)
                        self._route_line(event, urcs)
            except Exception:
                # A routing bug must not kill the reader; the command in flight times out instead.
                logger.exception("%s: cannot route modem input", self._name)
            self._cond.notify_all()
        for urc in urcs:
            self._deliver(urc)

    def _deliver(self, urc: Urc) -> None:
        logger.debug("%s: URC %s%s", self._name, _for_log(urc.line), " + PDU" if urc.pdu else "")
        if self._on_urc is None:
            return
        try:
            self._on_urc(urc)
        except Exception:
            logger.exception("%s: on_urc callback failed for %s", self._name, _for_log(urc.line))

    def _route_prompt(self) -> None:
        pending = self._pending
        if pending is not None and pending.want_prompt and not pending.prompt_seen:
            pending.prompt_seen = True
        else:
            logger.debug("%s: unexpected '> ' prompt dropped", self._name)

    def _route_line(self, line: str, urcs: list[Urc]) -> None:
        """Route one line; runs in the reader thread with ``_cond`` held."""
        if self._urc_header is not None:
            header, self._urc_header = self._urc_header, None
            if not is_final(line):
                urcs.append(Urc(header, line))
                return
            logger.debug("%s: %s came without its PDU line", self._name, _for_log(header))
            urcs.append(Urc(header, None))

        pending = self._pending
        if pending is None:
            if is_urc(line):
                self._route_urc(line, urcs)
            elif is_final(line):
                logger.debug("%s: stale final result %r dropped (no command waiting)", self._name, line)
            else:
                logger.debug("%s: unsolicited line dropped: %s", self._name, _for_log(line))
            return

        if pending.awaiting_pdu:
            pending.awaiting_pdu = False
            if not is_final(line):
                pending.lines.append(line)
                return
        if self._is_echo(pending, line):
            return
        if is_final(line):
            pending.final = line
            self._pending = None
            logger.debug("%s: <- %s (%d lines)", self._name, line, len(pending.lines))
        elif line.startswith(pending.expect):
            pending.lines.append(line)
            pending.awaiting_pdu = line.startswith(_PDU_HEADER_PREFIXES)
        elif is_urc(line):
            self._route_urc(line, urcs)
        else:
            logger.debug("%s: line kept in the response of %s: %s", self._name, pending.command, _for_log(line))
            pending.lines.append(line)

    def _route_urc(self, line: str, urcs: list[Urc]) -> None:
        if line.startswith(TWO_LINE_URC_PREFIXES):
            self._urc_header = line
        else:
            urcs.append(Urc(line))

    @staticmethod
    def _is_echo(pending: _Pending, line: str) -> bool:
        upper = line.upper()
        for i, echo in enumerate(pending.echoes):
            # endswith: junk that preceded the echo on the same line (boot noise).
            if upper == echo or (len(echo) > 1 and upper.endswith(echo)):
                del pending.echoes[i]
                return True
        return False


def _check_text(cmd: str) -> None:
    if not cmd or not cmd.isascii() or any(c in cmd for c in "\r\n\x1a\x1b"):
        raise ValueError(f"not a single-line ASCII AT command: {cmd!r}")


# --------------------------------------------------------------------------
# Parsers (pure)

_CMGL = re.compile(r"\+CMGL:\s*(\d+)\s*,\s*(\d+)\s*(?:,(.*))?,\s*(\d+)\s*", re.ASCII)
_CMGR = re.compile(r"\+CMGR:\s*(\d+)\s*(?:,(.*))?,\s*(\d+)\s*", re.ASCII)
_CMTI = re.compile(r'\+CMTI:\s*"?([^",]*?)"?\s*,\s*(\d+)\s*', re.ASCII)
_CMGS = re.compile(r"\+CMGS:\s*(\d+)\s*(?:,.*)?", re.ASCII)
_INT = re.compile(r"\s*(\d+)\s*", re.ASCII)


def _int_field(text: str) -> int | None:
    match = _INT.fullmatch(text)
    return int(match.group(1)) if match else None


def _is_pdu_line(line: str) -> bool:
    return bool(_HEX_LINE.fullmatch(line)) and len(line) % 2 == 0


def parse_cmgl(resp: AtResponse) -> list[StoredPdu]:
    """Parse an AT+CMGL answer in PDU mode.

    Each entry is ``+CMGL: <index>,<stat>,[<alpha>],<length>`` followed by the
    hex PDU line; the alpha may be empty, quoted (``""``) or missing. An
    entry without a valid PDU line is logged and skipped, so one damaged
    entry does not hide the others.

    Returns:
        The entries in the modem's order.
    """
    entries: list[StoredPdu] = []
    lines = resp.lines
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.startswith("+CMGL:"):
            logger.debug("CMGL: unexpected line skipped: %s", _for_log(line))
            continue
        match = _CMGL.fullmatch(line)
        pdu = lines[i] if i < len(lines) else None
        if match is None:
            logger.warning("CMGL: cannot parse header %s (text mode?); entry skipped", _for_log(line))
            continue
        if pdu is None or not _is_pdu_line(pdu):
            logger.warning("CMGL: entry %s has no PDU line; skipped", match.group(1))
            continue
        i += 1
        entries.append(StoredPdu(int(match.group(1)), int(match.group(2)), int(match.group(4)), pdu))
    return entries


def parse_cmgr(resp: AtResponse, index: int) -> StoredPdu | None:
    """Parse an AT+CMGR=<index> answer in PDU mode.

    Args:
        resp: The answer: ``+CMGR: <stat>,[<alpha>],<length>`` + PDU line.
        index: The slot that was read (the answer does not repeat it).

    Returns:
        The message, or None for an empty slot (``OK`` alone, or a
        ``+CMGR: 0,,0`` header without PDU as some modems print).

    Raises:
        AtParseError: If the header is unreadable or a non-empty slot has no PDU line.
    """
    for i, line in enumerate(resp.lines):
        if not line.startswith("+CMGR:"):
            continue
        match = _CMGR.fullmatch(line)
        if match is None:
            raise AtParseError(f"CMGR: cannot parse header {_for_log(line)!r} (text mode?)")
        status, length = int(match.group(1)), int(match.group(3))
        pdu = resp.lines[i + 1] if i + 1 < len(resp.lines) else None
        if pdu is None or not _is_pdu_line(pdu):
            if length == 0:
                return None
            raise AtParseError(f"CMGR: slot {index} has a header but no PDU line")
        return StoredPdu(index, status, length, pdu)
    return None


def parse_cmti(line: str) -> tuple[str, int] | None:
    """Parse ``+CMTI: "SM",3`` into ``("SM", 3)``; None if the line is not a +CMTI URC."""
    match = _CMTI.fullmatch(line.strip())
    if match is None:
        return None
    return match.group(1), int(match.group(2))


def _first_line(resp: AtResponse, *prefixes: str) -> tuple[str, str]:
    for line in resp.lines:
        for prefix in prefixes:
            if line.startswith(prefix):
                return prefix, line[len(prefix) :]
    raise AtParseError(f"{resp.command}: no {'/'.join(prefixes)} line in {len(resp.lines)} lines")


def parse_csq(resp: AtResponse) -> tuple[int, int]:
    """Parse ``+CSQ: <rssi>,<ber>`` into ``(rssi, ber)``.

    Raises:
        AtParseError: If there is no readable +CSQ line.
    """
    _, rest = _first_line(resp, "+CSQ:")
    fields = rest.split(",")
    values = [_int_field(f) for f in fields[:2]]
    if len(values) != 2 or values[0] is None or values[1] is None:
        raise AtParseError(f"cannot parse +CSQ:{rest!r}")
    return values[0], values[1]


def csq_to_dbm(rssi: int) -> float | None:
    """Convert a +CSQ rssi (0..31) to dBm (-113 + 2 * rssi); None for 99 (unknown) or out of range."""
    if 0 <= rssi <= 31:
        return float(-113 + 2 * rssi)
    return None


def parse_creg(resp: AtResponse) -> tuple[int, int]:
    """Parse ``+CREG: <n>,<stat>[,<lac>,<ci>[,<AcT>]]`` (also +CGREG/+CEREG) into ``(n, stat)``.

    stat: 0 not registered, 1 home, 2 searching, 3 denied, 4 unknown, 5 roaming.
    A URC-shaped line (``+CREG: <stat>[,<lac>,<ci>]``) that slipped into the
    response is skipped.

    Raises:
        AtParseError: If there is no line of the read-command shape.
    """
    for line in resp.lines:
        for prefix in ("+CREG:", "+CGREG:", "+CEREG:"):
            if line.startswith(prefix):
                fields = line[len(prefix) :].split(",")
                if len(fields) >= 2:
                    n, stat = _int_field(fields[0]), _int_field(fields[1])
                    if n is not None and stat is not None:
                        return n, stat
    raise AtParseError(f"{resp.command}: no +CREG: <n>,<stat> line")


def parse_cpms(resp: AtResponse) -> tuple[int, int]:
    """Parse ``(used, total)`` of the first storage from a +CPMS line.

    Accepts both the AT+CPMS? form (``+CPMS: "SM",3,30,"SM",3,30,"SM",3,30``)
    and the AT+CPMS=... form (``+CPMS: 3,30,3,30,3,30``).

    Raises:
        AtParseError: If there is no readable +CPMS line.
    """
    _, rest = _first_line(resp, "+CPMS:")
    fields = [f.strip() for f in rest.split(",")]
    if fields and _int_field(fields[0]) is None:
        fields = fields[1:]  # the storage name of the read form
    values = [_int_field(f) for f in fields[:2]]
    if len(values) != 2 or values[0] is None or values[1] is None:
        raise AtParseError(f"cannot parse +CPMS:{rest!r}")
    return values[0], values[1]


def parse_cmgs(line: str) -> int:
    """Parse ``+CMGS: <mr>[,<scts/ackpdu>]`` into the message reference.

    Raises:
        AtParseError: If the line is not a +CMGS answer.
    """
    match = _CMGS.fullmatch(line.strip())
    if match is None:
        raise AtParseError(f"cannot parse {line!r} as +CMGS: <mr>")
    return int(match.group(1))
