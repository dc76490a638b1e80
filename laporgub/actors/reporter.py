"""ReportGenerator: builds the monthly report on schedule and sends it to the leaders' chats, once each."""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import peewee
import telegram.error

from laporgub import actor_names, db
from laporgub.actors._base import Directory, LaporgubActor, Scheduler, handles
from laporgub.clock import SYSTEM, Clock
from laporgub.config import Config
from laporgub.messages import Tick
from laporgub.report.build import BuiltReport, build_report, caption
from laporgub.report.periods import Month, due_month, month_to_send, next_send_time, service_existed
from laporgub.report.settings import ReportConfig, report_chats, report_config
from laporgub.telegram_gateway import TelegramGateway, Throttled, retry_after_seconds

logger = logging.getLogger(__name__)

#: A claim older than this whose holder never finished (it crashed) may be taken over.
CLAIM_LEASE_SECONDS = 30 * 60.0
#: Even with nothing to do, look again this often (clock jumps, a config reload, another instance's failure).
IDLE_CHECK_SECONDS = 3600.0
#: Failed deliveries of this many months back are still retried; older ones are left for a human.
RETRY_MONTHS = 2
#: Telegram bots may upload at most 50 MB; bigger files go as ZIP.
UPLOAD_LIMIT = 48 * 1024 * 1024
SEND_TIMEOUT = 180.0
#: How long a file waits for a free slot in the chat's flood limits before the try counts as failed.
SLOT_WAIT = 30.0


@dataclass(frozen=True, slots=True)
class Delivery:
    """What one check did for one (month, chat)."""

    month: str
    chat_id: int
    outcome: str  # sent | failed | skipped (already sent, or claimed by another instance)
    detail: str = ""


