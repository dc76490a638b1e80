"""ModemReader: one per ``[[modems]]`` entry; reads SMS from a GSM modem and sends outbound SMS."""

from __future__ import annotations

import logging
import os
from typing import Any

import serial

from laporgub import actor_names, pdu
from laporgub.actors._base import Directory, LaporgubActor, Scheduler, handles
from laporgub.at import (
    AtChannel,
    AtError,
    AtTimeout,
    PortClosed,
    Urc,
    csq_to_dbm,
    parse_cmgl,
    parse_cmgr,
    parse_cmti,
    parse_cpms,
    parse_creg,
    parse_csq,
)
from laporgub.clock import SYSTEM, Clock
from laporgub.config import ModemConfig
from laporgub.exceptions import ModemError, PduError
from laporgub.masking import mask_msisdn
from laporgub.messages import ModemIndication, OutboundQueued, PortLost, SmsNotStored, SmsReceived, SmsStored, Tick
from laporgub.metrics import Metrics
from laporgub.outbox import Alerts, ClaimedSms, claim_outbound, outbound_retry, outbound_sent, release_claims
from laporgub.render import wording
from laporgub.smsguard import SmsGuard

logger = logging.getLogger(__name__)

#: An SMS handed to the registry but not confirmed within this time is offered again.
IN_FLIGHT_TIMEOUT = 30.0
#: Reconnect backoff bounds, seconds.
BACKOFF_MIN, BACKOFF_MAX = 1.0, 60.0
#: SMS storage slots a modem has at most, roughly (bounds the first-report times kept).
MAX_FIRST_REPORTED = 255
#: Consecutive command timeouts after which the port is reopened.
MAX_TIMEOUTS = 2
#: Unsolicited lines vendors use to say the SMS storage is full (Huawei ^SMMEMFULL, +CIEV "SMSFULL", ...).
STORAGE_FULL_MARKS = ("SMMEMFULL", "SMSFULL", "MEMFULL", "+CMS ERROR: 322")
#: (modem name, PIN) pairs the SIM refused in this process; kept across reader restarts.
_REFUSED_PINS: set[tuple[str, str]] = set()


