"""The chaos harness: `laporgub run` as a process under a stream of SMS while faults are injected.

One :class:`ChaosRun` owns the emulated modem(s), the Bot API stand-in, a SQLite
file database and the service process (restarted like systemd's
``Restart=on-failure`` when it exits on its own). A seeded ``random.Random``
decides every fault and every pause, and the seed is printed, so a failure can
be replayed with ``LAPORGUB_CHAOS_SEED=<seed>``.

After the run every fault is healed, the service is left to settle, and
:meth:`ChaosRun.verify` checks what must hold whatever happened:

* every SMS the modem accepted is exactly one ticket with its whole text, and
  the modem's storage is empty (nothing deleted before it was committed);
* each ticket is routed to the groups the keyword rules give for its text
  (computed again here, in the test process), and each of its notifications
  reached its chat exactly once, or twice at most when a crash or a lost
  answer made a repeat possible;
* each citizen got one acknowledgement (two at most after a crash);
* while the run went on, every accepted SMS was at every moment either
  committed in the database or still stored on the modem (sampled).

The figures (sent, tickets, lost, duplicates, max stage times) are printed.
"""

from __future__ import annotations

import os
import random
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from laporgub import pdu
from laporgub.config import parse_config
from laporgub.intake import build_classifier
from laporgub.sim.botapi import BotApiServer
from laporgub.sim.modem import ModemEmulator
from laporgub.tickets import hashtag
from tests.conftest import TOKEN, TOKEN_ENV, make_config_data, wait_until, write_config

ROOT = Path(__file__).resolve().parents[2]

#: Complaints for several groups; some name a regency, some are long (multipart).
TOPICS = (
    "Jalan rusak berlubang parah di desa kami, motor sering jatuh",
    "Lampu penerangan jalan mati sebulan di Kecamatan Ungaran",
    "Puskesmas tutup saat jam layanan, pasien ditolak",
    "Sampah menumpuk di sungai, bau menyengat dan banjir",
    "Listrik PLN padam tiap malam, kulkas warung rusak",
    "Harga beras di pasar naik terus, warga kesulitan",
    "Pupuk subsidi langka di kios tani, petani tidak bisa tanam",
    "Banjir setinggi lutut merendam rumah warga di Kabupaten Demak",
    "Pungli di kantor kelurahan untuk urus KTP, diminta uang",
    "Gaji buruh pabrik dibayar di bawah UMK sejak tiga bulan",
)
LONG_TAIL = (" Mohon segera ditindaklanjuti karena keadaan ini sudah berlangsung berminggu-minggu,"
             " warga sangat resah dan khawatir terjadi kecelakaan atau kerugian yang lebih parah lagi."
             " Terima kasih Bapak Gubernur atas perhatiannya.")


def chaos_seed(default: int) -> int:
    """The seed of a run: ``LAPORGUB_CHAOS_SEED`` replays one, else the test's default."""
    value = os.environ.get("LAPORGUB_CHAOS_SEED")
    return int(value) if value else default


def soak_seconds() -> float:
    """Extra streaming time for a soak (``LAPORGUB_SOAK_SECONDS`` or ``--soak``); 0 in CI."""
    return float(os.environ.get("LAPORGUB_SOAK_SECONDS") or 0)


@dataclass
class Sent:
    sender: str
    text: str
    accepted: bool
    modem: int


@dataclass
class Figures:
    sent: int = 0
    accepted: int = 0
    tickets: int = 0
    lost: int = 0
    telegram_repeats: int = 0
    ack_repeats: int = 0
    notifications: int = 0
    max_register: float = 0.0
    max_filter: float = 0.0
    max_notify: float = 0.0
    max_deliver: float = 0.0
    max_end_to_end: float = 0.0
    faults: Counter[str] = field(default_factory=Counter)
    restarts_on_exit: int = 0
    samples: int = 0


