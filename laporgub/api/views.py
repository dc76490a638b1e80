"""What the API shows of tickets: plain functions from rows to JSON-ready dicts, no HTTP.

Personal data (the citizen's number and name, and numbers anyone typed into a
free-text field) appears in clear only for a key with ``read:personal``; every
answer that shows it is written to the audit log (:func:`laporgub.privacy.record_audit`),
one entry per ticket, in the same request. Otherwise the reporter's number is
masked (``0811****0200``), names are left out and every free-text field (text,
location, category hint, responses) goes through :func:`laporgub.masking.mask_text`.
Open311 answers never carry personal data: no reporter number (not even masked),
no names, and every free-text field masked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo
from typing import Any

import peewee

from laporgub import db
from laporgub.config import Config
from laporgub.masking import mask_msisdn, mask_text
from laporgub.render import wording

#: Ticket kinds Open311 lists (suspected spam is not a service request).
OPEN311_KINDS = ("complaint",)
#: Group keys that are not a topic: every ticket is in channel, kabkota follows the regency.
NON_TOPIC = ("channel", "kabkota")


def iso_local(epoch: float | None, tz: tzinfo) -> str | None:
    """ISO 8601 with the service's UTC offset (``2026-11-28T21:05:01+07:00``)."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, tz).isoformat(timespec="seconds")


def public(text: str | None) -> str | None:
    """A free-text field as it leaves the service without ``read:personal``: numbers masked."""
    return None if text is None else mask_text(text)


def _stage(end: float | None, start: float | None) -> float | None:
    return None if end is None or start is None else round(end - start, 3)