class ReportGenerator(LaporgubActor):
    """Sends each month's report (PDF, XLSX, CSV) to every configured chat exactly once.

    Runs in its own thread. At start and on every timer tick it works out the
    latest month whose scheduled time (``[report] day/hour/minute`` in the
    service's time zone) has passed, so a report the service missed while it
    was down is produced at start (within ``[report] catch_up_days`` of the
    scheduled time). Each ``(month, chat)`` is claimed in the
    ``report_run`` table before anything is sent: the unique key lets exactly
    one instance win, also when several share the database. A failed send
    stays ``failed`` and is retried after ``retry_minutes``; files already
    accepted by Telegram for that chat are not sent again. A claim whose
    holder died is taken over after :data:`CLAIM_LEASE_SECONDS` (if it died
    between Telegram's answer and the commit, that chat gets the file twice:
    at most once more, never lost).

    Args:
        config: the validated configuration (``[report]``, leaders, time zone, SLA, groups).
        gateway: the Telegram gateway (``sendDocument``).
        clock: the service's clock; tests inject one that is "the 1st at 08:00".
        instance: name recorded in ``report_run.claimed_by`` (default: host and process id).
        work_dir: where report files are built (default: a fresh temporary directory per build).
    """

    actor_name = actor_names.REPORTER
    uses_database = True

    def __init__(
        self, *, config: Config, gateway: TelegramGateway, directory: Directory, scheduler: Scheduler,
        clock: Clock = SYSTEM, instance: str | None = None, work_dir: str | None = None,
    ) -> None:
        super().__init__(directory=directory, scheduler=scheduler, clock=clock)
        self.config = config
        self.gateway = gateway
        self.instance = instance or f"{socket.gethostname()}:{os.getpid()}"
        self.work_dir = work_dir
        self._retry_after = 0.0  # clock time before which failed rows are not retried (RetryAfter)
        self._warned = ""

    @property
    def settings(self) -> ReportConfig:
        return report_config(self.config)

    def on_start(self) -> None:
        super().on_start()
        self.actor_ref.tell(Tick("start"))  # a report missed while the service was down goes out now

    def set_config(self, config: Config) -> None:
        """Apply a reloaded config (schedule, recipients) from the next check on."""
        self.config = config

    @handles(Tick)
    def _on_tick(self, message: Tick) -> None:
        deliveries = self._safe_check()
        self.schedule(self._next_delay(deliveries), Tick("report"))

    # -- the check --------------------------------------------------------------------

    def check(self) -> list[Delivery]:
        """Send every report that is due and not yet delivered (runs in the actor's thread).

        Returns:
            What happened per (month, chat); empty when nothing was due.
        """
        settings = self.settings
        if not settings.enabled:
            return []
        chats = report_chats(self.config, settings)
        if not chats:
            logger.warning("event=report_no_recipients detail=no_leaders_and_no_extra_chat_ids")
            return []
        now = self.clock.time()
        tz = self.config.tz
        due = due_month(now, settings.day, settings.hour, settings.minute, tz)
        months = self._failed_months(due, now)
        current = month_to_send(now, settings.day, settings.hour, settings.minute, settings.catch_up_days, tz)
        installed = db.installed_at()
        if current is not None and not service_existed(current, installed, tz):
            self._warn_new_installation(current)
        elif current is not None:
            months.append(current)
        elif not self._any_run(due):
            self._warn_missed(due)
        deliveries: list[Delivery] = []
        for month in dict.fromkeys(sorted(months)):
            deliveries.extend(self._deliver(month, chats, now))
        return deliveries

    def _safe_check(self) -> list[Delivery]:
        try:
            return self.check()
        except Exception:
            # Nothing is lost: the claims say what was sent; the next tick tries again.
            logger.exception("event=report_check_failed")
            return [Delivery("-", 0, "failed", "check failed")]

    def _next_delay(self, deliveries: list[Delivery]) -> float:
        settings = self.settings
        now = self.clock.time()
        if any(d.outcome == "failed" for d in deliveries):
            return max(settings.retry_minutes * 60.0, self._retry_after - now, 1.0)
        upcoming = next_send_time(now, settings.day, settings.hour, settings.minute, self.config.tz)
        return max(1.0, min(upcoming - now, IDLE_CHECK_SECONDS))

    def _any_run(self, month: Month) -> bool:
        return db.ReportRun.select().where(db.ReportRun.month == str(month)).exists()

    def _warn_missed(self, month: Month) -> None:
        if self._warned == str(month):
            return
        self._warned = str(month)
        if db.ReportRun.select().exists():  # reports went out before: this one was missed
            logger.warning("event=report_missed month=%s catch_up_days=%g action=run_laporgub_report_by_hand",
                           month, self.settings.catch_up_days)
        else:  # a new installation: the first report goes out at the next scheduled time
            logger.info("event=report_first_schedule month=%s", month.next())

    def _warn_new_installation(self, month: Month) -> None:
        if self._warned != str(month):
            self._warned = str(month)
            logger.info("event=report_skipped month=%s reason=month_ended_before_installation first_month=%s",
                        month, month.next())

    def _failed_months(self, due: Month, now: float) -> list[Month]:
        """Earlier months with a failed (or abandoned) delivery still worth retrying."""
        oldest = due
        for _ in range(RETRY_MONTHS):
            oldest = oldest.previous()
        rows = (
            db.ReportRun.select(db.ReportRun.month).distinct()
            .where((db.ReportRun.month >= str(oldest)) & (db.ReportRun.month <= str(due))
                   & ((db.ReportRun.status == "failed")
                      | ((db.ReportRun.status == "claimed") & (db.ReportRun.claimed_at < now - CLAIM_LEASE_SECONDS))))
        )
        return sorted(Month.parse(r.month) for r in rows)

    def _deliver(self, month: Month, chats: tuple[int, ...], now: float) -> list[Delivery]:
        done = {
            r.chat_id for r in db.ReportRun.select(db.ReportRun.chat_id)
            .where((db.ReportRun.month == str(month)) & (db.ReportRun.status == "sent"))
        }
        retry_blocked = now < self._retry_after
        claimed: list[int] = []
        results: list[Delivery] = []
        for chat_id in chats:
            if chat_id in done:
                continue
            if self._claim(month, chat_id, now, allow_failed=not retry_blocked):
                claimed.append(chat_id)
            else:
                results.append(Delivery(str(month), chat_id, "skipped", "claimed elsewhere or waiting to retry"))
        if not claimed:
            return results
        with tempfile.TemporaryDirectory(prefix=f"laporgub-report-{month}-", dir=self.work_dir) as tmp:
            try:
                built = build_report(self.config, month, tmp, as_of=now, generated_at=now,
                                     formats=self.settings.formats)
            except Exception as exc:
                logger.exception("event=report_build_failed month=%s", month)
                for chat_id in claimed:
                    self._mark_failed(month, chat_id, f"build failed: {type(exc).__name__}: {exc}")
                    results.append(Delivery(str(month), chat_id, "failed", "build failed"))
                return results
            for chat_id in claimed:
                results.append(self._send(built, chat_id))
        return results

    # -- claims ---------------------------------------------------------------------------

    def _claim(self, month: Month, chat_id: int, now: float, *, allow_failed: bool) -> bool:
        """Take ``(month, chat)`` for this instance; False if another has it or it is done."""
        try:
            with db.database.atomic():
                db.ReportRun.create(month=str(month), chat_id=chat_id, status="claimed",
                                    claimed_by=self.instance, claimed_at=now)
            return True
        except peewee.IntegrityError:
            pass
        takeover = (db.ReportRun.status == "claimed") & (db.ReportRun.claimed_at < now - CLAIM_LEASE_SECONDS)
        if allow_failed:
            takeover = takeover | (db.ReportRun.status == "failed")
        updated = (
            db.ReportRun.update(status="claimed", claimed_by=self.instance, claimed_at=now)
            .where((db.ReportRun.month == str(month)) & (db.ReportRun.chat_id == chat_id) & takeover)
            .execute()
        )
        return bool(updated == 1)

    def _sent_files(self, month: Month, chat_id: int) -> set[str]:
        row = db.ReportRun.get_or_none((db.ReportRun.month == str(month)) & (db.ReportRun.chat_id == chat_id))
        return {f for f in (row.files or "").split(",") if f} if row is not None else set()

    def _mark_files(self, month: Month, chat_id: int, files: set[str]) -> None:
        db.ReportRun.update(files=",".join(sorted(files))).where(
            (db.ReportRun.month == str(month)) & (db.ReportRun.chat_id == chat_id)
            & (db.ReportRun.claimed_by == self.instance)).execute()

    def _mark_failed(self, month: Month, chat_id: int, error: str) -> None:
        db.ReportRun.update(status="failed", last_error=error[:500]).where(
            (db.ReportRun.month == str(month)) & (db.ReportRun.chat_id == chat_id)
            & (db.ReportRun.claimed_by == self.instance) & (db.ReportRun.status == "claimed")).execute()

    # -- sending ----------------------------------------------------------------------------

    def _send(self, built: BuiltReport, chat_id: int) -> Delivery:
        month = built.month
        sent = self._sent_files(month, chat_id)
        try:
            for file in built.files:
                path = _uploadable(file.path)
                if path.name in sent:
                    continue  # accepted on an earlier try: never twice
                # Through the gateway's flood limiter like every message: a chat that Telegram
                # told to wait (retry_after) waits for every sender, this one included.
                self.gateway.send_document(
                    chat_id, path.read_bytes(), path.name, caption=caption(built.report, file.format),
                    wait=SLOT_WAIT, timeout=SEND_TIMEOUT,
                )
                sent.add(path.name)
                self._mark_files(month, chat_id, sent)
        except Throttled as exc:
            self._retry_after = max(self._retry_after, self.clock.time() + exc.retry_in)
            return self._failed(month, chat_id, f"throttled {exc.retry_in:.0f}s")
        except telegram.error.RetryAfter as exc:
            wait = retry_after_seconds(exc)
            self._retry_after = self.clock.time() + wait
            return self._failed(month, chat_id, f"RetryAfter {wait:g}s")
        except telegram.error.TelegramError as exc:
            return self._failed(month, chat_id, f"{type(exc).__name__}: {exc.message}")
        except OSError as exc:
            return self._failed(month, chat_id, f"{type(exc).__name__}: {exc}")
        updated = db.ReportRun.update(status="sent", sent_at=self.clock.time(), last_error=None).where(
            (db.ReportRun.month == str(month)) & (db.ReportRun.chat_id == chat_id)
            & (db.ReportRun.claimed_by == self.instance)).execute()
        if updated != 1:
            logger.error("event=report_claim_lost month=%s chat=%s bug=true", month, chat_id)
        logger.info("event=report_sent month=%s chat=%s files=%s", month, chat_id, ",".join(sorted(sent)))
        return Delivery(str(month), chat_id, "sent")

    def _failed(self, month: Month, chat_id: int, error: str) -> Delivery:
        logger.warning("event=report_send_failed month=%s chat=%s error=%s retry_minutes=%g",
                       month, chat_id, error, self.settings.retry_minutes)
        self._mark_failed(month, chat_id, error)
        return Delivery(str(month), chat_id, "failed", error)


def _uploadable(path: Path) -> Path:
    """The file as sent: itself, or a ZIP of it when it exceeds Telegram's upload limit."""
    if path.stat().st_size <= UPLOAD_LIMIT:
        return path
    packed = path.with_name(path.name + ".zip")
    if not packed.exists():
        with zipfile.ZipFile(packed, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.write(path, arcname=path.name)
    return packed
