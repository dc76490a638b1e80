"""metrics/ is code: dashboards, rules and their unit tests checked against what LaporGub exports.

* the Grafana JSON parses, is what ``metrics/grafana/dashboards.py`` writes,
  has unique panel ids and uses the data source variable everywhere;
* every ``laporgub_*`` name, label and label value used in an expression of a
  dashboard or rule is in the output of a live :class:`Metrics` registry (with
  its database-derived families), and each stage's ``le`` is its config.toml
  ``[sla]`` limit as prometheus-client renders it (``le="9.0"``);
* ``promtool check rules``, ``promtool test rules`` and ``promtool check
  config`` pass, and every alert has a firing and a quiet unit test;
* the database-derived metrics (:class:`DatabaseCollector`) count what the
  tables hold.

The promtool tests skip when Debian's ``prometheus`` package is not installed
(``.ci/run`` installs it and sets ``LAPORGUB_REQUIRE_PROMETHEUS=1``, which turns
the skip into a failure).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from laporgub import db
from laporgub.config import Config, parse_config
from laporgub.gazetteer import REGENCIES
from laporgub.metrics import DatabaseCollector, Metrics, TotalsReader, quantile, read_state, read_totals
from laporgub.outbox import destinations
from tests.conftest import make_config_data

ROOT = Path(__file__).resolve().parent.parent
METRICS = ROOT / "metrics"
GRAFANA = METRICS / "grafana"
RULES_DIR = METRICS / "prometheus"
RULE_FILES = sorted(RULES_DIR.glob("*.rules.yml"))
RULE_TESTS = sorted(RULES_DIR.glob("*_test.yml"))
DASHBOARD_FILES = sorted(GRAFANA.glob("*.json"))
#: Where .ci/run unpacks Debian's prometheus package.
PROMETHEUS_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "laporgub" / "prometheus"

# -- shared with test_prometheus_real.py -------------------------------------------------


def prometheus_tool(name: str) -> str:
    """Path of ``promtool``/``prometheus``, or skip (fail under LAPORGUB_REQUIRE_PROMETHEUS=1)."""
    for candidate in (
        Path(os.environ["LAPORGUB_PROMETHEUS_BIN"]) / name if os.environ.get("LAPORGUB_PROMETHEUS_BIN") else None,
        shutil.which(name),
        PROMETHEUS_CACHE / "usr" / "bin" / name,
    ):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    reason = (f"{name} not found (PATH, $LAPORGUB_PROMETHEUS_BIN, {PROMETHEUS_CACHE}/usr/bin): install Debian's "
              "'prometheus' package or run .ci/run, which unpacks it without starting a server")
    if os.environ.get("LAPORGUB_REQUIRE_PROMETHEUS") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def rule_exprs(path: Path) -> list[tuple[str, str]]:
    """``(rule name, expr)`` of a rules file, read without a YAML library.

    Handles what our rule files use: ``expr: <one line>`` and block scalars
    ``expr: |``; ``test_rule_reader_agrees_with_yaml`` checks it against
    PyYAML where that is installed.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[tuple[str, str]] = []
    name = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"\s*- (?:record|alert):\s*(\S+)", line)
        if m:
            name = m.group(1)
        m = re.match(r"(\s*)expr:\s*(.*)$", line)
        if m:
            indent, rest = len(m.group(1)), m.group(2).strip()
            if rest in ("|", "|-", ">", ">-"):
                block = []
                i += 1
                while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                    block.append(lines[i].strip())
                    i += 1
                out.append((name, "\n".join(block).strip()))
                continue
            if len(rest) >= 2 and rest[0] == rest[-1] and rest[0] in "'\"":
                rest = rest[1:-1]
            out.append((name, rest))
        i += 1
    return out


def all_rule_exprs() -> list[tuple[str, str]]:
    return [item for path in RULE_FILES for item in rule_exprs(path)]


def load_dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in DASHBOARD_FILES}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_exprs() -> list[tuple[str, str]]:
    """``(where, expr)`` of every panel target in every dashboard."""
    out = []
    for name, dash in load_dashboards().items():
        for panel in panels(dash):
            for t in panel.get("targets", []):
                out.append((f"{name} #{panel['id']} {panel['title']} {t['refId']}", t["expr"]))
    return out