class TicketViews:
    """Builds ticket answers for one request. Use inside a connection of the calling thread.

    Args:
        config: for the time zone and group names.
        personal: show numbers and names in clear (the key has ``read:personal``).
    """

    def __init__(self, config: Config, *, personal: bool = False) -> None:
        self.config = config
        self.tz = config.tz
        self.personal = personal
        #: (number or None, ticket) of every ticket whose reporter this request showed in clear.
        self.disclosed: list[tuple[str | None, str]] = []

    def _groups(self, ids: Sequence[int]) -> dict[int, list[str]]:
        result: dict[int, list[str]] = {i: [] for i in ids}
        C = db.TicketCategory
        for tid, group in db.tuples(C.select(C.ticket, C.group).where(C.ticket.in_(list(ids) or [0]) & C.active)
                                    .order_by(C.id)):
            result[tid].append(group)
        return result

    def _responses(self, ids: Sequence[int]) -> dict[int, list[db.PicResponse]]:
        result: dict[int, list[db.PicResponse]] = {i: [] for i in ids}
        R = db.PicResponse
        for row in R.select().where(R.ticket.in_(list(ids) or [0])).order_by(R.created_at, R.id):
            result[row.ticket_id].append(row)
        return result

    def _citizen(self, ids: Sequence[int]) -> dict[int, list[tuple[float, str, str]]]:
        """The citizen's SMS joined to each ticket after its report: answers to PICs and flood follow-ups
        (``(at, kind, text)``, a multipart SMS once, whole)."""
        from laporgub.conversations import ANSWER, answer_rows

        result: dict[int, list[tuple[float, str, str]]] = {i: [] for i in ids}
        Inb = db.InboundSms
        rows = Inb.select().where(Inb.ticket.in_(list(ids) or [0]) & Inb.kind.in_([ANSWER, "followup"])
                                  & (Inb.concat_seq.is_null() | (Inb.concat_seq == 1)))
        for row in rows.order_by(Inb.reported_at, Inb.id):
            text = row.text or "" if row.concat_seq is None else "".join(p.text or "" for p in answer_rows(row))
            if row.ticket_id is not None:
                result[row.ticket_id].append((row.reported_at, row.kind or ANSWER, text))
        return result

    def _incidents(self, rows: Sequence[db.Ticket]) -> dict[int, dict[str, Any]]:
        """The incident of each linked ticket (laporgub/incidents.py): label, status, reports, first report."""
        ids = sorted({t.incident_id for t in rows if t.incident_id})
        if not ids:
            return {}
        T, Inc = db.Ticket, db.Incident
        reports: dict[int, int] = dict(db.tuples(T.select(T.incident, peewee.fn.COUNT(T.id))
                                                 .where(T.incident.in_(ids)).group_by(T.incident)))
        found = {i.id: i for i in Inc.select().where(Inc.id.in_(ids))}
        anchors: dict[int | None, str] = dict(db.tuples(
            T.select(T.id, T.number).where(T.id.in_([i.anchor for i in found.values() if i.anchor] or [0]))))
        return {i: {"id": f"K{i}", "status": found[i].status, "reports": int(reports.get(i, 0)),
                    "first_ticket": anchors.get(found[i].anchor)} for i in ids if i in found}

    def _web(self, ids: Sequence[int]) -> dict[int, db.WebComplaint]:
        W = db.WebComplaint
        return {w.ticket_id: w for w in W.select().where(W.ticket.in_(list(ids) or [0]))}

    def tickets(self, rows: Sequence[db.Ticket]) -> list[dict[str, Any]]:
        """Full answers for ``GET /api/v1/tickets`` and ``/tickets/{number}``."""
        from laporgub.api.sync import CHANGE_SEQ

        ids = [t.id for t in rows]
        groups, responses, web = self._groups(ids), self._responses(ids), self._web(ids)
        citizen = self._citizen(ids)
        versions: dict[int, int] = dict(
            db.tuples(db.Ticket.select(db.Ticket.id, CHANGE_SEQ).where(db.Ticket.id.in_(ids or [0]))))
        linked = self._incidents(rows)
        answers = []
        for t in rows:
            answer = self._ticket(t, groups[t.id], responses[t.id], web.get(t.id), citizen[t.id])
            answer["incident"] = linked.get(t.incident_id) if t.incident_id else None
            answer["version"] = versions.get(t.id)
            answers.append(answer)
        return answers

    def _ticket(self, t: db.Ticket, groups: list[str], responses: list[db.PicResponse],
                web: db.WebComplaint | None, citizen: Sequence[tuple[float, str, str]] = ()) -> dict[str, Any]:
        phone = None
        if t.sender:
            phone = t.sender if self.personal else mask_msisdn(t.sender)
        name = web.reporter_name if web is not None and self.personal else None
        free: list[str | None] = [t.text, *(r.text for r in responses), *(text for _at, _kind, text in citizen)]
        if web is not None:
            free += [web.category_hint, web.location]
        shown = (lambda text: text) if self.personal else public
        if self.personal and (t.sender or name or any(x and mask_text(x) != x for x in free)):
            self.disclosed.append((t.sender, t.number))
        reporter: dict[str, Any] = {"phone": phone, "name": name}
        local = self.tz
        return {
            "ticket": t.number,
            "channel": t.channel,
            "kind": t.kind,
            "status": t.status,
            "text": shown(t.text),
            "groups": groups,
            "group_names": [self.config.group_name(g) for g in groups],
            "regency": t.regency,
            "reporter": reporter,
            "web": None if web is None else {"category_hint": shown(web.category_hint),
                                             "location": shown(web.location)},
            "anonymised": t.anonymised_at is not None,
            "times": {
                "received_at": iso_local(t.received_at, local),
                "registered_at": iso_local(t.registered_at, local),
                "routed_at": iso_local(t.filtered_at, local),
                "notified_at": iso_local(t.notified_at, local),
                "updated_at": iso_local(t.updated_at, local),
            },
            "stages": {
                "register_seconds": _stage(t.registered_at, t.received_at),
                "filter_seconds": _stage(t.filtered_at, t.registered_at),
                "notify_seconds": _stage(t.notified_at, t.filtered_at),
            },
            "responses": [
                {"at": iso_local(r.created_at, local), "action": r.action, "pic": r.pic_name, "agency": r.agency,
                 "text": shown(r.text)}
                for r in responses
            ],
            "waiting_for_citizen": t.waiting_since is not None and t.status != "closed",
            "messages": self._messages(t, responses, citizen, shown),
        }

    def _messages(self, t: db.Ticket, responses: Sequence[db.PicResponse],
                  citizen: Sequence[tuple[float, str, str]], shown: Any) -> list[dict[str, Any]]:
        """The whole conversation in order (laporgub/conversations.py): the report, the citizen's answers
        and further SMS, the PICs' responses, questions, closes and re-routings."""
        local = self.tz
        items: list[tuple[float, int, dict[str, Any]]] = [
            (t.received_at, 0, {"at": iso_local(t.received_at, local), "from": "citizen", "kind": "report",
                                "pic": None, "agency": None, "text": shown(t.text)})]
        for at, kind, text in citizen:
            items.append((at, 1, {"at": iso_local(at, local), "from": "citizen", "kind": kind, "pic": None,
                                  "agency": None, "text": shown(text)}))
        for r in responses:
            items.append((r.created_at, 2, {"at": iso_local(r.created_at, local), "from": "pic",
                                            "kind": "question" if r.question else r.action, "pic": r.pic_name,
                                            "agency": r.agency, "text": shown(r.text)}))
        items.sort(key=lambda item: (item[0], item[1]))
        return [m for _at, _order, m in items]

    def audit(self, actor: str, what: str) -> None:
        """Write the audit entries for every number this request showed in clear (call in a transaction)."""
        from laporgub.privacy import record_audit

        for number, ticket in self.disclosed:
            record_audit("read:personal", number, f"api {what} ticket={ticket}", actor=actor)


