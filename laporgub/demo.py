"""``laporgub demo``: the whole service on an emulated modem and a local Bot API stand-in.

Nothing to configure: it takes the packaged default config.toml, points the
modem at the pty emulator, Telegram at the stand-in (with Telegram's flood
limits on) and the database at a temporary SQLite file; then feeds a dozen
realistic SMS and shows each one's way: SMS -> ticket -> groups, with the
measured stage times against the SOP's limits.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from laporgub import db
from laporgub.config import Config, Secret, parse_config
from laporgub.exceptions import ConfigError, LaporgubError
from laporgub.tickets import mask_msisdn

if TYPE_CHECKING:  # for the annotations only (run_demo imports them when it runs)
    from laporgub.app import Service
    from laporgub.sim.botapi import BotApiServer
    from laporgub.sim.modem import ModemEmulator

#: Prints one line of the demo's narration.
Say = Callable[[str], None]

logger = logging.getLogger(__name__)

DEMO_TOKEN = "123456:LAPORGUB-DEMO-TOKEN"

#: (sender, text, what it shows)
DEMO_SMS: tuple[tuple[str, str, str], ...] = (
    ("+6281234560200", "Jalan rusak parah di Desa Kalongan Kec. Ungaran Timur, lubangnya besar2 sdh 3 bln blm "
     "diperbaiki, sering ada motor jatuh", "regency by capital town"),
    ("+6285712345678", "Pak, puskesmas di kecamatan kami sering tutup sebelum jam 12, pasien BPJS ditolak krn "
     "katanya kuota habis", "health"),
    ("+6281390001111", "BANJIR setinggi 1 meter di Kel. Tambaklorok Semarang Utara, warga butuh perahu & makanan!!!",
     "emergency"),
    ("+6287812340000", "Yth Bapak Gubernur, kami petani di Desa Ngembak Kec. Purwodadi Kab. Grobogan mengeluhkan "
     "pupuk subsidi urea dan phonska sangat langka sejak awal musim tanam. Di kios resmi selalu dibilang habis, "
     "tapi di pengecer lain ada dengan harga jauh di atas HET. Mohon ditindaklanjuti karena sawah kami sudah "
     "waktunya dipupuk. Terima kasih.", "multipart SMS"),
    ("+6281212123434", "Lampu PJU di jalan raya Solo - Sragen km 5 mati semua 😡 rawan begal kalau malam",
     "emoji (UCS2)"),
    ("+6289912345678", "Selamat! Nomor Anda mendapatkan hadiah cek tunai Rp 175jt dari PT Undian Berhadiah. "
     "Info klik bit.ly/hadiah-resmi", "spam"),
    ("TELKOMSEL", "Sisa kuota internet Anda 100MB. Beli paket murah di *363#", "operator message"),
    ("+6285600001111", "tes", "too short"),
    ("+6281398765432", "Listrik PLN padam sejak kemarin sore di Desa Sumberejo Klaten, token sdh diisi tetap mati",
     "energy"),
    ("+6282134567890", "Harga beras di pasar Bandarjo naik terus, minyak goreng juga langka. Mohon operasi pasar",
     "economy"),
    ("+6285290001234", "Limbah pabrik tekstil dibuang ke sungai, air jadi hitam & bau, ikan pada mati. "
     "Lokasi Kab. Sukoharjo", "environment"),
    ("+6281325559876", "Bikin KTP elektronik di Disdukcapil sudah 2 bulan belum jadi, alasannya blangko habis",
     "public service"),
    ("+6281234560200", "status laporan sy kmrn gmn pak?", "status query"),
)


def default_config_text() -> str:
    """The packaged copy of the repository's config.toml."""
    return resources.files("laporgub").joinpath("data/config.toml").read_text(encoding="utf-8")


def demo_config(workdir: Path, modem_port: str, base_url: str, metrics_port: int, api_port: int = 0) -> Config:
    """The default config with the demo's emulators, database and ports (no API when ``api_port`` is 0).

    The scheduled monthly report is off: the Governor's chat gets a report only when the demo
    is asked for one (``--report``).
    """
    data: dict[str, Any] = tomllib.loads(default_config_text())
    data.setdefault("report", {})["enabled"] = False
    data["service"]["database"] = f"sqlite:///{workdir / 'laporgub-demo.db'}"
    data["metrics"]["listen"] = f"127.0.0.1:{metrics_port}"
    data.pop("api", None)
    if api_port:
        data["api"] = {"listen": f"127.0.0.1:{api_port}"}
    data["telegram"]["base_url"] = base_url
    data["telegram"]["token_env"] = "LAPORGUB_DEMO_TOKEN"
    data["telegram"].pop("token_file", None)
    data["modems"] = [{"name": "demo-modem", "port": modem_port, "baudrate": 115200, "sweep_interval_seconds": 5}]
    return parse_config(data, path="(demo)")