def variable_queries() -> list[tuple[str, str, str]]:
    """``(where, metric, label)`` of every ``label_values(metric, label)`` template variable."""
    out = []
    for name, dash in load_dashboards().items():
        for var in dash["templating"]["list"]:
            if var["type"] != "query":
                continue
            m = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", var["definition"])
            assert m, (name, var["definition"])
            out.append((f"{name} ${var['name']}", m.group(1), m.group(2)))
    return out


#: Grafana's variables, replaced as Grafana would for "All" over a short range.
def grafana_substitute(expr: str, range_: str = "1h", rate_interval: str = "1m") -> str:
    expr = expr.replace("$__rate_interval", rate_interval).replace("$__range", range_)
    expr = expr.replace("$__interval", "15s")
    return re.sub(r"\$\{?(\w+)\}?", ".*", expr)


def uses_sla_histograms(expr: str) -> bool:
    return bool(re.search(r"laporgub_(stage_duration|group_stage_duration|end_to_end)_seconds", expr))


def metric_names(expr: str) -> set[str]:
    """``laporgub_*`` series names in an expression (recorded ``level:name:op`` names excluded)."""
    return set(re.findall(r"(?<![\w:])(laporgub_\w+)(?![\w:])", expr))


def selectors(expr: str) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """``(metric, [(label, op, value)])`` for every ``laporgub_x{...}`` selector."""
    out = []
    for metric, body in re.findall(r"(?<![\w:])(laporgub_\w+)\{([^}]*)\}", expr):
        matchers = re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', body)
        out.append((metric, matchers))
    return out


# -- a live registry ------------------------------------------------------------------------


def service_config(tmp_path: Path) -> Config:
    """The repository's config.toml, pointed at a temporary database."""
    return parse_config(make_config_data(tmp_path, ["loop://"], "http://127.0.0.1:9/bot"))


@pytest.fixture()
def database(tmp_path: Path) -> Iterator[None]:
    db.open_database(f"sqlite:///{tmp_path / 'metrics.db'}")
    yield
    if not db.database.is_closed():
        db.database.close()


@pytest.fixture()
def exported(tmp_path: Path, database: None) -> dict[str, list[dict[str, str]]]:
    """Sample name -> label sets, as GET /metrics of a fresh service shows them."""
    config = service_config(tmp_path)
    metrics = Metrics(config.sla.as_dict(), destinations(config), [m.name for m in config.modems])
    for actor in ("registry", "filter", "dispatcher:channel"):  # the supervisor declares each child it starts
        metrics.declare_actor(actor)
    samples: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(metrics.exposition_text()):
        for s in family.samples:
            samples.setdefault(s.name, []).append(dict(s.labels))
    assert samples["laporgub_database_up"] == [{}]
    return samples


# -- dashboards ------------------------------------------------------------------------------


