"""Writes LaporGub's Grafana dashboards: ``python metrics/grafana/dashboards.py``.

The JSON files beside this script are its output and are committed; the
tests check that they are what this script writes, that every expression
parses and returns data on a real Prometheus, and that every metric they use
is exported by LaporGub. Change a dashboard here, run the script, commit both.
(A dashboard edited in Grafana's UI and exported would lose the stable panel
ids and layout this script gives; port the change here instead.)

Plain dictionaries, no dependency: ``grafanalib`` is unmaintained and
``grafana-foundation-sdk`` pins one Grafana version per release.

Conventions:

* every panel reads the data source chosen in the ``datasource`` variable;
* stage limits are bucket bounds rendered by prometheus-client as floats,
  ``le="9.0"``, ``le="27.0"``, ``le="3.0"`` (config.toml ``[sla]``);
* "over the range" panels are instant queries over ``$__range``; graphs use
  ``$__rate_interval``;
* ``schemaVersion`` 39 (Grafana 10.4 to 11); newer Grafana migrates it on load.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCHEMA_VERSION = 39
DS = {"type": "prometheus", "uid": "${datasource}"}
#: The SOP's limits, as prometheus-client renders the bucket bounds (must match config.toml [sla]).
SLA: dict[str, str] = {"register": "9.0", "filter": "27.0", "notify": "9.0", "deliver": "3.0"}
STAGE_TEXT = {
    "register": "register: SMS reported → ticket committed",
    "filter": "filter: ticket → categories committed",
    "notify": "notify: categories → Bot API request sent",
    "deliver": "deliver: request sent → Bot API answered ok",
}

Panel = dict[str, Any]


# -- building blocks ----------------------------------------------------------------


def target(expr: str, legend: str = "", *, ref: str = "A", instant: bool = False) -> dict[str, Any]:
    return {
        "refId": ref,
        "datasource": DS,
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend or "__auto",
        "instant": instant,
        "range": not instant,
    }


def targets(*pairs: tuple[str, str], instant: bool = False) -> list[dict[str, Any]]:
    return [target(expr, legend, ref=chr(ord("A") + i), instant=instant) for i, (expr, legend) in enumerate(pairs)]


def thresholds(*steps: tuple[float | None, str]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"value": v, "color": c} for v, c in steps]}


#: Compliance: red below 95 %, orange below 99 %, green from 99 % (alerts.rules.yml's objective).
COMPLIANCE = thresholds((None, "red"), (0.95, "orange"), (0.99, "green"))
ZERO_GOOD = thresholds((None, "green"), (1, "red"))


def field_defaults(unit: str, *, th: dict[str, Any] | None = None, min_: float | None = None,
                   max_: float | None = None, decimals: int | None = None, no_value: str | None = None,
                   color_mode: str | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {"unit": unit, "thresholds": th or thresholds((None, "green"))}
    d["color"] = {"mode": color_mode or ("thresholds" if th else "palette-classic")}
    if min_ is not None:
        d["min"] = min_
    if max_ is not None:
        d["max"] = max_
    if decimals is not None:
        d["decimals"] = decimals
    if no_value is not None:
        d["noValue"] = no_value
    return d


def stat(title: str, tgts: list[dict[str, Any]], unit: str, *, description: str = "", w: int = 6, h: int = 4,
         th: dict[str, Any] | None = None, decimals: int | None = None, no_value: str | None = None,
         min_: float | None = None, max_: float | None = None, text_mode: str = "auto") -> Panel:
    return {
        "type": "stat", "title": title, "description": description, "datasource": DS, "targets": tgts,
        "_w": w, "_h": h,
        "fieldConfig": {"defaults": field_defaults(unit, th=th, decimals=decimals, no_value=no_value,
                                                   min_=min_, max_=max_), "overrides": []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": "background" if th else "value", "graphMode": "none", "justifyMode": "auto",
                    "orientation": "auto", "textMode": text_mode, "wideLayout": True,
                    "showPercentChange": False},
    }


def timeseries(title: str, tgts: list[dict[str, Any]], unit: str, *, description: str = "", w: int = 12,
               h: int = 8, min_: float | None = 0, max_: float | None = None, stack: bool = False,
               draw: str = "line", th: dict[str, Any] | None = None, threshold_style: str = "off") -> Panel:
    custom = {
        "drawStyle": draw, "lineWidth": 1, "fillOpacity": 10 if not stack else 60, "showPoints": "never",
        "spanNulls": False, "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        "axisPlacement": "auto", "thresholdsStyle": {"mode": threshold_style},
    }
    defaults = field_defaults(unit, th=th, min_=min_, max_=max_, color_mode="palette-classic")
    defaults["custom"] = custom
    return {
        "type": "timeseries", "title": title, "description": description, "datasource": DS, "targets": tgts,
        "_w": w, "_h": h,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
    }


def bargauge(title: str, tgts: list[dict[str, Any]], unit: str, *, description: str = "", w: int = 12,
             h: int = 8, th: dict[str, Any] | None = None, min_: float | None = 0, max_: float | None = None,
             no_value: str | None = None) -> Panel:
    return {
        "type": "bargauge", "title": title, "description": description, "datasource": DS, "targets": tgts,
        "_w": w, "_h": h,
        "fieldConfig": {"defaults": field_defaults(unit, th=th or thresholds((None, "blue")), min_=min_,
                                                   max_=max_, no_value=no_value), "overrides": []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "orientation": "horizontal", "displayMode": "gradient", "showUnfilled": True,
                    "valueMode": "color", "namePlacement": "auto", "sizing": "auto", "minVizHeight": 16,
                    "minVizWidth": 8, "maxVizHeight": 300},
    }


def row(title: str) -> Panel:
    return {"type": "row", "title": title, "collapsed": False, "panels": [], "_w": 24, "_h": 1}


def layout(panels: list[Panel]) -> list[Panel]:
    """Give panels ids and grid positions, left to right, top to bottom."""
    x = y = row_h = 0
    out = []
    for pid, p in enumerate(panels, 1):
        w, h = p.pop("_w"), p.pop("_h")
        if x + w > 24:
            x, y, row_h = 0, y + row_h, 0
        out.append({"id": pid, "gridPos": {"h": h, "w": w, "x": x, "y": y}, **p})
        x += w
        row_h = max(row_h, h)
        if w == 24:
            x, y, row_h = 0, y + h, 0
    return out


DATASOURCE_VAR = {
    "type": "datasource", "name": "datasource", "label": "Data source", "query": "prometheus",
    "current": {}, "hide": 0, "includeAll": False, "multi": False, "options": [], "refresh": 1,
    "regex": "", "skipUrlSync": False,
}


def query_var(name: str, label: str, metric: str, lab: str) -> dict[str, Any]:
    q = f"label_values({metric}, {lab})"
    return {
        "type": "query", "name": name, "label": label, "datasource": DS, "definition": q,
        "query": {"query": q, "refId": "PrometheusVariableQueryEditor-VariableQuery", "qryType": 1},
        "includeAll": True, "multi": True, "allValue": ".*", "current": {"selected": True, "text": ["All"],
                                                                         "value": ["$__all"]},
        "refresh": 2, "sort": 1, "hide": 0, "options": [], "regex": "", "skipUrlSync": False,
    }


def dashboard(uid: str, title: str, description: str, panels: list[Panel], variables: list[dict[str, Any]],
              *, time_from: str = "now-24h", refresh: str = "1m") -> dict[str, Any]:
    return {
        "id": None,
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["laporgub"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": refresh,
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "weekStart": "",
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
            "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard",
        }]},
        "links": [{"type": "dashboards", "tags": ["laporgub"], "asDropdown": True, "title": "LaporGub",
                   "includeVars": False, "keepTime": True, "icon": "external link", "targetBlank": False,
                   "tooltip": "", "url": ""}],
        "templating": {"list": [DATASOURCE_VAR, *variables]},
        "panels": layout(panels),
    }


# -- expressions ----------------------------------------------------------------------


def ratio(stage: str, window: str, metric: str = "laporgub_stage_duration_seconds", by: str = "") -> str:
    """Share of a stage's events within its limit over ``window`` (NaN without events)."""
    agg = f"sum by ({by}) " if by else "sum"
    extra = ', group=~"$group"' if by == "group" else ""
    return (f'{agg}(increase({metric}_bucket{{stage="{stage}", le="{SLA[stage]}"{extra}}}[{window}]))'
            f' / {agg}(increase({metric}_count{{stage="{stage}"{extra}}}[{window}]))')