def _free_port(preferred: int) -> int:
    if preferred:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", preferred))
                return preferred
            except OSError:
                pass
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_demo(*, forever: bool = False, metrics_port: int = 9464, out: Any = None, report: bool = False) -> int:
    """Run the demo; returns the exit code (0: every SMS handled as its kind says).

    Args:
        report: also build this month's report from the demo's tickets and send it to the
            leaders' chats (the stand-in), as the first of the month would.
    """
    from laporgub.app import Service
    from laporgub.logsetup import setup_logging
    from laporgub.sim.botapi import BotApiServer
    from laporgub.sim.modem import ModemEmulator

    out = out or sys.stdout

    def say(line: str = "") -> None:
        print(line, file=out, flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="laporgub-demo-"))
    log_path = workdir / "laporgub.log"
    log_file = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in finally
    setup_logging("INFO", stream=log_file)

    modem = ModemEmulator(name="demo-modem", storage_size=30).start()
    botapi = BotApiServer(enforce_limits=True).start()
    port = _free_port(metrics_port)
    api_port = _free_port(0)
    try:
        config = demo_config(workdir, modem.port, botapi.base_url, port, api_port)
    except ConfigError as exc:  # the packaged config is broken: a bug
        for line in exc.problems:
            say(line)
        return 2
    os.environ["LAPORGUB_DEMO_TOKEN"] = DEMO_TOKEN

    say("LaporGub demo: SMS Center LAPOR GUB! on an emulated GSM modem and a local Telegram Bot API stand-in")
    say(f"  modem (pty):   {modem.port}")
    say(f"  Bot API:       {botapi.base_url}  (Telegram's flood limits enforced)")
    say(f"  database:      {config.service.database}")
    say(f"  metrics:       http://127.0.0.1:{port}/metrics")
    say(f"  website API:   http://127.0.0.1:{api_port}/docs  (Open311: /open311/v2/services.json)")
    say(f"  log:           {log_path}")
    say("")

    service = Service(config, Secret(DEMO_TOKEN))
    should_exit = threading.Event()
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, lambda *_: should_exit.set())
    supervisor_thread: threading.Thread | None = None
    code = 0
    try:
        try:
            service.start()
        except LaporgubError as exc:
            say(f"start failed: {exc}")
            return 1
        supervisor_thread = threading.Thread(target=service.run, args=(should_exit,), name="supervisor", daemon=True)
        supervisor_thread.start()
        if not service.wait_ready(30):
            say("the service did not become ready within 30 s (see the log)")
            return 1
        say(f"service ready (laporgub_ready=1). Feeding {len(DEMO_SMS)} SMS...")
        say("")
        db.database.connect(reuse_if_open=True)
        watcher = _Watcher(config, say)
        for sender, text, what in DEMO_SMS:
            shown = sender if not sender.startswith("+") else mask_msisdn(sender)
            say(f"SMS  from {shown:<14} [{what}] {text[:70]}{'...' if len(text) > 70 else ''}")
            modem.receive_sms(sender, text)
            _sleep_watching(watcher, 0.4, should_exit)
        web_ok = _web_complaint(say, api_port)
        done = _wait_done(watcher, modem, should_exit, timeout=90)
        watcher.poll()
        code = _summary(say, config, modem, botapi, done)
        if report and code == 0:
            code = _send_report(say, config, service, workdir)
        if code == 0 and not web_ok:
            say("The website API did not answer as documented (see above).")
            code = 1
        if forever and not should_exit.is_set():
            _interactive(say, modem, watcher, should_exit)
    finally:
        should_exit.set()
        if supervisor_thread is not None:
            supervisor_thread.join(timeout=5)
        service.stop()
        botapi.stop()
        modem.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
        log_file.close()
    return code