def test_dashboards_are_what_the_generator_writes() -> None:
    result = subprocess.run([sys.executable, str(GRAFANA / "dashboards.py"), "--check"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert {p.name for p in DASHBOARD_FILES} == {"laporgub-sla.json", "laporgub-operations.json", "laporgub-pic.json"}


def test_dashboards_are_importable() -> None:
    uids = set()
    for name, dash in load_dashboards().items():
        assert dash["uid"] not in uids and re.fullmatch(r"[a-z0-9-]{1,40}", dash["uid"]), name
        uids.add(dash["uid"])
        assert 39 <= dash["schemaVersion"] <= 41, name
        assert dash["title"] and dash["time"]["from"] and dash["refresh"], name
        variables = {v["name"]: v for v in dash["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
        ids = [p["id"] for p in panels(dash)]
        assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
        cells: set[tuple[int, int]] = set()
        for panel in panels(dash):
            pos = panel["gridPos"]
            assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= 24, (name, panel["title"])
            for x in range(pos["x"], pos["x"] + pos["w"]):
                for y in range(pos["y"], pos["y"] + pos["h"]):
                    assert (x, y) not in cells, f"{name}: panel {panel['title']!r} overlaps another"
                    cells.add((x, y))
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, (name, panel["title"])
            assert panel["targets"], (name, panel["title"])
            refs = [t["refId"] for t in panel["targets"]]
            assert len(refs) == len(set(refs))
            for t in panel["targets"]:
                assert t["datasource"]["uid"] == "${datasource}" and t["expr"].strip()
                for var in re.findall(r"\$\{?(\w+)", t["expr"]):
                    assert var.startswith("__") or var in variables, f"{name}: ${var} is not a variable"


def test_sla_panels_read_the_bucket_at_each_limit() -> None:
    sla = load_dashboards()["laporgub-sla.json"]
    compliance = [p for p in sla["panels"] if p["type"] == "stat" and p["fieldConfig"]["defaults"]["unit"] ==
                  "percentunit"]
    assert [p["title"] for p in compliance] == ["register ≤ 9 s", "filter ≤ 27 s", "notify ≤ 9 s", "deliver ≤ 3 s"]
    for p in compliance:
        expr = p["targets"][0]["expr"]
        assert "$__range" in expr and "_bucket{" in expr and "_count{" in expr


def test_provisioning_files() -> None:
    dashboards = (GRAFANA / "provisioning" / "dashboards" / "laporgub.yaml").read_text(encoding="utf-8")
    datasources = (GRAFANA / "provisioning" / "datasources" / "prometheus.yaml").read_text(encoding="utf-8")
    assert "apiVersion: 1" in dashboards and "type: file" in dashboards and "path:" in dashboards
    assert "type: prometheus" in datasources
    if _has_yaml():  # PyYAML is no dependency: parse where it is installed
        import yaml

        provider = yaml.safe_load(dashboards)["providers"][0]
        assert provider["type"] == "file" and provider["options"]["path"].startswith("/")
        assert yaml.safe_load(datasources)["datasources"][0]["type"] == "prometheus"


def _has_yaml() -> bool:
    try:
        import yaml  # noqa: F401
    except ImportError:
        return False
    return True


# -- names, labels and limits against the live registry --------------------------------------------


def test_every_metric_used_is_exported(exported: dict[str, list[dict[str, str]]]) -> None:
    used = [(where, expr) for where, expr in dashboard_exprs()] + all_rule_exprs()
    assert len(used) > 60
    missing = []
    for where, expr in used:
        missing += [(where, name) for name in metric_names(expr) if name not in exported]
    for where, metric, label in variable_queries():
        if metric not in exported or not any(label in labels for labels in exported[metric]):
            missing.append((where, f"{metric}/{label}"))
    assert not missing, missing


def test_every_label_and_value_used_exists(exported: dict[str, list[dict[str, str]]]) -> None:
    wrong = []
    for where, expr in dashboard_exprs() + all_rule_exprs():
        for metric, matchers in selectors(grafana_substitute(expr)):
            label_sets = exported.get(metric, [])
            for label, op, value in matchers:
                if label in ("job", "instance"):
                    continue
                values = {ls[label] for ls in label_sets if label in ls}
                if not values:
                    wrong.append((where, f"{metric} has no label {label}"))
                elif op == "=" and value not in values:
                    wrong.append((where, f'{metric}{{{label}="{value}"}} does not exist; exported: {sorted(values)}'))
                elif op in ("=~", "!~") and not any(re.fullmatch(value, v) for v in values) and op == "=~":
                    wrong.append((where, f'{metric}{{{label}=~"{value}"}} matches nothing'))
    assert not wrong, wrong


def test_le_of_each_stage_is_its_configured_limit(tmp_path: Path) -> None:
    limits = service_config(tmp_path).sla.as_dict()
    expected = {stage: floatToGoString(float(v)) for stage, v in limits.items()}
    assert expected == {"register": "9.0", "filter": "27.0", "notify": "9.0", "deliver": "3.0"}
    seen = set()
    for where, expr in dashboard_exprs() + all_rule_exprs():
        for metric, matchers in selectors(expr):
            labels = {label: value for label, op, value in matchers if op == "="}
            if "le" in labels and "stage" in labels:
                assert labels["le"] == expected[labels["stage"]], (where, metric, labels)
                seen.add(labels["stage"])
    assert seen == set(limits)


def test_rule_reader_agrees_with_yaml() -> None:
    if not _has_yaml():
        pytest.skip("PyYAML not installed; the rule reader is checked where it is")
    import yaml

    for path in RULE_FILES:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        want = [(r.get("record") or r.get("alert"), str(r["expr"]).strip())
                for g in doc["groups"] for r in g["rules"]]
        # PromQL ignores whitespace; the reader strips each line of a block.
        assert [(n, " ".join(e.split())) for n, e in rule_exprs(path)] == \
            [(n, " ".join(e.split())) for n, e in want], path.name


# -- promtool ------------------------------------------------------------------------------------


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([prometheus_tool("promtool"), *args], capture_output=True, text=True, timeout=120,
                          cwd=RULES_DIR)


def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", *[p.name for p in RULE_FILES])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_test_rules() -> None:
    result = promtool("test", "rules", *[p.name for p in RULE_TESTS])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_example_config() -> None:
    result = promtool("check", "config", "prometheus.example.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_exprs_pass_promtool(tmp_path: Path) -> None:
    """Every panel expression, Grafana variables filled in, is valid PromQL (as a recording rule)."""
    lines = ["groups:", "  - name: dashboards", "    rules:"]
    for i, (_where, expr) in enumerate(dashboard_exprs()):
        lines += [f"      - record: dashboard:expr_{i}", "        expr: " + json.dumps(grafana_substitute(expr))]
    path = tmp_path / "dashboards.rules.yml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = subprocess.run([prometheus_tool("promtool"), "check", "rules", "--lint=none", str(path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    alerts = {name for path in RULE_FILES for name, _ in rule_exprs(path) if name[:1].isupper()}
    assert len(alerts) >= 10
    text = "\n".join(p.read_text(encoding="utf-8") for p in RULE_TESTS)
    firing, quiet = set(), set()
    for name, empty in re.findall(r"alertname: (\w+)\n\s+exp_alerts:( \[\])?", text):
        (quiet if empty else firing).add(name)
    assert alerts - firing == set(), "alerts without a firing test"
    assert alerts - quiet == set(), "alerts without a quiet test"
    assert (firing | quiet) <= alerts, "tests of unknown alerts"
    assert "Telegram outage" in text and "LaporgubSlaBreach" in firing


# -- database-derived metrics -------------------------------------------------------------------------


def _ticket(n: int, now: float, *, age: float, groups: tuple[str, ...], regency: str | None = None,
            status: str = "open", kind: str = "complaint") -> db.Ticket:
    t = db.Ticket.create(number=f"261128-0200-{n}", day="261128", four="0200", seq=n, text="jalan rusak", kind=kind,
                         regency=regency, status=status, received_at=now - age, registered_at=now - age + 0.01,
                         filtered_at=now - age + 0.02, updated_at=now)
    for g in ("channel", *groups):
        db.TicketCategory.create(ticket=t, group=g, created_at=now - age + 0.02)
    return t


def _notification(t: db.Ticket | None, dest: str, now: float, *, age: float, status: str = "pending",
                  message_id: int | None = None, attempts: int = 0, kind: str = "ticket") -> None:
    db.Notification.create(ticket=t, destination=dest, chat_id=-1, kind=kind, status=status, queued_at=now - age,
                           message_id=message_id, attempts=attempts)


def _sample(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return None


def test_database_collector_counts_what_the_tables_hold(tmp_path: Path, database: None) -> None:
    now = time.time()
    with db.database.connection_context():
        a = _ticket(1, now, age=3600, groups=("kesehatan",), regency="Kabupaten Semarang")
        b = _ticket(2, now, age=600, groups=("kesehatan", "kabkota"), regency="Kota Tegal")
        c = _ticket(3, now, age=7200, groups=("energi",), status="responded")
        _ticket(4, now, age=100, groups=(), kind="spam")
        db.PicResponse.create(ticket=c, pic_telegram_id=1, pic_name="P", text="ok", created_at=now - 7000)
        db.PicResponse.create(ticket=c, pic_telegram_id=1, pic_name="P", text="again", created_at=now - 100)
        db.PicResponse.create(ticket=a, pic_telegram_id=1, pic_name="P", text="x", action="reroute",
                              created_at=now - 50)
        # a and b went out together in one channel message (coalesced), after one 429 each.
        _notification(a, "channel", now, age=3600, status="sent", message_id=10, attempts=2)
        _notification(b, "channel", now, age=600, status="sent", message_id=10, attempts=2)
        _notification(c, "channel", now, age=7200, status="sent", message_id=11, attempts=1)
        _notification(b, "kesehatan", now, age=30, attempts=3)
        _notification(None, "admin", now, age=5, kind="alert")
        db.OutboundSms.create(destination="+6281234567890", text="t", purpose="ack", created_at=now - 42)
        db.InboundSms.create(modem="modem-1", dedupe_key="k1", pdu="00", reported_at=now - 300, stored_at=now - 300)
    config = service_config(tmp_path)
    metrics = Metrics(config.sla.as_dict(), destinations(config), [m.name for m in config.modems])
    text = metrics.exposition_text()

    def v(name: str, **labels: str) -> float | None:
        return _sample(text, name, **labels)

    assert v("laporgub_database_up") == 1
    # The backlog itself is set by the supervisor loop from read_state(); here only the webhook's zero.
    with db.database.connection_context():
        state = read_state(time.time(), ["kesehatan"], ["kesehatan"])
    assert state.outbox_pending == {"notification": 2, "sms": 1, "webhook": 0}
    assert v("laporgub_outbox_pending", outbox="webhook") == 0
    assert v("laporgub_outbox_oldest_pending_age_seconds", outbox="notification") == pytest.approx(30, abs=5)
    assert v("laporgub_outbox_oldest_pending_age_seconds", outbox="sms") == pytest.approx(42, abs=5)
    assert v("laporgub_notifications_pending", group="kesehatan") == 1
    assert v("laporgub_notifications_pending", group="admin") == 1
    assert v("laporgub_notifications_pending", group="energi") == 0
    # Only the ticket notification counts for the notify stage, not the admin alert.
    assert v("laporgub_stage_oldest_pending_age_seconds", stage="notify") == pytest.approx(30, abs=5)
    assert v("laporgub_stage_oldest_pending_age_seconds", stage="filter") == 0
    assert v("laporgub_open_tickets", group="kesehatan") == 2
    assert v("laporgub_open_tickets", group="channel") == 2  # spam and answered complaints are not open
    assert v("laporgub_open_tickets", group="energi") == 0
    assert v("laporgub_open_ticket_oldest_age_seconds", group="kesehatan") == pytest.approx(3600, abs=5)
    assert v("laporgub_last_sms_received_timestamp_seconds") == pytest.approx(now - 300, abs=1)
    assert v("laporgub_tickets_by_regency_total", regency="Kabupaten Semarang") == 1
    assert v("laporgub_tickets_by_regency_total", regency="Kota Tegal") == 1
    assert v("laporgub_tickets_by_regency_total", regency="none") == 1  # c; spam is no complaint
    assert {s for s in REGENCIES} <= {
        s.labels["regency"] for f in text_string_to_metric_families(text) for s in f.samples
        if s.name == "laporgub_tickets_by_regency_total"}
    assert v("laporgub_notifications_coalesced_total", group="channel") == 1
    assert v("laporgub_notifications_retried_total", group="channel") == 2
    assert v("laporgub_notifications_retried_total", group="kesehatan") == 3
    assert v("laporgub_pic_responses_total", group="energi") == 2  # the re-route is no response
    assert v("laporgub_pic_responses_total", group="kesehatan") == 0
    # The first response to c came 200 s after receipt (7200 - 7000), within the last 24 h.
    assert v("laporgub_first_responses_24h", group="energi") == 1
    assert v("laporgub_first_response_seconds", group="energi", quantile="0.5") == pytest.approx(200, abs=1)
    assert math.isnan(v("laporgub_first_response_seconds", group="kesehatan", quantile="0.9") or 0.0)
    # The in-process registry is not touched by reads of the database.
    assert metrics.value("laporgub_open_tickets", group="kesehatan") is None


def test_database_collector_without_a_database_reports_it(tmp_path: Path) -> None:
    saved = db.database.obj
    db.database.initialize(None)
    try:
        collector = DatabaseCollector(groups=["kesehatan"], destinations=["kesehatan", "admin"])
        families = {f.name: f for f in collector.collect()}
    finally:
        db.database.initialize(saved)
    assert families["laporgub_database_up"].samples[0].value == 0
    # A missing value, never a wrong zero.
    assert families["laporgub_outbox_oldest_pending_age_seconds"].samples == []
    assert families["laporgub_open_tickets"].samples == []


def test_database_collector_caches_its_reads(tmp_path: Path, database: None) -> None:
    clock = [1000.0]
    collector = DatabaseCollector(groups=["kesehatan"], destinations=["kesehatan"], state_interval=5,
                                  totals_interval=60, clock=lambda: clock[0])

    def pending() -> float:
        fams = {f.name: f for f in collector.collect()}
        return next(s.value for s in fams["laporgub_outbox_oldest_pending_age_seconds"].samples
                    if s.labels["outbox"] == "sms")

    assert pending() == 0
    with db.database.connection_context():
        db.OutboundSms.create(destination="+6281234567890", text="t", purpose="ack", created_at=clock[0] - 30)
    assert pending() == 0  # within state_interval: the cached reading
    clock[0] += 5
    assert pending() == 35


def test_quantile_interpolates_between_ranks() -> None:
    assert math.isnan(quantile([], 0.5))
    assert quantile([10.0], 0.9) == 10.0
    assert quantile([0.0, 10.0], 0.5) == 5.0
    assert quantile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 0.9) == pytest.approx(9.1)


def test_every_help_text_and_convention(exported: dict[str, list[dict[str, str]]], tmp_path: Path,
                                        database: None) -> None:
    config = service_config(tmp_path)
    metrics = Metrics(config.sla.as_dict(), destinations(config), [m.name for m in config.modems])
    for family in text_string_to_metric_families(metrics.exposition_text()):
        assert family.name.startswith("laporgub_"), family.name
        assert family.documentation.strip(), f"{family.name} has no HELP"
        if family.type == "counter":
            assert all(s.name.endswith("_total") for s in family.samples), family.name
        for s in family.samples:
            assert not s.name.endswith("_created"), s.name
            assert set(s.labels) <= {"stage", "group", "version", "actor", "modem", "kind", "error", "outbox", "le",
                                     "regency", "quantile", "reason"}, (s.name, s.labels)


def test_cumulative_counts_kept_incrementally_match_a_full_count(tmp_path: Path, database: None) -> None:
    now = time.time()
    groups, dests = ["channel", "kesehatan", "energi"], ["channel", "kesehatan", "energi", "admin"]
    reader = TotalsReader()
    with db.database.connection_context():
        a = _ticket(1, now, age=900, groups=("kesehatan",), regency="Kota Tegal")
        _notification(a, "channel", now, age=900, status="sent", message_id=1, attempts=1)
        _notification(a, "kesehatan", now, age=900, attempts=2)  # pending: holds the watermark back
        first = reader.read(now, groups, dests)
        assert first == read_totals(now, groups, dests)
        b = _ticket(2, now, age=300, groups=("energi",))
        db.Ticket.create(number="261128-0200-9", day="261128", four="0200", seq=9, text="x", received_at=now,
                         registered_at=now, updated_at=now)  # not routed yet
        _notification(b, "channel", now, age=300, status="sent", message_id=1, attempts=1)  # shares a's message
        _notification(b, "energi", now, age=300, status="failed", attempts=3)
        db.Notification.update(status="sent", message_id=2, attempts=3).where(
            db.Notification.destination == "kesehatan").execute()
        db.PicResponse.create(ticket=b, pic_telegram_id=1, pic_name="P", text="ok", created_at=now - 10)
        second = reader.read(now, groups, dests)
        assert second == read_totals(now, groups, dests)
        assert second.coalesced["channel"] == 1
        assert second.retried == {"channel": 0, "kesehatan": 2, "energi": 2, "admin": 0}
        assert second.pic_responses == {"channel": 1, "kesehatan": 0, "energi": 1}
        assert second.regency_tickets["Kota Tegal"] == 1 and second.regency_tickets["none"] == 1
        assert reader.read(now, groups, dests) == second  # nothing new: the same