def find_ticket(number: str) -> db.Ticket | None:
    return db.Ticket.get_or_none(db.Ticket.number == number)


def tickets_by_ids(ids: Sequence[int]) -> list[db.Ticket]:
    by_id = {t.id: t for t in db.Ticket.select().where(db.Ticket.id.in_(list(ids) or [0]))}
    return [by_id[i] for i in ids if i in by_id]


# --------------------------------------------------------------------------
# Statistics.


def stats(config: Config) -> dict[str, Any]:
    """Counts per status, channel and kind, and per group (active routing) and status."""
    T, C = db.Ticket, db.TicketCategory
    fn = peewee.fn
    by_status: dict[str, int] = {"open": 0, "responded": 0, "closed": 0}
    by_channel: dict[str, int] = {"sms": 0, "web": 0}
    by_kind: dict[str, int] = {"complaint": 0, "spam": 0}
    total = 0
    for status, channel, kind, n in db.tuples(T.select(T.status, T.channel, T.kind, fn.COUNT(T.id))
                                              .group_by(T.status, T.channel, T.kind)):
        total += n
        by_status[status] = by_status.get(status, 0) + n
        by_channel[channel] = by_channel.get(channel, 0) + n
        by_kind[kind] = by_kind.get(kind, 0) + n
    by_group: dict[str, dict[str, int]] = {
        key: {"open": 0, "responded": 0, "closed": 0, "total": 0} for key in config.groups
    }
    for group, status, n in db.tuples(C.select(C.group, T.status, fn.COUNT(T.id)).join(T, on=(C.ticket == T.id))
                                      .where(C.active).group_by(C.group, T.status)):
        counts = by_group.setdefault(group, {"open": 0, "responded": 0, "closed": 0, "total": 0})
        counts[status] = counts.get(status, 0) + n
        counts["total"] += n
    unrouted = T.select(fn.COUNT(T.id)).where(T.filtered_at.is_null()).scalar() or 0
    return {"total": total, "by_status": by_status, "by_channel": by_channel, "by_kind": by_kind,
            "by_group": by_group, "unrouted": int(unrouted)}


