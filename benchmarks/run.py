"""Every LaporGub benchmark in one run: one table, printed and written to docs/benchmarks.md.

    python benchmarks/run.py [--quick] [--out docs/benchmarks.md] [--no-gammu]

Rows (each beside its SLA or target, with the ratio measured/target):

* +CMTI -> ticket committed, p50/p99 (the ``register`` stage; benchmarks/modem.py's run);
* the same step done by gammu-smsd (Debian's package, unpacked into a cache, files
  backend) against the same pty modem emulator, with its default and tuned polling:
  +CMTI (the SMS stored on the SIM) -> the inbox file written;
* end to end, +CMTI -> Telegram accepted the last group's message, p50/p99, at 5 and
  20 SMS/s, the Bot API stand-in enforcing Telegram's limits and the production pacing
  (one message per 3.2 s per group; waiting tickets go out combined): what a
  citizen's complaint experiences;
* pipeline throughput without modems or Telegram (benchmarks/pipeline.py);
* a burst into one group, 300 SMS/min (benchmarks/telegram_flood.py), notify p99;
* a burst of reports about a few events at the same rate, with incidents off and on
  (``--scenario events``): notify p99 of the category groups, Telegram messages sent;
* resident memory of ``laporgub run`` on a database of 100,000 tickets, and start-up
  time to READY on an empty and on that database;
* keyword classification rate (benchmarks/classify.py's corpus) and the monthly
  report for 100,000 tickets (benchmarks/report.py).

``--quick`` shortens every run (about 5 minutes in all); the full run takes about 15.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _harness import percentile, start_service  # noqa: E402

from laporgub import db  # noqa: E402
from laporgub.logsetup import setup_logging  # noqa: E402
from laporgub.sim.botapi import BotApiServer  # noqa: E402
from laporgub.sim.modem import ModemEmulator  # noqa: E402

GAMMU_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "laporgub" / "gammu"
GAMMU_PACKAGES = ("gammu-smsd", "libgsmsd8", "libgammu8", "libgammu-i18n", "libdbi1", "libodbc2",
                  "libbluetooth3", "libusb-1.0-0", "libltdl7")
TEXTS = ("Jalan rusak berlubang di desa kami mohon diperbaiki", "Lampu jalan mati sudah seminggu di Ungaran",
         "Puskesmas tutup siang hari padahal banyak pasien", "Sampah menumpuk di pasar tidak diangkut",
         "Listrik PLN padam tiap malam di dusun kami", "Pupuk subsidi langka di kios tani desa")
GAMMU_NOTE = """
## Reading the table

- The figures depend on the load of the machine: the load average at the start is in the
  header (the machine is shared with other work while this runs).
- "notify stage at 20 SMS/s" misses its SLA by design of the limits, not by a fault: the
  channel group receives every complaint, Telegram takes at most 20 messages a minute in
  one group (LaporGub paces one message per 3.2 s), and each combined message carries as
  many complaints as fit in 4,096 characters, so one group absorbs roughly 7 complaints a
  second (estimated from the limits; the full run's 1,200 SMS in 60 s waited about 100 s at p99). A
  sustained 20 SMS/s (1,200 a minute, about forty modems at full speed; one modem delivers
  10-30 SMS a minute) queues up behind that. The 300-SMS-a-minute burst into one group
  stays within the SLA.
- The end-to-end SLA is the sum of the four stage SLAs of docs/sop.md (9 + 27 + 9 + 3 s).

## How the comparison with gammu-smsd is made

gammu-smsd 1.42 (Debian bookworm's `gammu-smsd` and its libraries, fetched with
`apt-get download` and unpacked with `dpkg-deb -x` into `~/.cache/laporgub/gammu`, nothing
installed) runs with the files backend against the same pty modem emulator, fed at the
same rate. Its step that matches LaporGub's register stage is "the SMS is on the SIM" ->
"its file is written in the inbox directory" (gammu also deletes it from the SIM),
timed by polling the inbox every 5 ms. "Default polling" is gammu-smsd's configuration
with only the paths set: its log shows `ReceiveFrequency=15`, a check of the SIM for
received SMS every 15 s (it reads stored SMS rather than acting on `+CMTI`); "tuned" sets
`ReceiveFrequency = 0`, `LoopSleep = 0`, `StatusFrequency = 0`, which makes it poll the
modem without pause. LaporGub reads on each `+CMTI` and keeps the sweep (`AT+CMGL`) as a
safety net every `sweep_interval_seconds`, and commits to SQLite with
`synchronous=FULL` before deleting from the SIM.
"""
INCIDENTS_NOTE = """
## Incidents: the 300-SMS-a-minute burst before and after

`benchmarks/telegram_flood.py` runs the burst with incidents off (every complaint notified on its own, as
before issue 18) and on ([incidents.md](incidents.md)), the Bot API stand-in enforcing Telegram's limits,
production pacing (one request per 3.2 s per chat). Two scenarios: the burst into one group (900 reports of
one damaged road in one dusun: one incident when on), and `--scenario events`, 900 reports of the labelled
events of tests/data/incident_bursts*.jsonl and the complaints standing alone there, cycled with small
changes, each from its own number. "Messages" are `sendMessage` (they ring); "edits" are
`editMessageText` of incidents' messages (silent, at most one per incident and chat per 30 s, sent only when
no notification waits for the chat, so they take the chats' idle capacity: the notify SLA of the
notifications is unchanged). The channel gets every complaint either way.

