"""A realistic synthetic month of tickets, for benchmarks/report.py and the README's sample page.

Not used by the service, so not in the package (a test of the PDF's long listing
uses it too). Rows go in with ``insert_many`` in large batches and explicit ids, so
100,000 tickets (with their categories, notifications and responses) are seeded
in seconds. Everything is drawn from a seeded
``random.Random``: the same arguments give the same database.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import tzinfo
from typing import Any

import peewee

from laporgub import db
from laporgub.gazetteer import REGENCIES
from laporgub.report.periods import Month

__all__ = ["SAMPLE_PICS", "seed_month"]

#: Topic groups with a few keywords each, and the agency that answers them.
_TOPICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "sosial_hukum": ("Dinas Sosial", ("bansos", "pkh", "pungli", "blt", "preman")),
    "kesehatan": ("Dinas Kesehatan", ("puskesmas", "bpjs", "rumah sakit", "obat", "dokter")),
    "ekonomi_industri": ("Dinas Perindustrian dan Perdagangan", ("harga beras", "umkm", "gaji", "phk")),
    "darurat": ("BPBD", ("banjir", "longsor", "kebakaran", "pohon tumbang")),
    "esdm_lh": ("Dinas Lingkungan Hidup", ("sampah", "limbah", "tambang ilegal", "polusi")),
    "pertanian": ("Dinas Pertanian", ("pupuk", "hama", "irigasi", "harga gabah")),
    "infrastruktur": ("Dinas Pekerjaan Umum Bina Marga", ("jalan rusak", "jembatan", "lampu jalan", "drainase")),
    "energi": ("Dinas ESDM", ("listrik padam", "pln", "lpg", "solar langka")),
    "pelayanan_publik": ("Biro Organisasi", ("ktp", "pajak kendaraan", "sekolah", "izin")),
}
_WEIGHTS = (12, 10, 7, 6, 8, 7, 22, 9, 19)

#: ``(telegram_id, name, agency, groups)`` of the sample PICs: two per topic group and one admin.
SAMPLE_PICS: tuple[tuple[int, str, str, tuple[str, ...]], ...] = tuple(
    (900000000 + i * 10 + k, f"PIC {agency.split()[-1]} {k + 1}", agency, (group,))
    for i, (group, (agency, _)) in enumerate(_TOPICS.items())
    for k in range(2)
) + ((900000999, "Admin Diskominfo", "Diskominfo", ("channel",)),)


def _batches(rows: Sequence[dict[str, Any]], size: int) -> Iterator[Sequence[dict[str, Any]]]:
    for i in range(0, len(rows), size):
        yield rows[i:i + size]


def seed_month(
    database: peewee.Database, month: Month, tz: tzinfo, count: int, *, seed: int = 7, first_id: int = 1,
    response_share: float = 0.82,
) -> None:
    """Insert ``count`` tickets received in ``month`` with categories, notifications, responses and PICs.

    The caller owns the connection. About 3% are spam, 70% name a regency,
    ``response_share`` get a PIC response (median about 6 hours, long tail),
    40% are closed and 3% re-routed; stage times mostly meet the SLA.
    """
    rng = random.Random(seed)
    start, end = month.window(tz)
    span = end - start
    now = end
    tickets, categories, notifications, responses = [], [], [], []
    sequence: dict[tuple[str, str], int] = {}
    groups = list(_TOPICS)
    cat_id = note_id = resp_id = first_id
    for i in range(count):
        ticket_id = first_id + i
        # more complaints on weekdays and in daytime: a cheap shape
        received = start + (rng.random() ** 1.05) * span
        local_day = int((received - start) // 86400)
        received = min(end - 1, start + local_day * 86400 + rng.triangular(6 * 3600, 23.5 * 3600, 10 * 3600))
        sender = f"+62812{rng.randrange(10_000_000, 99_999_999)}"
        four = sender[-4:]
        day = f"{month.year % 100:02d}{month.month:02d}{local_day + 1:02d}"
        seq = sequence[(day, four)] = sequence.get((day, four), 0) + 1
        spam = rng.random() < 0.03
        register = rng.lognormvariate(-0.7, 0.8)
        filt = rng.lognormvariate(-1.5, 0.9)
        registered, filtered = received + register, received + register + filt
        regency = rng.choice(REGENCIES) if not spam and rng.random() < 0.7 else None
        chosen: list[str] = []
        if not spam:
            chosen = [rng.choices(groups, weights=_WEIGHTS)[0]]
            if rng.random() < 0.15:
                extra = rng.choices(groups, weights=_WEIGHTS)[0]
                if extra not in chosen:
                    chosen.append(extra)
            if regency:
                chosen.append("kabkota")
        responded = not spam and rng.random() < response_share
        wait = rng.lognormvariate(9.9, 1.2) if responded else None  # e^9.9 s ~ 5.5 h
        first_at = received + wait if wait is not None and received + wait < now + 5 * 86400 else None
        closed = first_at is not None and rng.random() < 0.45
        rerouted = not spam and len(chosen) >= 1 and rng.random() < 0.03
        status = "closed" if closed else ("responded" if first_at is not None else "open")
        tickets.append({
            "id": ticket_id, "number": f"{day}-{four}-{seq}", "day": day, "four": four, "seq": seq, "sender": sender,
            "channel": "web" if rng.random() < 0.08 else "sms", "kind": "spam" if spam else "complaint",
            "text": "contoh", "regency": regency, "status": status, "received_at": received,
            "registered_at": registered, "filtered_at": filtered, "updated_at": filtered,
        })
        route = ["channel", *chosen]
        reroute_at = filtered + rng.uniform(600, 20000) if rerouted else None
        if reroute_at is not None and first_at is not None and first_at < reroute_at:
            reroute_at = None  # keep it simple: a responded ticket was not moved
        for group in route:
            topic = _TOPICS.get(group)
            kw = ",".join(rng.sample(topic[1], k=1 + (rng.random() < 0.25))) if topic else ""
            removed = reroute_at if reroute_at is not None and group == chosen[0] else None
            categories.append({"id": cat_id, "ticket": ticket_id, "group": group, "keywords": kw, "source": "filter",
                               "active": removed is None, "created_at": filtered, "removed_at": removed})
            cat_id += 1
        if reroute_at is not None:
            target = rng.choice([g for g in groups if g not in route])
            categories.append({"id": cat_id, "ticket": ticket_id, "group": target, "keywords": "", "source": "reroute",
                               "active": True, "created_at": reroute_at, "removed_at": None})
            cat_id += 1
            pic = next(p for p in SAMPLE_PICS if chosen[0] in p[3])
            responses.append({"id": resp_id, "ticket": ticket_id, "pic_telegram_id": pic[0], "pic_name": pic[1],
                              "agency": pic[2], "text": "dialihkan", "action": "reroute", "created_at": reroute_at})
            resp_id += 1
            route.append(target)
        for group in route:
            queued = filtered
            sent = queued + rng.lognormvariate(0.3, 0.9)
            acked = sent + rng.lognormvariate(-0.9, 0.6)
            notifications.append({"id": note_id, "ticket": ticket_id, "destination": group, "chat_id": -1001000000001,
                                  "kind": "spam" if spam else "ticket", "status": "sent", "queued_at": queued,
                                  "sent_at": sent, "acked_at": acked, "attempts": 1})
            note_id += 1
        if first_at is not None:
            answering = route[-1] if reroute_at is not None else (chosen[0] if chosen else "channel")
            candidates = [p for p in SAMPLE_PICS if answering in p[3]] or [SAMPLE_PICS[-1]]
            pic = rng.choice(candidates)
            responses.append({"id": resp_id, "ticket": ticket_id, "pic_telegram_id": pic[0], "pic_name": pic[1],
                              "agency": pic[2], "text": "sedang ditindaklanjuti", "action": "response",
                              "created_at": first_at})
            resp_id += 1
            if closed:
                responses.append({"id": resp_id, "ticket": ticket_id, "pic_telegram_id": pic[0], "pic_name": pic[1],
                                  "agency": pic[2], "text": "selesai", "action": "close",
                                  "created_at": first_at + rng.uniform(3600, 4 * 86400)})
                resp_id += 1
    with database.atomic():
        for pid, name, agency, pic_groups in SAMPLE_PICS:
            if not db.Pic.select().where(db.Pic.telegram_id == pid).exists():
                db.Pic.create(telegram_id=pid, name=name, agency=agency, surat_tugas="000/000/2026",
                              groups=",".join(pic_groups), admin=pic_groups == ("channel",), updated_at=start)
        for model, rows in ((db.Ticket, tickets), (db.TicketCategory, categories),
                            (db.Notification, notifications), (db.PicResponse, responses)):
            size = max(1, 30000 // max(1, len(rows[0]) if rows else 1))
            for batch in _batches(rows, size):
                model.insert_many(batch).execute()
    if not db.is_sqlite(database):
        for model in (db.Ticket, db.TicketCategory, db.Notification, db.PicResponse):
            table = model._meta.table_name
            database.execute_sql(  # type: ignore[no-untyped-call]
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