def breaches(stage: str, window: str) -> str:
    m = "laporgub_stage_duration_seconds"
    return (f'round(sum(increase({m}_count{{stage="{stage}"}}[{window}]))'
            f' - sum(increase({m}_bucket{{stage="{stage}", le="{SLA[stage]}"}}[{window}])))')


def quantile(q: float, stage: str) -> str:
    return (f"histogram_quantile({q}, sum by (le) "
            f'(rate(laporgub_stage_duration_seconds_bucket{{stage="{stage}"}}[$__rate_interval])))')


# -- the dashboards ---------------------------------------------------------------------


def sla_dashboard() -> dict[str, Any]:
    p: list[Panel] = [row("Compliance over the selected range (share of events within the SOP limit)")]
    for stage in SLA:
        p.append(stat(
            f"{stage} ≤ {SLA[stage].removesuffix('.0')} s", [target(ratio(stage, "$__range"), stage, instant=True)],
            "percentunit", th=COMPLIANCE, decimals=2, no_value="no events", min_=0, max_=1,
            description=f"{STAGE_TEXT[stage]}. Events within the limit / all events of the stage over the "
                        "selected range, from the histogram bucket at the limit.",
        ))
    for stage in SLA:
        p.append(stat(
            f"{stage}: breaches", [target(breaches(stage, "$__range"), "breaches", instant=True)], "short",
            th=ZERO_GOOD, w=3, decimals=0,
            description=f"Events of {stage} over the limit in the selected range.",
        ))
        p.append(stat(
            f"{stage}: events", [target(f'round(sum(increase(laporgub_stage_duration_seconds_count{{stage="{stage}"}}'
                                        f"[$__range])))", "events", instant=True)],
            "short", w=3, decimals=0, description=f"Events of {stage} measured in the selected range.",
        ))
    p.append(row("Compliance over time (previous hour at each point)"))
    p.append(timeseries(
        "Compliance per stage, 1 h window", targets(*[(ratio(s, "1h"), s) for s in SLA]), "percentunit",
        w=16, min_=None, max_=1, th=COMPLIANCE, threshold_style="line+area",
        description="At each point, the share of the previous hour's events within the limit.",
    ))
    p.append(timeseries(
        "Breach in progress: oldest waiting item vs limit",
        targets(('max by (stage) (laporgub_stage_oldest_pending_age_seconds)', "{{stage}} waiting"),
                ('max by (stage) (laporgub_sla_seconds{stage=~"filter|notify"})', "{{stage}} limit")),
        "s", w=8,
        description="From the database: the oldest ticket not yet routed (filter) and the oldest ticket "
                    "notification not yet accepted by Telegram (notify). Above the limit = a breach happening "
                    "now, before any histogram can show it (e.g. a Telegram outage).",
    ))
    p.append(row("Percentiles per stage (with the limit)"))
    for stage in SLA:
        p.append(timeseries(
            f"{stage}: p50 / p95 / p99",
            targets((quantile(0.5, stage), "p50"), (quantile(0.95, stage), "p95"), (quantile(0.99, stage), "p99"),
                    (f'max(laporgub_sla_seconds{{stage="{stage}"}})', "limit")),
            "s", w=6, description=f"{STAGE_TEXT[stage]}. Percentiles interpolate inside histogram buckets.",
        ))
    p.append(row("Per destination: notify and deliver"))
    for stage in ("notify", "deliver"):
        p.append(bargauge(
            f"{stage} compliance per destination (range)",
            [target(ratio(stage, "$__range", "laporgub_group_stage_duration_seconds", by="group"), "{{group}}",
                    instant=True)],
            "percentunit", th=COMPLIANCE, min_=0, max_=1, no_value="no events",
            description=f"Per Telegram destination: {stage} events within the limit / all, over the range.",
        ))
    p.append(row("End to end"))
    e2e = "laporgub_end_to_end_seconds_bucket[$__rate_interval]"
    p.append(timeseries(
        "End to end: SMS reported → last group acknowledged",
        targets((f"histogram_quantile(0.5, sum by (le) (rate({e2e})))", "p50"),
                (f"histogram_quantile(0.95, sum by (le) (rate({e2e})))", "p95"),
                (f"histogram_quantile(0.99, sum by (le) (rate({e2e})))", "p99"),
                ('sum(laporgub_sla_seconds)', "sum of the stage limits")),
        "s", w=16,
    ))
    p.append(stat(
        "SLA limits (config.toml [sla])", [target("max by (stage) (laporgub_sla_seconds)", "{{stage}}", instant=True)],
        "s", w=8, h=8, text_mode="value_and_name",
    ))
    return dashboard(
        "laporgub-sla", "LaporGub · SLA",
        "Does the SMS centre keep the SOP's promises: register 9 s, filter 27 s, notify 9 s, deliver 3 s.",
        p, [query_var("group", "Destination", "laporgub_group_stage_duration_seconds_count", "group")],
        time_from="now-24h",
    )