With incidents the groups get far fewer messages that ring (one per incident and its threshold notices,
instead of one entry per report). The edits can be many when many incidents form at once (each is edited
every 30 s in each of its chats while reports come in, and the queue of edits is worked off after the
burst): they are silent and use only the capacity the notifications left, but Telegram counts them, so
the number of requests falls less than the number of messages. Commands: `python
benchmarks/telegram_flood.py --scenario one-group|events --incidents off|on` (the tables below, one run
each); `python benchmarks/run.py` measures them all.

"""
SLA = {"register": 9.0, "filter": 27.0, "notify": 9.0, "deliver": 3.0}
END_TO_END_SLA = sum(SLA.values())  # the four stages of docs/sop.md one after the other


@dataclass
class Row:
    measure: str
    value: float | None
    unit: str
    target: float | None
    better: str  # "lower" or "higher"
    source: str  # where the target comes from
    note: str = ""

    def ratio(self) -> str:
        if self.value is None or self.target is None or self.target == 0:
            return ""
        return f"{self.value / self.target:.3g}"

    def verdict(self) -> str:
        if self.value is None or self.target is None:
            return ""
        ok = self.value <= self.target if self.better == "lower" else self.value >= self.target
        return "ok" if ok else "MISSED"


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit in ("/s", "tickets/s"):
        return f"{value:,.0f} {unit}"
    if unit == "MiB":
        return f"{value:.0f} MiB"
    return f"{value:.2f} {unit}"


# --------------------------------------------------------------------------- intake: LaporGub


def intake_latency(rate: float, count: int) -> dict[str, Any]:
    from modem import run_rate

    return run_rate(rate, count)


# --------------------------------------------------------------------------- intake: gammu-smsd


def gammu_binary() -> tuple[Path, dict[str, str]] | str:
    """gammu-smsd from Debian's packages, unpacked into a cache (no system install); or why not."""
    binary = GAMMU_CACHE / "usr" / "bin" / "gammu-smsd"
    if not binary.exists():
        if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
            return "no apt-get/dpkg-deb to fetch Debian's gammu-smsd"
        debs = Path(tempfile.mkdtemp(prefix="gammu-debs-"))
        try:
            proc = subprocess.run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", *GAMMU_PACKAGES],
                                  cwd=debs, capture_output=True, text=True)
            if proc.returncode != 0:
                return f"apt-get download failed: {proc.stderr.strip()[-200:]}"
            partial = GAMMU_CACHE.with_suffix(".partial")
            shutil.rmtree(partial, ignore_errors=True)
            for deb in debs.glob("*.deb"):
                subprocess.run(["dpkg-deb", "-x", str(deb), str(partial)], check=True)
            shutil.rmtree(GAMMU_CACHE, ignore_errors=True)
            partial.rename(GAMMU_CACHE)
        finally:
            shutil.rmtree(debs, ignore_errors=True)
    libs = [GAMMU_CACHE / p for p in ("usr/lib", "usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu")]
    env = {**os.environ, "LD_LIBRARY_PATH": ":".join(str(p) for p in libs)}
    return binary, env


