"""A real Prometheus scrapes a real `laporgub run` on the emulators, then every dashboard and rule expression runs.

The service processes a few SMS (complaints into several groups, one naming a
regency); Prometheus (Debian's binary, loopback, temporary storage, scrape and
rule evaluation every second) scrapes it. Then, through Prometheus' HTTP API:

* the stage histograms count every processed SMS and notification;
* every rule is loaded and healthy (an evaluation error such as a
  many-to-many match would show here), and its query parses;
* every PromQL expression of every dashboard panel (Grafana's variables
  filled in) parses, and those on the SLA histograms return data, which an
  ``le="9"`` instead of ``le="9.0"`` would not;
* every template variable's metric has series.

Skips when the prometheus binary is absent (.ci/run installs it).
"""

from __future__ import annotations

import json
import math
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from laporgub import db
from tests.conftest import make_config_data, wait_until, write_config
from tests.test_metrics_assets import (
    RULE_FILES,
    all_rule_exprs,
    dashboard_exprs,
    grafana_substitute,
    prometheus_tool,
    uses_sla_histograms,
    variable_queries,
)
from tests.test_process import Proc, free_port, ready

pytestmark = pytest.mark.timeout(90)

SMS = [
    ("+6281200000001", "Jalan rusak berlubang di Ungaran, mohon segera diperbaiki"),
    ("+6281200000002", "Puskesmas tutup padahal jam buka, pasien terlantar"),
    ("+6281200000003", "Lampu jalan mati sudah seminggu di desa kami"),
    ("+6281200000004", "Harga beras naik terus di pasar Kudus"),
    ("+6281200000005", "Listrik padam tiap malam, PLN tidak ada kabar"),
    ("+6281200000006", "Sampah menumpuk di sungai dekat rumah kami"),
]


class Prometheus:
    """A Prometheus server on loopback with its own storage; queried through the HTTP API."""

    def __init__(self, binary: str, workdir: Path, target: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = workdir / "prometheus.yml"
        rule_files = "\n".join(f"  - {json.dumps(str(p))}" for p in RULE_FILES)
        config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
            f"rule_files:\n{rule_files}\n"
            "scrape_configs:\n  - job_name: laporgub\n    static_configs:\n"
            f"      - targets: [{json.dumps(target)}]\n",
            encoding="utf-8",
        )
        self.log = workdir / "prometheus.log"
        self._log = open(self.log, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self._log, stderr=subprocess.STDOUT,
        )

    def get(self, path: str, **params: str) -> dict[str, Any]:
        url = f"{self.url}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())  # type: ignore[no-any-return]
        except urllib.error.HTTPError as exc:  # 400 bad_data / 422 execution errors carry a JSON body
            return json.loads(exc.read())  # type: ignore[no-any-return]

    def query(self, expr: str) -> dict[str, Any]:
        return self.get("/api/v1/query", query=expr)

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        if result.get("status") != "success" or not result["data"]["result"]:
            return None
        return float(result["data"]["result"][0]["value"][1])

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


@pytest.fixture()
def prometheus_binary() -> str:
    return prometheus_tool("prometheus")


@pytest.fixture()
def stack(prometheus_binary: str, tmp_path: Path, modem: Any, botapi: Any) -> Iterator[tuple[Prometheus, str]]:
    """`laporgub run` on the emulators, and Prometheus scraping it."""
    port = free_port()
    data = make_config_data(tmp_path, [modem.port], botapi.base_url, group_interval=0.2, sweep=1.0)
    data["metrics"]["listen"] = f"127.0.0.1:{port}"
    service = Proc(write_config(tmp_path / "config.toml", data), tmp_path / "service.log")
    prom = Prometheus(prometheus_binary, tmp_path, f"127.0.0.1:{port}")
    try:
        assert wait_until(lambda: ready(port), timeout=30), service.log.read_text()[-3000:]
        assert wait_until(prom.ready, timeout=20), prom.log.read_text()[-3000:]
        yield prom, data["service"]["database"]
    finally:
        prom.stop()
        service.close()
        if db.database.obj is not None and not db.database.is_closed():
            db.database.close()


def _db_counts(url: str) -> dict[str, int]:
    db.database.initialize(db.make_database(url))
    with db.database.connection_context():
        n = db.Notification
        return {
            "tickets": db.Ticket.select().where(db.Ticket.filtered_at.is_null(False)).count(),
            "pending": n.select().where(n.status == "pending").count(),
            "sent": n.select().where((n.status == "sent") & n.kind.in_(["ticket", "spam"])).count(),
        }