def operations_dashboard() -> dict[str, Any]:
    g = '{group=~"$group"}'
    p: list[Panel] = [row("Service")]
    p.append(stat("Ready", [target("min(laporgub_ready)", "ready", instant=True)], "none",
                  th=thresholds((None, "red"), (1, "green")), w=4,
                  description="1 once every actor runs and every modem is initialised."))
    p.append(stat("Modems up", [target("sum(laporgub_modem_up)", "up", instant=True),
                                target("count(laporgub_modem_up)", "configured", ref="B", instant=True)],
                  "none", w=4, text_mode="value_and_name"))
    p.append(stat("Database readable", [target("min(laporgub_database_up)", "db", instant=True)], "none",
                  th=thresholds((None, "red"), (1, "green")), w=4,
                  description="0: the metrics endpoint cannot read the database; backlog figures are missing."))
    p.append(stat("Actor restarts (range)",
                  [target("round(sum(increase(laporgub_actor_restarts_total[$__range])))", "restarts",
                          instant=True)], "short", th=ZERO_GOOD, w=4, decimals=0))
    p.append(stat("Version", [target("max by (version) (laporgub_build_info)", "{{version}}", instant=True)],
                  "none", w=4, text_mode="name"))
    p.append(stat("Last SMS received", [target("time() - max(laporgub_last_sms_received_timestamp_seconds)",
                                               "ago", instant=True)],
                  "s", w=4, th=thresholds((None, "green"), (7200, "orange")),
                  description="Seconds since a modem last reported an inbound SMS."))
    p.append(row("Throughput"))
    p.append(timeseries("SMS received per kind (/min)",
                        [target("sum by (kind) (rate(laporgub_sms_received_total[$__rate_interval])) * 60",
                                "{{kind}}")], "short", stack=True, w=8))
    p.append(timeseries("Tickets routed per group (/min)",
                        [target(f"sum by (group) (rate(laporgub_tickets_routed_total{g}[$__rate_interval])) * 60",
                                "{{group}}")], "short", w=8))
    p.append(timeseries("Notifications sent per destination (/min)",
                        [target(f"sum by (group) (rate(laporgub_notifications_sent_total{g}[$__rate_interval])) * 60",
                                "{{group}}")], "short", w=8))
    for what, metric, desc in (
        ("sent", "laporgub_notifications_sent_total", "Notifications accepted by the Bot API."),
        ("coalesced", "laporgub_notifications_coalesced_total",
         "Notifications that went out in a message shared with an earlier one (pacing at work)."),
        ("retried", "laporgub_notifications_retried_total",
         "Send attempts that failed and were retried (429, timeouts, network, Forbidden, BadRequest)."),
    ):
        p.append(bargauge(f"Notifications {what} per destination (range)",
                          [target(f"sum by (group) (increase({metric}{g}[$__range]))", "{{group}}", instant=True)],
                          "short", w=8, h=9, description=desc))
    p.append(bargauge("Complaints per regency/city (range)",
                      [target("sort_desc(sum by (regency) (increase(laporgub_tickets_by_regency_total[$__range])) > 0)",
                              "{{regency}}", instant=True)], "short", w=24, h=12, no_value="none in range",
                      description="Complaints naming one of the 35 regencies/cities of Central Java (or none)."))
    p.append(row("Backlog"))
    p.append(timeseries("Outbox rows waiting", [target("sum by (outbox) (laporgub_outbox_pending)", "{{outbox}}")],
                        "short", w=8))
    p.append(timeseries("Oldest waiting row per outbox",
                        [target("max by (outbox) (laporgub_outbox_oldest_pending_age_seconds)", "{{outbox}}")],
                        "s", w=8))
    p.append(timeseries("Notifications waiting per destination",
                        [target(f"sum by (group) (laporgub_notifications_pending{g})", "{{group}}")],
                        "short", w=8, stack=True))
    p.append(row("Telegram"))
    p.append(timeseries("Bot API requests per destination (/min)",
                        [target(f"sum by (group) (rate(laporgub_telegram_requests_total{g}[$__rate_interval])) * 60",
                                "{{group}}")], "short", w=8))
    p.append(timeseries("Bot API errors per class (/min)",
                        [target(f"sum by (error) (rate(laporgub_telegram_errors_total{g}[$__rate_interval])) * 60",
                                "{{error}}")], "short", w=8, stack=True))
    p.append(bargauge("429 retry_after per destination (range)",
                      [target('sum by (group) (increase(laporgub_telegram_errors_total{error="retry_after", '
                              'group=~"$group"}[$__range]))', "{{group}}", instant=True)],
                      "short", w=4, th=thresholds((None, "green"), (1, "orange"))))
    p.append(bargauge("Forbidden per destination (range)",
                      [target('sum by (group) (increase(laporgub_telegram_errors_total{error="forbidden", '
                              'group=~"$group"}[$__range]))', "{{group}}", instant=True)],
                      "short", w=4, th=thresholds((None, "green"), (1, "red"))))
    p.append(row("Incidents"))
    p.append(stat("Incidents open", [target("max(laporgub_incidents_open)", "open", instant=True)], "short",
                  w=6, decimals=0,
                  description="Incidents still taking reports: several complaints about one event, linked "
                              "(docs/incidents.md)."))
    p.append(stat("Notifications saved (range)",
                  [target("round(sum(increase(laporgub_incident_notifications_saved_total[$__range])))", "saved",
                          instant=True)], "short", w=6, decimals=0,
                  description="Group and leader messages not posted because a report joined an incident."))
    p.append(timeseries("Reports linked into incidents (/h)",
                        [target("sum(rate(laporgub_incident_reports_total[$__rate_interval])) * 3600", "linked")],
                        "short", w=6))
    p.append(timeseries("Incident message edits per destination (/min)",
                        [target(f"sum by (group) (rate(laporgub_incident_edits_total{g}[$__rate_interval])) * 60",
                                "{{group}}")], "short", w=6,
                        description="editMessageText of incidents' messages (paced, within the flood limits)."))
    p.append(row("Modems"))
    p.append(bargauge("Modem up", [target("max by (modem) (laporgub_modem_up)", "{{modem}}", instant=True)],
                      "none", w=4, th=thresholds((None, "red"), (1, "green")), max_=1))
    p.append(timeseries("Signal (dBm)", [target("max by (modem) (laporgub_modem_signal_dbm)", "{{modem}}")],
                        "dBm", w=5, min_=-113, max_=-51))
    p.append(timeseries("Network registration (1 home/roaming)",
                        targets(("max by (modem) (laporgub_modem_registered)", "{{modem}} registered"),
                                ("max by (modem) (laporgub_modem_registration_status)", "{{modem}} CREG stat")),
                        "none", w=5))
    p.append(timeseries("SIM storage used",
                        targets(("max by (modem) (laporgub_modem_storage_used)", "{{modem}} used"),
                                ("max by (modem) (laporgub_modem_storage_total)", "{{modem}} capacity")),
                        "short", w=5))
    p.append(timeseries("Modem errors and reconnects (/h)",
                        targets(("sum by (modem, error) (rate(laporgub_modem_errors_total[$__rate_interval])) * 3600",
                                 "{{modem}} {{error}}"),
                                ("sum by (modem) (rate(laporgub_modem_reconnects_total[$__rate_interval])) * 3600",
                                 "{{modem}} reconnects")),
                        "short", w=5))
    p.append(timeseries("SMS in and out per modem (/min)",
                        targets(("sum by (modem) (rate(laporgub_sms_received_total[$__rate_interval])) * 60",
                                 "{{modem}} in"),
                                ("sum by (modem) (rate(laporgub_outbound_sms_sent_total[$__rate_interval])) * 60",
                                 "{{modem}} out")),
                        "short", w=12))
    p.append(bargauge("Actor restarts (range)",
                      [target("sort_desc(sum by (actor) (increase(laporgub_actor_restarts_total[$__range])))",
                              "{{actor}}", instant=True)], "short", w=12,
                      th=thresholds((None, "green"), (1, "orange"), (3, "red"))))
    return dashboard(
        "laporgub-operations", "LaporGub · Operations",
        "Throughput per group, backlog, Telegram errors and 429s, modems, restarts.",
        p, [query_var("group", "Destination", "laporgub_notifications_sent_total", "group")], time_from="now-6h",
    )