class _Watcher:
    """Prints each ticket and notification as it happens (reads the database)."""

    def __init__(self, config: Config, say: Say) -> None:
        self.config = config
        self.say = say
        self.routed: set[int] = set()
        self.registered: set[int] = set()
        self.sent: set[int] = set()
        self.other: set[int] = set()
        self.names = {key: g.name for key, g in config.groups.items()}
        self.names.update({f"leader-{i}": ld.name for i, ld in enumerate(config.leaders, 1)})
        self.names["admin"] = "admin chat"

    def poll(self) -> None:
        sla = self.config.sla
        for t in db.Ticket.select().where(db.Ticket.id.not_in(list(self.registered) or [0])).order_by(db.Ticket.id):
            self.registered.add(t.id)
            mark = " (suspected spam)" if t.kind == "spam" else ""
            self.say(f"     ticket {t.number} registered in {t.registered_at - t.received_at:.3f} s "
                     f"(SLA {sla.register_seconds:g} s){mark}")
        for t in db.Ticket.select().where(db.Ticket.filtered_at.is_null(False)
                                          & db.Ticket.id.not_in(list(self.routed) or [0])).order_by(db.Ticket.id):
            self.routed.add(t.id)
            groups = [c.group for c in t.categories.order_by(db.TicketCategory.id)]
            regency = f", regency {t.regency}" if t.regency else ""
            self.say(f"     ticket {t.number} routed to {', '.join(groups)}{regency} in "
                     f"{_took(t.registered_at, t.filtered_at):.3f} s (SLA {sla.filter_seconds:g} s)")
        rows = (db.Notification.select().where((db.Notification.status == "sent")
                                               & db.Notification.id.not_in(list(self.sent) or [0]))
                .order_by(db.Notification.id))
        for n in rows:
            self.sent.add(n.id)
            what = n.ticket.number if n.ticket_id and n.ticket is not None else n.kind
            where = self.names.get(n.destination, n.destination)
            self.say(f"     {what} -> Telegram {where}: notify {_took(n.queued_at, n.sent_at):.2f} s "
                     f"(SLA {sla.notify_seconds:g} s), deliver {_took(n.sent_at, n.acked_at):.3f} s "
                     f"(SLA {sla.deliver_seconds:g} s)")
        for i in db.InboundSms.select().where(db.InboundSms.kind.in_(["status_query", "too_short"])
                                              & db.InboundSms.id.not_in(list(self.other) or [0])):
            self.other.add(i.id)
            answer = "status answer" if i.kind == "status_query" else "help text"
            self.say(f"     {i.kind}: no ticket, {answer} queued by SMS to {mask_msisdn(i.sender)}")


def _took(start: float | None, end: float | None) -> float:
    """Seconds from ``start`` to ``end``: the rows the demo reads them from (routed, sent) have both."""
    assert start is not None and end is not None
    return end - start