def _finite(result: dict[str, Any]) -> bool:
    data = result["data"]
    if data["resultType"] == "scalar":
        return math.isfinite(float(data["result"][1]))
    return any(math.isfinite(float(r["value"][1])) for r in data["result"])


def test_dashboards_and_rules_on_a_real_prometheus(stack: tuple[Prometheus, str], modem: Any) -> None:
    prom, url = stack
    started = time.monotonic()
    # Up and scraped before any SMS: the histograms exist at zero, so increase() sees the whole burst.
    assert wait_until(lambda: prom.value('laporgub_stage_duration_seconds_count{stage="register"}') == 0, 20), \
        prom.query("up")
    for sender, text in SMS:
        modem.receive_sms(sender, text)
    assert wait_until(lambda: (c := _db_counts(url))["tickets"] == len(SMS) and c["pending"] == 0, timeout=30), \
        _db_counts(url)
    sent = _db_counts(url)["sent"]
    assert sent > len(SMS)  # the channel plus at least one group each

    # The stage histograms count every processed SMS and every notification sent.
    def counted() -> bool:
        return all(prom.value(f'sum(laporgub_stage_duration_seconds_count{{stage="{stage}"}})') == n
                   for stage, n in (("register", len(SMS)), ("filter", len(SMS)), ("notify", sent),
                                    ("deliver", sent)))
    assert wait_until(counted, timeout=15), [
        prom.value(f'sum(laporgub_stage_duration_seconds_count{{stage="{s}"}})') for s in ("register", "filter",
                                                                                          "notify", "deliver")]
    assert prom.value('sum(laporgub_stage_duration_seconds_bucket{stage="register", le="9.0"})') == len(SMS)
    assert prom.value('laporgub_stage_duration_seconds_bucket{stage="register", le="9"}') is None
    assert prom.value("sum(laporgub_tickets_by_regency_total)") is not None
    assert prom.value("max(laporgub_database_up)") == 1

    # Every rule loaded and evaluated on this data: the recorded SLA ratio exists for every stage.
    def rules() -> list[dict[str, Any]]:
        return [r for g in prom.get("/api/v1/rules")["data"]["groups"] for r in g["rules"]]

    def ratio_stages() -> set[str]:
        result = prom.query("stage:laporgub_stage_duration_seconds:sla_ratio_rate5m")["data"]["result"]
        return {r["metric"]["stage"] for r in result}

    problems: list[str] = []
    if not wait_until(lambda: ratio_stages() == {"register", "filter", "notify", "deliver"}, timeout=10):
        problems.append(f"recorded SLA ratio only for {sorted(ratio_stages())}")
    assert wait_until(lambda: all(r["health"] != "unknown" for r in rules()), timeout=10)
    loaded = rules()
    # Prometheus' own reading of the rule files agrees with the one the other tests use.
    assert sorted(r["name"] for r in loaded) == sorted(name for name, _ in all_rule_exprs())
    problems += [f"rule {r['name']}: {r['health']} {r.get('lastError')}" for r in loaded if r["health"] != "ok"]
    for rule in loaded:
        result = prom.query(rule["query"])
        if rule["type"] == "recording" and uses_sla_histograms(rule["query"]) and not _finite(result):
            # The end-to-end time is observed a moment after the deliver stage (once the ticket's last
            # group has its message): on a busy machine its first increase may not be scraped yet.
            wait_until(lambda q=rule["query"]: _finite(prom.query(q)), timeout=15)
            result = prom.query(rule["query"])
        if result["status"] != "success":
            problems.append(f"rule {rule['name']}: {result.get('error')}")
        elif rule["type"] == "recording" and uses_sla_histograms(rule["query"]) and not _finite(result):
            problems.append(f"rule {rule['name']}: no data for {rule['query']}")

    window = f"{int(time.monotonic() - started) + 60}s"  # Grafana's $__range: back to before the first SMS
    for where, expr in dashboard_exprs():
        result = prom.query(grafana_substitute(expr, range_=window, rate_interval="1m"))
        if result["status"] != "success":
            problems.append(f"{where}: {result.get('error')}")
        elif uses_sla_histograms(expr) and not _finite(result):
            problems.append(f"{where}: no data for {grafana_substitute(expr, range_=window)}")
    for where, metric, label in variable_queries():
        values = prom.get("/api/v1/label/" + label + "/values", **{"match[]": metric})["data"]
        if not values:
            problems.append(f"{where}: label_values({metric}, {label}) is empty")
    assert not problems, "\n".join(problems)