class ModemReader(LaporgubActor):
    """Owns one modem: AT initialisation, reading stored SMS, deleting them once committed, sending outbound SMS.

    Runs in its own thread; the AT channel's reader thread only ``tell``s it
    indications. Every AT command is bounded by a timeout, so ``stop`` and the
    supervisor's ``ping`` always get through. A failing modem reconnects with
    backoff and never touches another modem.
    """

    uses_database = True

    def __init__(self, *, config: ModemConfig, alerts: Alerts, metrics: Metrics, directory: Directory,
                 scheduler: Scheduler, guard: SmsGuard | None = None, clock: Clock = SYSTEM) -> None:
        super().__init__(directory=directory, scheduler=scheduler, clock=clock)
        self.config = config
        #: Who may be sent an SMS, how many, how long (laporgub/smsguard.py); None only in unit tests.
        self.guard = guard
        self.actor_name = actor_names.modem(config.name)
        self.alerts = alerts
        self.metrics = metrics
        self.channel: AtChannel | None = None
        self.up = False
        self._in_flight: dict[int, tuple[str, float]] = {}
        #: PDU -> when the modem first reported it: an SMS offered again after a failed store
        #: (database locked, disk full) keeps its register stage start (docs/sop.md stages).
        self._first_reported: dict[str, float] = {}
        self._backoff = BACKOFF_MIN
        self._timeouts = 0
        self._connect_pending = False
        self._message_ref = int(self.clock.time()) % 256
        self._failures = 0  # failed connections in a row
        self._alerted = False
        self._ever_up = False

    # -- lifecycle -----------------------------------------------------------

    def on_start(self) -> None:
        super().on_start()
        # Claims under our name are from a previous life of this reader (a crash, a
        # kill -9): send them again rather than wait for the lease to expire.
        release_claims(self.config.name)
        # Connect from the inbox, not here: a slow or hung modem must not hold up start().
        self._connect_pending = True
        self.actor_ref.tell(Tick("connect"))
        self.schedule(self.config.sweep_interval_seconds, Tick("sweep"))

    def release(self) -> None:
        self._close("stopping")
        try:
            release_claims(self.config.name)
        except Exception:
            logger.exception("event=release_claims_failed modem=%s", self.config.name)

    def is_up(self) -> bool:
        """Whether the modem is open and initialised (runs in the actor's thread)."""
        return self.up

    # -- messages ------------------------------------------------------------

    @handles(ModemIndication)
    def _on_indication(self, message: ModemIndication) -> None:
        self._indication(message)

    @handles(SmsStored)
    def _on_stored(self, message: SmsStored) -> None:
        self._delete(message)

    @handles(SmsNotStored)
    def _on_not_stored(self, message: SmsNotStored) -> None:
        self._in_flight.pop(message.index, None)
        logger.warning("event=sms_not_stored modem=%s index=%s reason=%s", self.config.name, message.index,
                       message.reason)

    @handles(OutboundQueued)
    def _on_outbound(self, message: OutboundQueued) -> None:
        self._send_outbound()

    @handles(PortLost)
    def _on_port_lost_message(self, message: PortLost) -> None:
        # Ignore a late report about a channel already replaced by a reconnect.
        if self.up and (self.channel is None or not self.channel.is_open):
            self._lost(f"port lost: {message.reason}")

    @handles(Tick)
    def _on_tick(self, message: Tick) -> None:
        if message.reason == "connect":
            self._connect_pending = False
            self._connect()
        elif message.reason == "sweep":
            if self.up:
                self._sweep()
                self._poll_status()
                self._send_outbound()
            self.schedule(self.config.sweep_interval_seconds, Tick("sweep"))

    # -- connecting ------------------------------------------------------------

    def _connect(self) -> None:
        if self.up:
            return
        name = self.config.name
        try:
            port = serial.serial_for_url(
                self.config.port, baudrate=self.config.baudrate, timeout=0.1, write_timeout=5,
                do_not_open=True,
            )
            if isinstance(port, serial.Serial):
                port.exclusive = True  # two services must not share one modem
            port.open()
        except (serial.SerialException, OSError, ValueError) as exc:
            self.metrics.modem_errors.labels(modem=name, error="open_failed").inc()
            self._failed(f"cannot open {self.config.port}: {exc}")
            return
        self.channel = AtChannel(port, on_urc=self._on_urc, on_port_lost=self._on_port_lost, name=name)
        self.channel.start()
        try:
            self._initialise()
        except ModemError as exc:
            self.metrics.modem_errors.labels(modem=name, error="init_failed").inc()
            if self._failures + 1 >= 2 and self.channel is not None and self.channel.is_open:
                # Failing again and again: reset the modem to its stored profile before reopening.
                try:
                    self.channel.command("ATZ", timeout=self.config.command_timeout_seconds)
                    logger.warning("event=modem_reset modem=%s command=ATZ", name)
                except ModemError as reset_error:
                    logger.warning("event=modem_reset_failed modem=%s error=%s", name, reset_error)
            self._close(str(exc))
            self._failed(f"initialisation failed: {exc}")
            return
        self.up = True
        self._backoff = BACKOFF_MIN
        self._timeouts = 0
        if self._ever_up:
            self.metrics.modem_reconnects.labels(modem=name).inc()
        self._ever_up = True
        self.metrics.modem_up.labels(modem=name).set(1)
        logger.info("event=modem_up modem=%s port=%s after_failures=%s", name, self.config.port, self._failures)
        if self._alerted:
            self.alerts.send(wording("admin.modem_back", modem=name, failures=self._failures))
            self._alerted = False
        self._failures = 0
        # Indications sent while the port was closed are lost: read everything stored.
        self._sweep()
        self._poll_status()
        self._send_outbound()

    def _initialise(self) -> None:
        """Initialise like a careful client (3GPP TS 27.005/27.007).

        Only PDU mode is essential; modems that lack a command for numeric
        errors, PIN status, storage choice or indications are used anyway
        (the storage sweep then finds what indications would have announced).
        """
        ch = self.channel
        assert ch is not None
        t = self.config.command_timeout_seconds
        name = self.config.name
        # A process killed inside AT+CMGS leaves the modem at its "> " prompt.
        ch.reset_prompt()
        ch.command("ATE0", timeout=t)
        self._optional("AT+CMEE=1")
        try:
            state = " ".join(ch.command("AT+CPIN?", timeout=t, expect="+CPIN:").lines) or "READY"
        except AtError as exc:
            if exc.code is not None:  # +CME ERROR: 10 SIM not inserted, 13 SIM failure, ...
                raise ModemError(f"SIM not usable: {exc.final}") from exc
            state = "READY"  # the modem does not know AT+CPIN?
        if "READY" not in state:
            pin = os.environ.get(self.config.pin_env or "", "")
            if "SIM PIN" in state and pin and (name, pin) in _REFUSED_PINS:
                # Never offer a refused PIN again: three wrong entries lock the SIM until its PUK is typed.
                raise ModemError(f"SIM PIN from {self.config.pin_env} was refused earlier; not entered again "
                                 "(the SIM locks after 3 wrong PINs): fix it and restart the service")
            elif "SIM PIN" in state and pin:
                try:
                    ch.command(f"AT+CPIN={pin}", timeout=t)
                except AtError as exc:
                    _REFUSED_PINS.add((name, pin))
                    logger.error("event=sim_pin_refused modem=%s answer=%s action=not_retried", name, exc.final)
                    raise ModemError(f"SIM PIN from {self.config.pin_env} refused ({exc.final}); not entered "
                                     "again until the service restarts") from exc
            else:
                raise ModemError(f"SIM not ready ({state}); set pin_env if it needs a PIN")
        ch.command("AT+CMGF=0", timeout=t)
        s = self.config.storage
        if not self._optional(f'AT+CPMS="{s}","{s}","{s}"', expect="+CPMS:"):
            logger.warning("event=modem_storage_default modem=%s storage=%s", name, s)
        for cnmi in ("AT+CNMI=2,1,0,0,0", "AT+CNMI=1,1,0,0,0", "AT+CNMI=2,1"):
            if self._optional(cnmi):
                break
        else:
            logger.warning("event=modem_no_indications modem=%s fallback=sweep_every_%ss", name,
                           self.config.sweep_interval_seconds)

    def _optional(self, cmd: str, expect: str | None = None) -> bool:
        """A command some modems lack: False on ERROR instead of failing the initialisation."""
        assert self.channel is not None
        try:
            self.channel.command(cmd, timeout=self.config.command_timeout_seconds, expect=expect)
        except AtError as exc:
            logger.info("event=modem_command_unsupported modem=%s command=%s answer=%s", self.config.name, cmd,
                        exc.final)
            return False
        return True

    def _on_urc(self, urc: Urc) -> None:
        # Runs in the AT reader thread: only hand over, never block.
        try:
            self.actor_ref.tell(ModemIndication(urc.line, urc.pdu, self.clock.time()))
        except Exception:  # the actor is stopping
            pass

    def _on_port_lost(self, error: PortClosed) -> None:
        # Runs in the AT reader thread: only hand over.
        try:
            self.actor_ref.tell(PortLost(str(error)))
        except Exception:  # the actor is stopping
            pass

    def _failed(self, reason: str) -> None:
        """A connection attempt failed: count it, tell the admins past the limit, retry later."""
        self._failures += 1
        if self._failures >= self.config.failures_before_alert and not self._alerted:
            self._alerted = True
            self.alerts.send(wording("admin.modem_failing", modem=self.config.name, port=self.config.port,
                                     failures=self._failures, reason=reason))
        self._retry_later(reason)

    def _retry_later(self, reason: str) -> None:
        self.metrics.modem_up.labels(modem=self.config.name).set(0)
        logger.warning("event=modem_down modem=%s reason=%s retry_seconds=%.0f", self.config.name, reason,
                       self._backoff)
        if not self._connect_pending:
            self._connect_pending = True
            self.schedule(self._backoff, Tick("connect"))
        self._backoff = min(BACKOFF_MAX, self._backoff * 2)

    def _close(self, reason: str) -> None:
        if self.channel is not None:
            try:
                self.channel.close()
            except Exception:
                pass
            self.channel = None
        if self.up:
            logger.info("event=modem_closed modem=%s reason=%s", self.config.name, reason)
        self.up = False
        self._in_flight.clear()
        self.metrics.modem_up.labels(modem=self.config.name).set(0)

    def _command(self, cmd: str, expect: str | None = None, timeout: float | None = None) -> Any:
        """Run one command; port loss and repeated timeouts close the modem for a reconnect."""
        if self.channel is None:
            raise PortClosed("not connected")
        try:
            response = self.channel.command(cmd, timeout=timeout or self.config.command_timeout_seconds, expect=expect)
        except AtTimeout:
            self._timeouts += 1
            self.metrics.modem_errors.labels(modem=self.config.name, error="timeout").inc()
            if self._timeouts >= MAX_TIMEOUTS:
                self._lost(f"{self._timeouts} commands timed out")
            raise
        except AtError as exc:
            self.metrics.modem_errors.labels(modem=self.config.name, error="at_error").inc()
            if exc.code == 322:  # memory full
                self.metrics.modem_errors.labels(modem=self.config.name, error="storage_full").inc()
            raise
        except PortClosed as exc:
            self._lost(f"port lost: {exc}")
            raise
        self._timeouts = 0
        return response

    def _lost(self, reason: str) -> None:
        self.metrics.modem_errors.labels(modem=self.config.name, error="port_lost").inc()
        self._close(reason)
        self._failed(reason)

    # -- status ----------------------------------------------------------------

    def _poll_status(self) -> None:
        """Signal, registration and storage fill, as gauges; a full storage is drained at once."""
        name = self.config.name
        try:
            rssi, _ber = parse_csq(self._command("AT+CSQ", expect="+CSQ:"))
            dbm = csq_to_dbm(rssi)
            self.metrics.modem_signal.labels(modem=name).set(float("nan") if dbm is None else dbm)
            _n, stat = parse_creg(self._command("AT+CREG?", expect="+CREG:"))
            self.metrics.modem_registration_status.labels(modem=name).set(stat)
            self.metrics.modem_registered.labels(modem=name).set(1 if stat in (1, 5) else 0)
        except ModemError as exc:
            logger.debug("event=modem_status_failed modem=%s error=%s", name, exc)
        try:
            used, total = parse_cpms(self._command("AT+CPMS?", expect="+CPMS:"))
        except ModemError as exc:
            logger.debug("event=modem_storage_unknown modem=%s error=%s", name, exc)
            return
        self.metrics.modem_storage_used.labels(modem=name).set(used)
        self.metrics.modem_storage_total.labels(modem=name).set(total)
        if total and used >= total:
            self._storage_full(f"{used}/{total}")

    def _storage_full(self, detail: str) -> None:
        """A full SIM refuses new SMS silently: drain it now (what is committed gets deleted)."""
        self.metrics.modem_errors.labels(modem=self.config.name, error="storage_full").inc()
        logger.warning("event=modem_storage_full modem=%s detail=%s action=drain", self.config.name, detail)
        self._sweep()

    # -- reading ---------------------------------------------------------------

    def _indication(self, message: ModemIndication) -> None:
        if message.line.startswith("+CMTI"):
            parsed = parse_cmti(message.line)
            if parsed is not None and self.up:
                self._read(parsed[1], message.at)
        elif self.up and any(mark in message.line.upper() for mark in STORAGE_FULL_MARKS):
            self._storage_full(message.line)
        else:
            logger.debug("event=modem_urc modem=%s line=%s", self.config.name, message.line)

    def _read(self, index: int, reported_at: float) -> None:
        if index in self._in_flight:
            return
        try:
            stored = parse_cmgr(self._command(f"AT+CMGR={index}", expect="+CMGR:"), index)
        except ModemError as exc:
            logger.warning("event=modem_read_failed modem=%s index=%s error=%s", self.config.name, index, exc)
            return  # the next sweep finds it
        if stored is not None:
            self._offer(index, stored.pdu, reported_at)

    def _sweep(self) -> None:
        """Offer everything in storage that is not already on its way (AT+CMGL=4)."""
        try:
            timeout = max(10.0, 2 * self.config.command_timeout_seconds)  # a full SIM takes a while to list
            stored = parse_cmgl(self._command("AT+CMGL=4", expect="+CMGL:", timeout=timeout))
        except ModemError as exc:
            logger.warning("event=modem_sweep_failed modem=%s error=%s", self.config.name, exc)
            return
        now = self.clock.time()
        for item in stored:
            flight = self._in_flight.get(item.index)
            if flight is not None and flight[0] == item.pdu and now - flight[1] < IN_FLIGHT_TIMEOUT:
                continue
            self._offer(item.index, item.pdu, now)

    def _offer(self, index: int, pdu_hex: str, reported_at: float) -> None:
        self._in_flight[index] = (pdu_hex, self.clock.time())
        if len(self._first_reported) > 4 * MAX_FIRST_REPORTED:
            self._first_reported.clear()  # bounded: slots whose confirmation never came
        reported_at = self._first_reported.setdefault(pdu_hex, reported_at)
        if not self.directory.tell(actor_names.REGISTRY, SmsReceived(self.config.name, index, pdu_hex, reported_at)):
            self._in_flight.pop(index, None)  # registry restarting: the next sweep offers it again

    def _delete(self, message: SmsStored) -> None:
        self._first_reported.pop(message.pdu, None)
        flight = self._in_flight.pop(message.index, None)
        if flight is not None and flight[0] != message.pdu:
            logger.warning("event=modem_slot_changed modem=%s index=%s", self.config.name, message.index)
            return
        if not self.up:
            return  # still stored on the modem: the next sweep offers it, the registry knows it, then it goes
        try:
            self._command(f"AT+CMGD={message.index}")
        except ModemError as exc:
            logger.warning("event=modem_delete_failed modem=%s index=%s error=%s", self.config.name,
                           message.index, exc)
            return
        logger.debug("event=sms_deleted modem=%s index=%s inbound=%s", self.config.name, message.index,
                     message.inbound_id)

    # -- sending -----------------------------------------------------------------

    def _send_outbound(self) -> None:
        if not self.up:
            return
        try:
            claimed = claim_outbound(self.config.name, self.clock.time(), limit=3)
        except Exception:
            logger.exception("event=outbox_claim_failed modem=%s", self.config.name)
            return
        for sms in claimed:
            self._send_one(sms)
            if not self.up:
                break
        if len(claimed) == 3 and self.up:
            self.actor_ref.tell(OutboundQueued())  # more may wait; let other messages in between

    def _send_one(self, sms: ClaimedSms) -> None:
        name = self.config.name
        text = sms.text
        if self.guard is not None:
            reason = self.guard.check(sms.id, sms.destination)
            if reason is not None:
                self.guard.refuse(sms.id, sms.destination, reason, ticket=sms.ticket, purpose=sms.purpose, modem=name)
                return
            text = self.guard.fit(text)
        try:
            parts = pdu.encode_submit(sms.destination, text, message_reference=self._message_ref,
                                      concat_reference=self._message_ref)
            # encode_submit numbers each part's TP-MR from this one.
            self._message_ref = (self._message_ref + len(parts)) % 256
        except PduError as exc:
            outbound_retry(sms.id, f"cannot encode: {exc}", self.clock.time(), sms.attempts, max_attempts=1)
            logger.error("event=sms_encode_failed modem=%s ticket=%s error=%s bug=true", name, sms.ticket or "-", exc)
            return
        refs = []
        try:
            for part in parts:
                if self.channel is None:
                    raise PortClosed("not connected")
                refs.append(self.channel.send_pdu(part.tpdu_length, part.hex, timeout=60.0))
        except ModemError as exc:
            if isinstance(exc, PortClosed):
                self._lost(f"port lost while sending: {exc}")
            elif isinstance(exc, AtTimeout):
                self.metrics.modem_errors.labels(modem=name, error="timeout").inc()
            else:
                self.metrics.modem_errors.labels(modem=name, error="at_error").inc()
            outbound_retry(sms.id, str(exc), self.clock.time(), sms.attempts)
            logger.warning("event=sms_send_failed modem=%s ticket=%s to=%s purpose=%s error=%s", name,
                           sms.ticket or "-", mask_msisdn(sms.destination), sms.purpose, exc)
            return
        outbound_sent(sms.id, name, refs, self.clock.time())
        self.metrics.outbound_sms_sent.labels(modem=name).inc()
        logger.info("event=sms_sent modem=%s ticket=%s to=%s purpose=%s parts=%s", name, sms.ticket or "-",
                    mask_msisdn(sms.destination), sms.purpose, len(parts))