def gammu_latency(rate: float, count: int, tuned: bool) -> dict[str, Any]:
    """gammu-smsd (files backend) reading the same emulated modem: +CMTI -> inbox file written."""
    found = gammu_binary()
    if isinstance(found, str):
        return {"error": found}
    binary, env = found
    work = Path(tempfile.mkdtemp(prefix="gammu-bench-"))
    modem = ModemEmulator(name="gammu", storage_size=max(30, count + 5)).start()
    try:
        for d in ("inbox", "outbox", "sent", "error"):
            (work / d).mkdir()
        polling = "ReceiveFrequency = 0\nLoopSleep = 0\nStatusFrequency = 0\n" if tuned else ""
        (work / "smsdrc").write_text(
            f"[gammu]\ndevice = {modem.port}\nconnection = at115200\n\n[smsd]\nservice = files\n"
            f"logfile = {work}/smsd.log\ndebuglevel = 0\ninboxpath = {work}/inbox/\noutboxpath = {work}/outbox/\n"
            f"sentsmspath = {work}/sent/\nerrorsmspath = {work}/error/\nCheckSecurity = 0\n{polling}",
            encoding="utf-8")
        started = time.monotonic()
        proc = subprocess.Popen([str(binary), "-c", str(work / "smsdrc")], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            # Ready once it has set up indications and storage (AT+CPMS after AT+CNMI), as its log shows.
            while time.monotonic() - started < 60 and not any(c.startswith("AT+CPMS=") for c in modem.commands):
                time.sleep(0.05)
            time.sleep(2.0)
            ready = time.monotonic() - started
            sent: dict[str, float] = {}
            seen: dict[str, float] = {}
            begin = time.monotonic()
            for i in range(count):
                delay = begin + i / rate - time.monotonic()
                if delay > 0:
                    _poll_inbox(work / "inbox", seen, delay)
                sender = f"+62812777{i:04d}"
                sent[sender] = time.time()
                modem.receive_sms(sender, f"{TEXTS[i % len(TEXTS)]} nomor {i}")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(seen) < len(sent):
                _poll_inbox(work / "inbox", seen, 0.2)
            latencies = [seen[s] - t for s, t in sent.items() if s in seen]
            settings = ""
            log = (work / "smsd.log").read_text(errors="replace") if (work / "smsd.log").exists() else ""
            m = re.search(r"ReceiveFrequency=\d+", log)
            if m:
                settings = m.group(0)
            return {"count": count, "received": len(latencies), "p50": percentile(latencies, 50),
                    "p99": percentile(latencies, 99), "ready_s": ready, "settings": settings}
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    finally:
        modem.stop()
        shutil.rmtree(work, ignore_errors=True)


def _poll_inbox(inbox: Path, seen: dict[str, float], seconds: float) -> None:
    """Note when each sender's inbox file appears (gammu names files ..._<sender>_00.txt)."""
    end = time.monotonic() + seconds
    while True:
        for name in os.listdir(inbox):
            m = re.search(r"_(\+\d+)_\d+\.txt$", name)
            if m and m.group(1) not in seen:
                seen[m.group(1)] = time.time()
        if time.monotonic() >= end:
            return
        time.sleep(0.005)


# --------------------------------------------------------------------------- end to end


def end_to_end(rate: float, seconds: float) -> dict[str, Any]:
    """SMS at ``rate`` for ``seconds`` through the whole service, Telegram's limits enforced, 3.2 s pacing."""
    with tempfile.TemporaryDirectory() as tmp:
        modem = ModemEmulator(name="e2e", storage_size=60).start()
        botapi = BotApiServer(token="123456:BENCHMARK", enforce_limits=True).start()
        service, stop = start_service(Path(tmp), modem, botapi)
        try:
            count = int(rate * seconds)
            begin = time.monotonic()
            for i in range(count):
                delay = begin + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                modem.receive_sms(f"+62813{int(rate):02d}{i:05d}", f"{TEXTS[i % len(TEXTS)]} nomor {i}")
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                with db.database.connection_context():
                    done = db.Ticket.select().where(db.Ticket.notified_at.is_null(False)).count()
                if done >= count - modem.rejected:
                    break
                time.sleep(0.25)
            with db.database.connection_context():
                rows = [(t.notified_at - t.received_at, t.registered_at - t.received_at)
                        for t in db.Ticket.select() if t.notified_at is not None]
                notify = [n.sent_at - n.queued_at for n in db.Notification.select().where(
                    db.Notification.kind == "ticket", db.Notification.sent_at.is_null(False))]
            e2e = [r[0] for r in rows]
            return {"rate": rate, "count": count, "delivered": len(rows), "rejected": modem.rejected,
                    "p50": percentile(e2e, 50), "p99": percentile(e2e, 99),
                    "notify_p99": percentile(notify, 99), "too_many": sum(1 for r in botapi.requests
                                                                         if r.status == 429)}
        finally:
            stop.set()
            service.stop()
            botapi.stop()
            modem.stop()


# --------------------------------------------------------------------------- pipeline, flood, classify, report


def pipeline(seconds: float) -> dict[str, Any]:
    try:
        import pipeline as bench_pipeline  # benchmarks/pipeline.py
    except ImportError:
        return _pipeline_direct(seconds)
    rows = bench_pipeline.run(backends=("sqlite",), instances=(1,), seconds=seconds)
    return rows[0]


def _pipeline_direct(seconds: float) -> dict[str, Any]:
    """Fallback when benchmarks/pipeline.py is absent: Intake.store_sms + route_ticket in one thread."""
    from laporgub import pdu
    from laporgub.config import parse_config
    from laporgub.intake import Intake, build_classifier
    from laporgub.outbox import route_ticket
    from laporgub.render import Renderer
    from tests.conftest import default_data

    with tempfile.TemporaryDirectory() as tmp:
        data = default_data()
        data["service"]["database"] = f"sqlite:///{tmp}/p.db"
        config = parse_config(data)
        db.open_database(config.service.database)
        classifier = build_classifier(config)
        intake = Intake(config, classifier, Renderer(config))
        pdus = [pdu.encode_deliver(f"+62814{i:07d}", f"{TEXTS[i % len(TEXTS)]} {i}")[0] for i in range(100_000)]
        n = 0
        with db.database.connection_context():
            begin = time.monotonic()
            while time.monotonic() - begin < seconds and n < len(pdus):
                result = intake.store_sms("m", pdus[n], time.time())
                if result.ticket_id is not None:
                    route_ticket(config, classifier, result.ticket_id)
                n += 1
            elapsed = time.monotonic() - begin
        db.database.close()
        return {"tickets": n, "tickets_per_second": n / elapsed}


def telegram_burst(minutes: float, *, scenario: str = "one-group", incidents: str = "off") -> dict[str, Any]:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "telegram_flood.py"), "--per-minute", "300",
                           "--minutes", str(minutes), "--scenario", scenario, "--incidents", incidents],
                          capture_output=True, text=True, cwd=ROOT, timeout=900)
    p99s = []
    for line in proc.stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 9 and re.fullmatch(r"[\d.]+", cells[6] or "x"):
            p99s.append(float(cells[6]))
    m = re.search(r"429 answers: (\d+); requests before retry_after expired: (\d+)", proc.stdout)
    groups = re.search(r"category groups: notify p99 ([\d.]+) s over \d+ notifications; messages sent (\d+), "
                       r"edits (\d+); all chats: messages sent (\d+), edits (\d+)", proc.stdout)
    if not p99s or not groups:
        return {"error": (proc.stdout + proc.stderr)[-300:]}
    return {"output": proc.stdout.strip(), "p99": max(p99s), "too_many": int(m.group(1)) if m else None,
            "early": int(m.group(2)) if m else None,
            "groups_p99": float(groups.group(1)), "group_messages": int(groups.group(2)),
            "group_edits": int(groups.group(3)), "messages": int(groups.group(4)), "edits": int(groups.group(5))}