class ServiceProcess:
    """One `laporgub run` process; its output is piped into the run's log (never a file the child writes)."""

    def __init__(self, config: Path, log: Path, fault_file: Path, fsize: int | None = None) -> None:
        env = {**os.environ, TOKEN_ENV: TOKEN, "PYTHONUNBUFFERED": "1",
               "LAPORGUB_TEST_HOOK": "tests.chaos.faults", "LAPORGUB_FAULT_INJECTION": str(fault_file)}

        def preexec() -> None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, no signal
            if fsize is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "laporgub", "run", "--config", str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=ROOT, preexec_fn=preexec,
        )
        self._log = log
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with open(self._log, "ab") as out:
            for raw in self.proc.stdout:
                out.write(raw)
                out.flush()
                self.lines.append(raw.decode("utf-8", "replace"))

    @property
    def ready(self) -> bool:
        return any("event=service_ready" in line for line in self.lines)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
        self.proc.wait(15)
        self._reader.join(5)

    def terminate(self, timeout: float = 20.0) -> int:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def set_fsize(self, limit: int) -> None:
        """The disk fills (or empties) for the running process: writes past ``limit`` bytes fail."""
        try:
            hard = resource.prlimit(self.proc.pid, resource.RLIMIT_FSIZE)[1]
            resource.prlimit(self.proc.pid, resource.RLIMIT_FSIZE, (limit, hard))  # the soft limit: raised later
        except ProcessLookupError:
            pass  # it exited meanwhile; its successor starts without the limit