# --------------------------------------------------------------------------
# Open311 GeoReport v2.


def services(config: Config) -> list[dict[str, Any]]:
    """One Open311 service per category group (every group but ``channel``, which receives everything)."""
    result = []
    for key, group in config.groups.items():
        if key == "channel":
            continue
        keywords = ", ".join(group.keywords[:8])
        result.append({
            "service_code": key,
            "service_name": group.name,
            "description": wording("api.service", group=group.name,
                                   examples=wording("api.service_examples", keywords=keywords) if keywords else ""),
            "metadata": False,
            "type": "realtime",
            "keywords": ",".join(group.keywords[:20]),
            "group": "kabkota" if key == "kabkota" else "topik",
        })
    return result


def open311_service_code(groups: Iterable[str]) -> str | None:
    """The ticket's service: its first topic group, else ``kabkota``, else none (not routed yet)."""
    groups = list(groups)
    topic = [g for g in groups if g not in NON_TOPIC]
    if topic:
        return topic[0]
    return "kabkota" if "kabkota" in groups else None


def open311_requests(config: Config, rows: Sequence[db.Ticket]) -> list[dict[str, Any]]:
    """Tickets as Open311 service requests: no personal data at all."""
    ids = [t.id for t in rows]
    views = TicketViews(config)
    groups, responses = views._groups(ids), views._responses(ids)
    web = views._web(ids)
    linked = views._incidents(rows)
    tz = config.tz
    result = []
    for t in rows:
        answers = [r for r in responses[t.id] if r.action != "reroute"]
        last = answers[-1] if answers else None
        code = open311_service_code(groups[t.id])
        agency = last.agency if last is not None and last.agency else (config.group_name(code) if code else None)
        w = web.get(t.id)
        result.append({
            "service_request_id": t.number,
            "status": "closed" if t.status == "closed" else "open",
            "status_notes": public(last.text) if last is not None else None,
            "service_name": config.group_name(code) if code else None,
            "service_code": code,
            "description": public(w.text if w is not None else t.text),
            "agency_responsible": agency,
            # Linked requests (one event, several reports) share one notice naming their incident.
            "service_notice": open311_incident_notice(linked[t.incident_id]) if t.incident_id in linked else None,
            "requested_datetime": iso_local(t.received_at, tz),
            "updated_datetime": iso_local(t.updated_at, tz),
            "expected_datetime": None,
            "address": public((w.location if w is not None else None) or t.regency),
            "address_id": None,
            "zipcode": None,
            "lat": None,
            "long": None,
            "media_url": None,
        })
    return result


def open311_incident_notice(incident: dict[str, Any]) -> str:
    """The ``service_notice`` every request of one incident shows: ``"Kejadian K12: 20 laporan ..."``."""
    return wording("api.incident_notice", label=incident["id"], reports=incident["reports"])


def open311_query(*, ids: Sequence[str] | None, service_code: str | None, status: str | None,
                  start: float | None, end: float | None, limit: int, offset: int) -> list[db.Ticket]:
    """Tickets for ``GET /open311/v2/requests.json``: newest first, complaints only."""
    T = db.Ticket
    query = T.select().where(T.kind.in_(OPEN311_KINDS))
    if ids is not None:
        query = query.where(T.number.in_(list(ids) or [""]))
    if status == "closed":
        query = query.where(T.status == "closed")
    elif status == "open":
        query = query.where(T.status != "closed")
    if start is not None:
        query = query.where(T.received_at >= start)
    if end is not None:
        query = query.where(T.received_at <= end)
    if service_code is not None:
        C = db.TicketCategory
        query = query.where(T.id.in_(C.select(C.ticket).where((C.group == service_code) & C.active)))
    return list(query.order_by(T.received_at.desc(), T.id.desc()).limit(limit).offset(offset))