def _web_complaint(say: Say, api_port: int) -> bool:
    """The LAPOR GUB! website's side: a web complaint into the same pipeline, posted twice with one Idempotency-Key."""
    import httpx

    from laporgub.api.auth import create_key

    _, key = create_key("demo-website", ["submit", "read"])
    body: dict[str, Any] = {
        "text": "Jembatan penghubung Desa Wonoketingal Kec. Karanganyar Kab. Demak ambrol, anak sekolah "
                "terpaksa memutar 5 km",
        "reporter": {"name": "Siti", "phone": "+6281233334444"},
    }
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "demo-web-1"}
    url = f"http://127.0.0.1:{api_port}/api/v1/complaints"
    say(f"WEB  POST /api/v1/complaints  {body['text'][:70]}...")
    try:
        first = httpx.post(url, json=body, headers=headers, timeout=10)
        again = httpx.post(url, json=body, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        say(f"     the API did not answer: {exc}")
        return False
    number = first.json().get("ticket") if first.status_code == 201 else None
    say(f"     {first.status_code} ticket {number}; the same POST again (a retry): {again.status_code} "
        f"ticket {again.json().get('ticket')}, no second ticket")
    return number is not None and again.status_code == 200 and again.json().get("ticket") == number


def _sleep_watching(watcher: _Watcher, seconds: float, should_exit: threading.Event) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not should_exit.is_set():
        watcher.poll()
        time.sleep(0.1)


def _all_done() -> bool:
    pending_n = db.Notification.select().where(db.Notification.status == "pending").count()
    pending_sms = db.OutboundSms.select().where(db.OutboundSms.status.in_(["pending", "sending"])).count()
    unrouted = db.Ticket.select().where(db.Ticket.filtered_at.is_null()).count()
    return pending_n == 0 and pending_sms == 0 and unrouted == 0


def _wait_done(watcher: _Watcher, modem: ModemEmulator, should_exit: threading.Event, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not should_exit.is_set():
        watcher.poll()
        stored = modem.stored
        if not stored and db.InboundSms.select().count() >= _expected_rows() and _all_done():
            return True
        time.sleep(0.2)
    return False


def _expected_rows() -> int:
    # One row per SMS part: the multipart demo SMS has several.
    from laporgub.pdu import encode_deliver

    return sum(len(encode_deliver(s, t)) for s, t, _ in DEMO_SMS)


def _summary(say: Say, config: Config, modem: ModemEmulator, botapi: BotApiServer, done: bool) -> int:
    say("")
    say("Summary")
    kinds: dict[str, int] = {}
    for row in db.InboundSms.select(db.InboundSms.kind).where(db.InboundSms.state == "done"):
        kinds[str(row.kind)] = kinds.get(str(row.kind), 0) + 1
    tickets = db.Ticket.select().count()
    say(f"  inbound SMS rows: {db.InboundSms.select().count()} (kinds: "
        + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) + ")")
    say(f"  tickets: {tickets}; modem storage left: {len(modem.stored)} SMS")
    sla = config.sla.as_dict()
    stage_values = {
        "register": [t.registered_at - t.received_at for t in db.Ticket.select()],
        "filter": [t.filtered_at - t.registered_at for t in db.Ticket.select() if t.filtered_at],
        "notify": [_took(n.queued_at, n.sent_at)
                   for n in db.Notification.select().where(db.Notification.status == "sent")],
        "deliver": [_took(n.sent_at, n.acked_at)
                    for n in db.Notification.select().where(db.Notification.status == "sent")],
    }
    say(f"  {'stage':<9} {'count':>5} {'max s':>8} {'SLA s':>6}  within SLA")
    # The exit code says whether everything was handled; the times are this machine's (a busy
    # one can miss a limit: `laporgub status` and the benchmarks are where speed is judged).
    ok = done
    for stage, values in stage_values.items():
        worst = max(values) if values else 0.0
        within = sum(1 for v in values if v <= sla[stage])
        say(f"  {stage:<9} {len(values):>5} {worst:>8.3f} {sla[stage]:>6g}  {within}/{len(values)}")
    by_chat: dict[Any, int] = {}
    for m in botapi.messages:
        by_chat[m.chat_id] = by_chat.get(m.chat_id, 0) + 1
    names = {g.chat_id: g.name for g in config.groups.values()}
    names.update({ld.chat_id: ld.name for ld in config.leaders})
    names[config.telegram.admin_chat_id] = "admin chat"
    say(f"  Telegram messages accepted by the Bot API stand-in: {len(botapi.messages)} "
        f"(429s answered: {sum(1 for r in botapi.requests if r.status == 429)}; files among them: "
        f"{sum(1 for m in botapi.messages if m.method == 'sendDocument')})")
    for chat, count in sorted(by_chat.items(), key=lambda kv: names.get(kv[0], str(kv[0]))):
        say(f"    {names.get(chat, chat)}: {count}")
    acks = [s for s in modem.sent]
    say(f"  SMS sent back through the modem (AT+CMGS): {len(acks)} part(s), e.g.:")
    for s in acks[:3]:
        say(f"    to {mask_msisdn(s.destination)}: {s.text[:100]}")
    if not done:
        say("  NOT everything was handled within the demo's time; see the log.")
    say("")
    say("Demo finished: every SMS handled as its kind says." if ok else "Demo finished with problems (see above).")
    return 0 if ok else 1


def _send_report(say: Say, config: Config, service: Service, workdir: Path) -> int:
    """This month's report so far, built and sent to the leaders' chats as on the 1st (``--report``)."""
    from laporgub.report.build import build_report, caption
    from laporgub.report.periods import Month
    from laporgub.report.settings import report_chats, report_config

    gateway = service.gateway
    assert gateway is not None  # the demo's service is running
    now = service.clock.time()
    month = Month.of(now, config.tz)
    built = build_report(config, month, str(workdir / "report"), as_of=now)
    chats = report_chats(config, replace(report_config(config), enabled=True))
    for chat in chats:
        for file in built.files:
            gateway.send_document(chat, file.path.read_bytes(), file.path.name,
                                  caption=caption(built.report, file.format))
    say("")
    say(f"Report for {month.label} sent to {len(chats)} leader chat(s): "
        + ", ".join(str(f.path) for f in built.files))
    return 0


def _interactive(say: Say, modem: ModemEmulator, watcher: _Watcher, should_exit: threading.Event) -> None:
    say("")
    say("Running until Ctrl-C. Type an SMS as '+6281234567890 text of the complaint' and press Enter.")
    while not should_exit.is_set():
        ready, _, _ = select.select([sys.stdin], [], [], 0.3)
        if ready:
            line = sys.stdin.readline()
            if not line:
                should_exit.wait()
                break
            sender, _, text = line.strip().partition(" ")
            if sender and text:
                modem.receive_sms(sender, text)
        watcher.poll()