def summary_line(scenario: str, incidents: str, r: dict[str, Any]) -> str:
    return (f"| {scenario} | {incidents} | {r['group_messages']} | {r['group_edits']} | {r['groups_p99']:.2f} s | "
            f"{r['messages']} |")


def classification(rounds: int) -> dict[str, Any]:
    import classify as bench_classify  # benchmarks/classify.py

    from laporgub.routing import Classifier, load_default_rules

    classifier = Classifier(load_default_rules())
    rows = bench_classify._load(bench_classify.CORPORA)
    bench_classify._run(classifier, rows)
    passes = [sum(bench_classify._run(classifier, rows)) for _ in range(rounds)]
    return {"rate": len(rows) / min(passes), "target": bench_classify.TARGET}


def report(tickets: int, keep: Path) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "report.py"), "--tickets", str(tickets),
                           "--keep", str(keep)], capture_output=True, text=True, cwd=ROOT, timeout=900)
    m = re.search(r"build: all three formats \(wall\)\s+([\d.]+)\s+(\d+)", proc.stdout)
    if not m:
        return {"error": (proc.stdout + proc.stderr)[-300:]}
    return {"seconds": float(m.group(1)), "peak_mib": float(m.group(2)), "db": keep / "report-bench.db"}


# --------------------------------------------------------------------------- memory and start-up