def pic_dashboard() -> dict[str, Any]:
    g = '{group=~"$group"}'
    day, three_days = 24 * 3600, 72 * 3600
    age_th = thresholds((None, "green"), (day, "orange"), (three_days, "red"))
    p: list[Panel] = [row("Now")]
    p.append(stat("Complaints without a response",
                  [target('sum(laporgub_open_tickets{group="channel"})', "open", instant=True)],
                  "short", w=6, description="Every complaint is in the channel: this is the total, once each."))
    p.append(stat("Oldest complaint without a response",
                  [target('max(laporgub_open_ticket_oldest_age_seconds{group="channel"})', "oldest",
                          instant=True)],
                  "s", w=6, th=age_th))
    p.append(stat("PIC responses (range)",
                  [target('round(sum(increase(laporgub_pic_responses_total{group="channel"}[$__range])))',
                          "responses", instant=True)],
                  "short", w=6, decimals=0, description="Responses and closes (each counted once, via the channel)."))
    p.append(stat("First responses in the last 24 h",
                  [target('sum(laporgub_first_responses_24h{group="channel"})', "first", instant=True)],
                  "short", w=6))
    p.append(row("Per group"))
    p.append(bargauge("Complaints without a response", [target(f"sum by (group) (laporgub_open_tickets{g})",
                                                                "{{group}}", instant=True)], "short", w=8))
    p.append(bargauge("Oldest complaint without a response",
                      [target(f"max by (group) (laporgub_open_ticket_oldest_age_seconds{g})", "{{group}}",
                              instant=True)], "s", w=8, th=age_th,
                      description="Orange after 24 h (reminder), red after 72 h (escalation to the leaders)."))
    p.append(bargauge("PIC responses (range)",
                      [target(f"sum by (group) (increase(laporgub_pic_responses_total{g}[$__range]))", "{{group}}",
                              instant=True)], "short", w=8,
                      description="Responses and closes made while the ticket was in the group."))
    p.append(bargauge("Time to first response, median (last 24 h)",
                      [target('max by (group) (laporgub_first_response_seconds{quantile="0.5", group=~"$group"})',
                              "{{group}}", instant=True)], "s", w=8, th=age_th, no_value="no responses"))
    p.append(bargauge("Time to first response, 90th percentile (last 24 h)",
                      [target('max by (group) (laporgub_first_response_seconds{quantile="0.9", group=~"$group"})',
                              "{{group}}", instant=True)], "s", w=8, th=age_th, no_value="no responses"))
    p.append(bargauge("Complaints received (range)",
                      [target(f"sum by (group) (increase(laporgub_tickets_routed_total{g}[$__range]))", "{{group}}",
                              instant=True)], "short", w=8, description="The groups' workload in the same range."))
    p.append(row("Conversations"))
    p.append(stat("Waiting for the citizen's answer",
                  [target("max(laporgub_tickets_waiting_for_citizen)", "waiting", instant=True)], "short", w=6,
                  decimals=0, description="Open tickets whose PIC asked the citizen something (/tanya, a reply "
                                          "ending in ?) and got no answer yet: no reminder goes to the PIC while "
                                          "they wait (docs/conversations.md)."))
    p.append(stat("Citizens' answers (range)",
                  [target("round(sum(increase(laporgub_citizen_answers_total[$__range])))", "answers",
                          instant=True)], "short", w=6, decimals=0,
                  description="SMS joined to an open ticket as the answer to a PIC (no new ticket)."))
    p.append(stat("Time to the citizen's answer, median (range)",
                  [target("histogram_quantile(0.5, sum by (le) "
                          "(increase(laporgub_citizen_answer_seconds_bucket[$__range])))", "median", instant=True)],
                  "s", w=6, no_value="no answers"))
    p.append(timeseries("Citizens' answers per hour",
                        [target("sum(increase(laporgub_citizen_answers_total[1h]))", "answers")], "short", w=6))
    p.append(row("Over time"))
    p.append(timeseries("Complaints without a response", [target(f"sum by (group) (laporgub_open_tickets{g})",
                                                                  "{{group}}")], "short", w=12))
    p.append(timeseries("PIC responses per hour",
                        [target(f"sum by (group) (increase(laporgub_pic_responses_total{g}[1h]))", "{{group}}")],
                        "short", w=12))
    p.append(timeseries("Time to first response, median over the previous 24 h",
                        [target('max by (group) (laporgub_first_response_seconds{quantile="0.5", group=~"$group"})',
                                "{{group}}")], "s", w=12))
    p.append(timeseries("Oldest complaint without a response",
                        [target(f"max by (group) (laporgub_open_ticket_oldest_age_seconds{g})", "{{group}}")],
                        "s", w=12, th=age_th, threshold_style="line"))
    return dashboard(
        "laporgub-pic", "LaporGub · PIC performance",
        "Do the PICs answer: complaints without a response, responses, time to first response, per group.",
        p, [query_var("group", "Group", "laporgub_open_tickets", "group")], time_from="now-7d", refresh="5m",
    )


DASHBOARDS = {
    "laporgub-sla.json": sla_dashboard,
    "laporgub-operations.json": operations_dashboard,
    "laporgub-pic.json": pic_dashboard,
}


def render(build: Any) -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    """Write the dashboards; ``--check`` only reports whether the files are up to date (exit 1 if not)."""
    stale = []
    for name, build in DASHBOARDS.items():
        path = HERE / name
        text = render(build)
        if "--check" in argv:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    for name in stale:
        print(f"{name} is not what dashboards.py writes: run python metrics/grafana/dashboards.py", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