class ChaosRun:
    """Emulators, database and the service process for one chaos test."""

    def __init__(self, tmp_path: Path, seed: int, *, modems: int = 1, rate: float = 2.5,
                 storage: int = 250) -> None:
        self.tmp = tmp_path
        self.seed = seed
        self.rng = random.Random(seed)
        self.rate = rate
        self.modems = [ModemEmulator(name=f"chaos-{i}", storage_size=storage).start() for i in range(modems)]
        self.botapi = BotApiServer(token=TOKEN).start()
        self.db_path = tmp_path / "laporgub.db"
        data = make_config_data(tmp_path, [m.port for m in self.modems], self.botapi.base_url,
                                group_interval=3.2, sweep=1.0)  # production pacing
        data["metrics"]["listen"] = "127.0.0.1:0"
        self.config_path = write_config(tmp_path / "config.toml", data)
        self.config = parse_config(data)
        self.classifier = build_classifier(self.config)
        self.chat_of = {key: g.chat_id for key, g in self.config.groups.items()}
        self.chat_of.update({f"leader-{i}": leader.chat_id for i, leader in enumerate(self.config.leaders, 1)})
        self.log = tmp_path / "service.log"
        self.fault_file = tmp_path / "kill-actors.txt"
        self.sent: list[Sent] = []
        self.figures = Figures()
        self.proc: ServiceProcess | None = None
        self.crashes = 0  # anything after which a repeat is allowed (kill -9, actor killed, answer lost)
        self.events: list[str] = []
        self._lock = threading.Lock()
        self._stop_feed = threading.Event()
        self._stop_watch = threading.Event()
        self._threads: list[threading.Thread] = []
        self._expect_down = False
        self.violations: list[str] = []
        self.started = time.monotonic()
        print(f"\nchaos seed={seed} (replay: LAPORGUB_CHAOS_SEED={seed}) log={self.log}")

    # -- the service ---------------------------------------------------------------

    def start_service(self, fsize: int | None = None) -> ServiceProcess:
        self.proc = ServiceProcess(self.config_path, self.log, self.fault_file, fsize)
        return self.proc

    def wait_ready(self, timeout: float = 60.0) -> bool:
        return wait_until(lambda: self.proc is not None and (self.proc.ready or not self.proc.alive()),
                          timeout=timeout, interval=0.05) and self.proc is not None and self.proc.ready

    def kill(self) -> None:
        """SIGKILL the whole service, whatever it is doing."""
        assert self.proc is not None
        self._expect_down = True
        self.proc.kill()
        self.crashes += 1
        self.note("sigkill")

    def restart(self, fsize: int | None = None) -> None:
        if self.proc is not None and self.proc.alive():
            self.proc.kill()
        self.start_service(fsize)
        self._expect_down = False

    def note(self, fault: str) -> None:
        with self._lock:
            self.figures.faults[fault] += 1
            self.events.append(f"{time.monotonic() - self.started:7.2f}s {fault}")

    def kill_actor(self, name: str) -> None:
        """An actor dies from an unhandled exception inside the service (tests/chaos/faults.py)."""
        assert self.proc is not None
        self.fault_file.write_text(name + "\n", encoding="utf-8")
        if self.proc.alive():
            os.kill(self.proc.proc.pid, signal.SIGUSR2)
            self.crashes += 1
            self.note(f"actor_killed:{name}")

    def actor_names(self) -> list[str]:
        names = ["registry", "filter", "responder", "monitor", "reporter", "dispatcher:admin"]
        names += [f"dispatcher:{d}" for d in self.chat_of]
        names += [f"modem:modem-{i}" for i in range(1, len(self.modems) + 1)]
        return names

    # -- background: the SMS stream, the systemd stand-in, the durability sampler --

    def start_background(self) -> None:
        for target in (self._feed, self._watch_exits, self._sample):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _feed(self) -> None:
        rng = random.Random(self.seed + 1)
        i = 0
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        while not self._stop_feed.is_set():
            sender = f"+62812{self.seed % 1000:03d}{i:05d}"
            text = f"{rng.choice(TOPICS)} (warga RT {i})"
            if rng.random() < 0.12:
                text += LONG_TAIL  # a multipart SMS
            which = rng.randrange(len(self.modems))
            parts = len(pdu.encode_deliver(sender, text, concat_reference=1))
            indexes = self.modems[which].receive_sms(sender, text)
            with self._lock:
                self.sent.append(Sent(sender, text, len(indexes) == parts, which))
            i += 1
            next_at += interval
            self._stop_feed.wait(max(0.0, next_at - time.monotonic()))

    def _watch_exits(self) -> None:
        """systemd's Restart=on-failure: a service that exits on its own is started again after 1 s."""
        while not self._stop_watch.wait(0.2):
            proc = self.proc
            if proc is None or proc.alive() or self._expect_down:
                continue
            code = proc.proc.returncode
            self.note(f"exited_on_its_own:{code}")
            self.figures.restarts_on_exit += 1
            time.sleep(1.0)
            if not self._expect_down and self.proc is proc:
                self.start_service()

    def _sample(self) -> None:
        """Every accepted SMS is, at every moment, committed or still on the modem."""
        while not self._stop_watch.wait(1.5):
            self.check_nothing_only_in_memory()

    def check_nothing_only_in_memory(self) -> None:
        with self._lock:
            accepted = {s.sender for s in self.sent if s.accepted}
        on_modem: set[str] = set()
        for modem in self.modems:
            for pdu_hex in modem.stored.values():
                try:
                    on_modem.add(pdu.decode_deliver(pdu_hex).sender)
                except Exception:
                    pass
        committed = self.committed_senders()
        if committed is None:
            return  # the database file is not there yet
        missing = accepted - on_modem - committed
        self.figures.samples += 1
        if missing:
            self.violations.append(f"{time.monotonic() - self.started:.1f}s: neither committed nor on the modem: "
                                   f"{sorted(missing)[:5]} ({len(missing)})")

    def committed_senders(self) -> set[str] | None:
        if not self.db_path.exists():
            return None
        try:
            with self._connect() as conn:
                rows = conn.execute("SELECT sender FROM inbound_sms").fetchall()
        except sqlite3.Error:
            return None
        return {r[0] for r in rows if r[0]}

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30)
        conn.execute("PRAGMA busy_timeout = 30000")
        return conn

    # -- faults from outside the process -------------------------------------------------

    def lock_database(self, seconds: float) -> subprocess.Popen[bytes]:
        """Another process holds BEGIN EXCLUSIVE on the SQLite file for ``seconds``."""
        code = ("import sqlite3, sys, time\n"
                "c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)\n"
                "c.execute('BEGIN EXCLUSIVE')\n"
                "print('locked', flush=True)\n"
                "time.sleep(float(sys.argv[2]))\n"
                "c.execute('ROLLBACK')\n")
        locker = subprocess.Popen([sys.executable, "-c", code, str(self.db_path), f"{seconds:.2f}"],
                                  stdout=subprocess.PIPE)
        assert locker.stdout is not None
        assert locker.stdout.readline().strip() == b"locked"
        self.note("database_locked")
        return locker

    # -- the end ---------------------------------------------------------------------------

    def stop_feeding(self) -> None:
        self._stop_feed.set()

    def settle(self, timeout: float = 120.0) -> bool:
        """Heal, make sure a service runs, and wait until every SMS went all the way."""
        self.stop_feeding()
        for modem in self.modems:
            if modem.device is None:
                modem.restore_port()
        self.botapi.set_down(False)
        self._expect_down = False
        if self.proc is None or not self.proc.alive():
            self.restart()
        return wait_until(self._settled, timeout=timeout, interval=0.5)

    def state(self) -> str:
        """Where things are, for a failure message."""
        parts = [f"stored={[len(m.stored) for m in self.modems]}"]
        try:
            with self._connect() as conn:
                for label, sql in (
                    ("tickets", "SELECT COUNT(*) FROM ticket"),
                    ("unfiltered", "SELECT COUNT(*) FROM ticket WHERE filtered_at IS NULL"),
                    ("notifications", "SELECT destination || ':' || status, COUNT(*) FROM notification"
                                      " WHERE status != 'sent' GROUP BY 1"),
                    ("outbound", "SELECT status || ':' || COALESCE(last_error, ''), COUNT(*) FROM outbound_sms"
                                 " WHERE status != 'sent' GROUP BY 1"),
                    ("inbound", "SELECT state, COUNT(*) FROM inbound_sms GROUP BY 1"),
                ):
                    parts.append(f"{label}={conn.execute(sql).fetchall()}")
        except sqlite3.Error as exc:
            parts.append(f"db: {exc}")
        with self._lock:
            parts.append(f"accepted={sum(1 for s in self.sent if s.accepted)}")
        return " ".join(parts)

    def _settled(self) -> bool:
        if any(m.stored for m in self.modems):
            return False
        try:
            with self._connect() as conn:
                tickets = conn.execute("SELECT COUNT(*) FROM ticket").fetchone()[0]
                pending = conn.execute(
                    "SELECT (SELECT COUNT(*) FROM notification WHERE status != 'sent')"
                    " + (SELECT COUNT(*) FROM outbound_sms WHERE status != 'sent')"
                    " + (SELECT COUNT(*) FROM ticket WHERE filtered_at IS NULL)").fetchone()[0]
        except sqlite3.Error:
            return False
        with self._lock:
            accepted = sum(1 for s in self.sent if s.accepted)
        return tickets >= accepted and pending == 0

    def finish(self) -> int:
        """SIGTERM the settled service; its exit code."""
        self._stop_watch.set()
        self._expect_down = True
        for thread in self._threads:
            thread.join(5)
        assert self.proc is not None
        return self.proc.terminate()

    def close(self) -> None:
        self._stop_feed.set()
        self._stop_watch.set()
        self._expect_down = True
        if self.proc is not None:
            self.proc.kill()
        self.botapi.stop()
        for modem in self.modems:
            modem.stop()

    def verify(self, *, strict_once: bool = False) -> Figures:
        """The invariants of the module docstring; returns the figures (printed)."""
        f = self.figures
        with self._lock:
            sent = list(self.sent)
        f.sent = len(sent)
        accepted = [s for s in sent if s.accepted]
        f.accepted = len(accepted)
        with self._connect() as conn:
            tickets = conn.execute(
                "SELECT id, number, sender, text, missing_parts, received_at, registered_at, filtered_at, notified_at,"
                " incident_id FROM ticket").fetchall()
            # A report linked to an incident reaches its groups through the incident's message there: its
            # first report's notification, or the incident's own (docs/incidents.md).
            incident_dests: dict[int, set[str]] = {}
            for incident_id, dest in conn.execute(
                    "SELECT i.id, n.destination FROM incident i JOIN notification n ON n.ticket_id = i.anchor"
                    " AND n.kind IN ('ticket', 'spam') UNION SELECT n.incident_id, n.destination FROM notification n"
                    " WHERE n.kind = 'incident' AND n.status = 'sent'").fetchall():
                incident_dests.setdefault(incident_id, set()).add(dest)
            categories = conn.execute("SELECT ticket_id, \"group\" FROM ticket_category WHERE active").fetchall()
            notes = conn.execute(
                "SELECT ticket_id, destination, status, queued_at, sent_at, acked_at FROM notification"
                " WHERE kind = 'ticket'").fetchall()
        f.tickets = len(tickets)
        by_sender: dict[str, list[Any]] = {}
        for t in tickets:
            by_sender.setdefault(t[2], []).append(t)
        problems: list[str] = list(self.violations)
        lost = [s.sender for s in accepted if s.sender not in by_sender]
        f.lost = len(lost)
        if lost:
            problems.append(f"lost (accepted by the modem, no ticket): {lost[:10]}")
        twice = [s for s, ts in by_sender.items() if len(ts) > 1]
        if twice:
            problems.append(f"more than one ticket for one SMS: {twice[:10]}")
        known = {s.sender for s in sent}
        strangers = [s for s in by_sender if s not in known]
        if strangers:
            problems.append(f"tickets nobody sent: {strangers[:10]}")
        text_of = {s.sender: s.text for s in sent}
        groups_of: dict[int, set[str]] = {}
        for ticket_id, group in categories:
            groups_of.setdefault(ticket_id, set()).add(group)
        dests_of: dict[int, list[Any]] = {}
        for n in notes:
            dests_of.setdefault(n[0], []).append(n)
        texts_by_chat: dict[int, str] = {}
        for m in self.botapi.messages:
            if m.method == "editMessageText":
                continue  # an incident's message rewritten (it carries its first report again): no copy
            texts_by_chat[m.chat_id] = texts_by_chat.get(m.chat_id, "") + "\n" + (m.text or "")
        limit = 1 if strict_once else 2
        for s in accepted:
            for t in by_sender.get(s.sender, [])[:1]:
                ticket_id, number = t[0], t[1]
                if t[3] != text_of[s.sender] or t[4] is not None:
                    problems.append(f"{number}: text differs from what was sent (missing parts {t[4]})")
                want = {"channel", *self.classifier.route(s.text).groups}
                if groups_of.get(ticket_id, set()) != want:
                    problems.append(f"{number}: routed to {sorted(groups_of.get(ticket_id, set()))}, "
                                    f"the rules say {sorted(want)}")
                dests = {n[1] for n in dests_of.get(ticket_id, [])} | incident_dests.get(t[9], set())
                if not want <= dests:
                    problems.append(f"{number}: no notification for {sorted(want - dests)}")
                for n in dests_of.get(ticket_id, []):
                    f.notifications += 1
                    seen = texts_by_chat.get(self.chat_of[n[1]], "").count(hashtag(number))
                    if n[2] != "sent" or seen < 1:
                        problems.append(f"{number}: not delivered to {n[1]} (status {n[2]}, seen {seen})")
                    elif seen > limit:
                        problems.append(f"{number}: {seen} copies in {n[1]}")
                    f.telegram_repeats += max(0, seen - 1)
                    if n[4] is not None:
                        f.max_notify = max(f.max_notify, n[4] - n[3])
                    if n[5] is not None and n[4] is not None:
                        f.max_deliver = max(f.max_deliver, n[5] - n[4])
                f.max_register = max(f.max_register, t[6] - t[5])
                if t[7] is not None:
                    f.max_filter = max(f.max_filter, t[7] - t[6])
                if t[8] is not None:
                    f.max_end_to_end = max(f.max_end_to_end, t[8] - t[5])
        acks = Counter()
        for modem in self.modems:
            acks.update(dest for dest, _text in modem.sent_messages)
        for s in accepted:
            if not 1 <= acks[s.sender] <= limit:
                problems.append(f"{s.sender}: {acks[s.sender]} acknowledgements")
            f.ack_repeats += max(0, acks[s.sender] - 1)
        if any(m.stored for m in self.modems):
            problems.append(f"still stored on the modem: {[len(m.stored) for m in self.modems]}")
        self.print_figures()
        if problems:
            print("\n".join(["PROBLEMS:", *problems[:40], "events:", *self.events]))
        assert not problems, f"seed {self.seed}: {problems[:5]}"
        return f

    def print_figures(self) -> None:
        f = self.figures
        print(f"seed={self.seed} sent={f.sent} accepted={f.accepted} tickets={f.tickets} lost={f.lost} "
              f"notifications={f.notifications} telegram_repeats={f.telegram_repeats} ack_repeats={f.ack_repeats} "
              f"restarts_after_exit={f.restarts_on_exit} samples={f.samples}")
        print(f"max stage seconds: register={f.max_register:.2f} filter={f.max_filter:.2f} notify={f.max_notify:.2f} "
              f"deliver={f.max_deliver:.2f} end_to_end={f.max_end_to_end:.2f}")
        print("faults: " + ", ".join(f"{k}={v}" for k, v in sorted(f.faults.items())))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