def service_process(database: Path | None, settle: float) -> dict[str, Any]:
    """`laporgub run` on ``database`` (a fresh one when None): time to READY, then VmRSS after ``settle`` s."""
    from tests.conftest import TOKEN, TOKEN_ENV, make_config_data, write_config

    with tempfile.TemporaryDirectory() as tmp:
        modem = ModemEmulator(name="rss", storage_size=30).start()
        botapi = BotApiServer(token=TOKEN).start()
        url = f"sqlite:///{database}" if database else None
        data = make_config_data(Path(tmp), [modem.port], botapi.base_url, group_interval=3.2, sweep=30.0,
                                database=url)
        config = write_config(Path(tmp) / "config.toml", data)
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "laporgub", "run", "--config", str(config)],
                                env={**os.environ, TOKEN_ENV: TOKEN}, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, cwd=ROOT)
        ready: list[float] = []

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                if "event=service_ready" in line and not ready:
                    ready.append(time.monotonic() - started)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            while not ready and proc.poll() is None and time.monotonic() - started < 120:
                time.sleep(0.02)
            if not ready:
                return {"error": f"not ready (exit {proc.poll()})"}
            time.sleep(settle)
            status = Path(f"/proc/{proc.pid}/status").read_text()
            rss = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]
            return {"ready_s": ready[0], "rss_mib": rss}
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
            botapi.stop()
            modem.stop()


# --------------------------------------------------------------------------- the machine and the table


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = ""
    with contextlib.suppress(OSError, AttributeError):
        kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
        ram = f"{kib / 1024 / 1024:.1f} GiB RAM"
    load = os.getloadavg()[0]
    return (f"{cpu}, {os.cpu_count()} cores, {ram}, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, SQLite (WAL, synchronous=FULL); load average {load:.2f} at start")


def render(rows: list[Row], notes: list[str], header: str, command: str) -> str:
    lines = [
        "| measure | measured | SLA / target | ratio measured/target | better | verdict | target from | note |",
        "|---|---:|---:|---:|---|---|---|---|",
    ]
    for r in rows:
        target = fmt(r.target, r.unit) if r.target is not None else "-"
        lines.append(f"| {r.measure} | {fmt(r.value, r.unit)} | {target} | {r.ratio()} | {r.better} | "
                     f"{r.verdict()} | {r.source} | {r.note} |")
    text = "\n".join(lines)
    return f"{header}\n\n{text}\n" + ("\n" + "\n".join(f"- {n}" for n in notes) + "\n" if notes else "") + \
        f"\nCommand: `{command}`\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (about 5 minutes in all)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-gammu", action="store_true", help="skip the gammu-smsd comparison")
    args = parser.parse_args(argv)
    setup_logging("WARNING")
    quick = args.quick
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = f"Machine: {machine()}. Date: {when}. Mode: {'--quick' if quick else 'full'}."
    print(header, flush=True)
    rows: list[Row] = []
    notes: list[str] = []

    def step(name: str, fn: Callable[[], None]) -> None:
        began = time.monotonic()
        print(f"... {name}", flush=True, end="")
        try:
            fn()
        except Exception as exc:  # one failed measurement must not hide the others
            notes.append(f"{name}: failed: {type(exc).__name__}: {exc}")
        print(f" {time.monotonic() - began:.0f} s", flush=True)

    count, rate = (50, 5.0) if quick else (200, 5.0)

    def laporgub_intake() -> None:
        r = intake_latency(rate, count)
        note = f"{r['registered']}/{r['count']} SMS at {rate:g}/s, pty emulator, AT+CMGR on +CMTI"
        rows.append(Row("+CMTI -> ticket committed, p50", r["p50"] * 1000, "ms", SLA["register"] * 1000, "lower",
                        "register SLA", note))
        rows.append(Row("+CMTI -> ticket committed, p99", r["p99"] * 1000, "ms", SLA["register"] * 1000, "lower",
                        "register SLA", note))
        laporgub_p50.append(r["p50"])

    laporgub_p50: list[float] = []
    step("intake latency (LaporGub)", laporgub_intake)

    def gammu(tuned: bool) -> Callable[[], None]:
        def run() -> None:
            r = gammu_latency(rate, count, tuned)
            label = "tuned (ReceiveFrequency=0, LoopSleep=0)" if tuned else "default polling"
            if "error" in r:
                notes.append(f"gammu-smsd {label}: not measured: {r['error']}")
                return
            base = laporgub_p50[0] if laporgub_p50 else None
            for q in ("p50", "p99"):
                vs = f"; {r[q] / base:.1f}x LaporGub's p50" if base and q == "p50" else ""
                rows.append(Row(f"gammu-smsd {label}: +CMTI -> inbox file, {q}", r[q] * 1000, "ms",
                                SLA["register"] * 1000, "lower", "register SLA",
                                f"{r['received']}/{r['count']} SMS, same emulator and rate, gammu-smsd 1.42 "
                                f"(Debian), files backend{vs}"))
        return run

    if args.no_gammu:
        notes.append("gammu-smsd: skipped (--no-gammu)")
    else:
        step("intake latency (gammu-smsd default)", gammu(False))
        step("intake latency (gammu-smsd tuned)", gammu(True))

    e2e_seconds = 20.0 if quick else 60.0
    for e2e_rate in (5.0, 20.0):
        def e2e(e2e_rate: float = e2e_rate) -> None:
            r = end_to_end(e2e_rate, e2e_seconds)
            note = (f"{r['delivered']}/{r['count']} SMS in {e2e_seconds:g} s; {r['too_many']} answers 429; "
                    f"SIM refused {r['rejected']}")
            for q in ("p50", "p99"):
                rows.append(Row(f"end to end at {e2e_rate:g} SMS/s (+CMTI -> Telegram accepted), {q}", r[q], "s",
                                END_TO_END_SLA, "lower", "sum of the 4 stage SLAs", note))
            rows.append(Row(f"notify stage at {e2e_rate:g} SMS/s, p99 (every group, leaders included)",
                            r["notify_p99"], "s", SLA["notify"], "lower", "notify SLA",
                            "the channel gets every complaint: 20 messages a minute of at most 4,096 characters"))
        step(f"end to end at {e2e_rate:g} SMS/s", e2e)

    def pipe() -> None:
        r = pipeline(5.0 if quick else 10.0)
        if "error" in r:
            notes.append(f"pipeline: {r['error']}")
            return
        rows.append(Row("pipeline throughput, modems and Telegram bypassed", r["tickets_per_second"], "tickets/s",
                        20.0, "higher", "ours: the 20 SMS/s end-to-end rate",
                        f"{r['tickets']} tickets, SQLite, store+route+outbox (benchmarks/pipeline.py)"))
    step("pipeline throughput", pipe)

    incident_runs: list[str] = []  # the bursts' whole tables, before and after incidents
    incident_summary: list[str] = []  # one line per burst: scenario, incidents, messages, edits, p99

    def burst() -> None:
        minutes = 1.0 if quick else 3.0
        r = telegram_burst(minutes)
        if "error" in r:
            notes.append(f"telegram burst: {r['error']}")
            return
        incident_runs.append("#### `--scenario one-group --incidents off`\n\n" + r["output"].split("\n", 1)[1].strip())
        incident_summary.append(summary_line("one group (900 reports of one road)", "off", r))
        rows.append(Row("burst into one group, 300 SMS/min: notify p99", r["p99"], "s", SLA["notify"], "lower",
                        "notify SLA", f"{minutes:g} min, Telegram limits enforced; {r['too_many']} answers "
                                                f"429, {r['early']} requests before retry_after; incidents off"))
    step("burst into one group", burst)

    def events_burst() -> None:
        minutes = 1.0 if quick else 3.0
        for scenario, incidents in (("one-group", "on"), ("events", "off"), ("events", "on")):
            r = telegram_burst(minutes, scenario=scenario, incidents=incidents)
            if "error" in r:
                notes.append(f"{scenario} burst, incidents {incidents}: {r['error']}")
                continue
            incident_runs.append(f"#### `--scenario {scenario} --incidents {incidents}`\n\n"
                                 + r["output"].split("\n", 1)[1].strip())
            incident_summary.append(summary_line("one group (900 reports of one road)" if scenario == "one-group"
                                                 else "reports of the labelled events", incidents, r))
            if scenario == "one-group":
                continue
            note = (f"{minutes:g} min of reports about the labelled events, Telegram limits enforced; "
                    f"{r['group_messages']} messages and {r['group_edits']} edits in category groups, "
                    f"{r['messages']} messages in all chats; {r['too_many']} answers 429")
            rows.append(Row(f"burst about events, 300 SMS/min, incidents {incidents}: category groups notify p99",
                            r["groups_p99"], "s", SLA["notify"], "lower", "SOP notify SLA (docs/sop.md)", note))
    step("burst about events, incidents off and on", events_burst)

    def classify() -> None:
        r = classification(5 if quick else 20)
        rows.append(Row("keyword classification rate (warm, one core)", r["rate"], "/s", float(r["target"]),
                        "higher", "issue 5", "benchmarks/classify.py corpus"))
    step("classification", classify)

    work = Path(tempfile.mkdtemp(prefix="laporgub-bench-"))
    big_db: list[Path] = []

    def monthly_report() -> None:
        r = report(100_000, work)
        if "error" in r:
            notes.append(f"report: {r['error']}")
            return
        big_db.append(r["db"])
        rows.append(Row("monthly report, 100,000 tickets, PDF+XLSX+CSV", r["seconds"], "s", 15.0, "lower",
                        "issue 7", f"peak RSS {r['peak_mib']:.0f} MiB (benchmarks/report.py)"))
    step("monthly report (seeds the 100,000-ticket database)", monthly_report)

    def startup_and_memory() -> None:
        empty = service_process(None, settle=3.0)
        if "error" not in empty:
            rows.append(Row("start-up to READY, empty database", empty["ready_s"], "s", 10.0, "lower",
                            "ours (systemd waits 90 s)", "`laporgub run` as a process, one modem"))
        if big_db:
            full = service_process(big_db[0], settle=10.0)
            if "error" in full:
                notes.append(f"service on 100,000 tickets: {full['error']}")
                return
            rows.append(Row("start-up to READY, 100,000 tickets", full["ready_s"], "s", 10.0, "lower",
                            "ours (systemd waits 90 s)", ""))
            rows.append(Row("resident memory (VmRSS), 100,000 tickets", full["rss_mib"], "MiB", 300.0, "lower",
                            "ours", f"10 s after READY; empty database: {empty.get('rss_mib', 0):.0f} MiB"))
    step("start-up and memory", startup_and_memory)
    shutil.rmtree(work, ignore_errors=True)

    command = "python benchmarks/run.py" + (" --quick" if quick else "")
    table = render(rows, notes, header, command)
    print()
    print(table)
    doc = ("# Benchmarks\n\nOne command measures everything below and rewrites this file "
           "(`python benchmarks/run.py`, `--quick` for a shorter run). Ratio = measured / target: for times lower "
           "is better, for rates higher. Targets marked \"ours\" are not in the SOP; they are what we hold "
           "ourselves to.\n\n" + table + GAMMU_NOTE + INCIDENTS_NOTE
           + ("| scenario | incidents | category groups: messages | edits | notify p99 | all chats: messages |\n"
              "|---|---|---:|---:|---:|---:|\n" + "\n".join(incident_summary) + "\n\n" if incident_summary else "")
           + "\n\n".join(incident_runs) + "\n")
    args.out.write_text(doc, encoding="utf-8")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
