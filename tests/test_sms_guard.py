"""Nobody can make the centre text strangers: Indonesian mobiles only, caps per number and per day, PIC
replies cut to a few parts. The whole service on the pty modem emulator and the Bot API stand-in."""

from __future__ import annotations

from typing import Any

import pytest

from laporgub import db, pdu
from laporgub.smsguard import reply_text
from laporgub.tickets import is_indonesian_mobile
from tests.api_helpers import start_api_fixture  # noqa: F401 - fixture
from tests.conftest import outboxes_settled, wait_until

ADMIN_CHAT = -1001000000000
KESEHATAN = -1001000000003
PIC_KES = 111111111  # config.toml: kesehatan


def tickets() -> list[db.Ticket]:
    with db.database.connection_context():
        return list(db.Ticket.select().order_by(db.Ticket.id))


def outbound() -> list[db.OutboundSms]:
    with db.database.connection_context():
        return list(db.OutboundSms.select().order_by(db.OutboundSms.id))


def settled() -> bool:
    with db.database.connection_context():
        return outboxes_settled(sms=False, chat_replies=True) and not db.OutboundSms.select().where(
            db.OutboundSms.status.in_(["pending", "sending"])).exists()


@pytest.mark.parametrize("number", ["+14155552671", "+62243515871", "024 3515871", "+0000000000", "+628000000000"])
def test_is_indonesian_mobile_refuses_others(number: str) -> None:
    assert not is_indonesian_mobile(number)


def test_is_indonesian_mobile_takes_mobiles() -> None:
    assert all(is_indonesian_mobile(n) for n in ("+6281277770001", "+6285712345678", "+6289668120044"))


def test_api_refuses_foreign_and_landline_reporters(start_api: Any, modem: Any) -> None:
    api = start_api()
    client = api.client(api.key("submit"))
    for phone in ("+14155552671", "+62243515871", "(024) 351-5871", "+0000000000"):
        r = client.post("/api/v1/complaints", json={"text": "Jalan rusak parah di Ungaran", "reporter": {"phone": phone}})
        assert r.status_code == 422, (phone, r.text)
        assert r.json()["error"]["details"][0]["field"] == "reporter.phone"
        o = client.post("/open311/v2/requests.json", data={
            "api_key": api.key("submit"), "service_code": "infrastruktur", "description": "Jalan rusak", "phone": phone})
        assert o.status_code == 400 and o.json()[0]["description"].startswith("phone: ")
    assert tickets() == []
    good = client.post("/api/v1/complaints", json={"text": "Jalan rusak parah di Ungaran",
                                                   "reporter": {"phone": "0812-7777-0001"}})
    assert good.status_code == 201
    assert modem.wait_for(lambda m: [d for d, _ in m.sent_messages] == ["+6281277770001"], timeout=20), \
        modem.sent_messages


def test_sms_from_a_junk_sender_gets_no_reply(modem: Any, botapi: Any, make_service: Any) -> None:
    make_service([modem], botapi)
    modem.receive_sms("+0000000000", "Jalan rusak parah di Ungaran belum diperbaiki sejak bulan lalu")
    modem.receive_sms("+0000000000", "tes")
    modem.receive_sms("+0000000000", "CEK 261128-0000-1")
    modem.receive_sms("+14155552671", "Jalan rusak parah di Semarang belum diperbaiki")
    assert wait_until(lambda: len(tickets()) == 2 and settled(), timeout=30)
    modem.receive_sms("+6281277770001", "Lampu jalan mati di Desa Kalongan, Ungaran")  # the control: answered
    assert modem.wait_for(lambda m: len(m.sent_messages) >= 1, timeout=20)
    assert wait_until(settled, timeout=20)
    assert [d for d, _ in modem.sent_messages] == ["+6281277770001"]
    assert outbound() and {o.destination for o in outbound()} == {"+6281277770001"}  # nothing even queued


def test_caps_per_number_and_per_day(modem: Any, botapi: Any, make_service: Any) -> None:
    def tweak(data: dict[str, Any]) -> None:
        data["sms"] = {"max_per_number_per_day": 2, "max_per_day": 3}

    service = make_service([modem], botapi, tweak=tweak)
    texts = ["Jalan rusak di Ungaran", "Lampu jalan mati di Ungaran", "Jembatan retak di Ungaran",
             "Saluran air mampet di Ungaran"]
    for i, text in enumerate(texts[:3]):
        modem.receive_sms("+6281277770001", f"{text} sejak minggu lalu ({i})")
    assert wait_until(lambda: len(tickets()) == 3 and settled(), timeout=30)
    assert [d for d, _ in modem.sent_messages] == ["+6281277770001"] * 2
    refused = [o for o in outbound() if o.status == "failed"]
    assert [o.last_error for o in refused] == ["refused: number_cap"]
    assert service.metrics.value("laporgub_outbound_sms_refused_total", reason="number_cap") == 1
    # Another number: its acknowledgement makes three today; a third number finds the day's cap.
    modem.receive_sms("+6285712345678", "Banjir di Tambaklorok setinggi lutut")
    assert wait_until(lambda: len(tickets()) == 4 and settled(), timeout=30)
    modem.receive_sms("+6289668120044", "Pupuk langka di Desa Ngembak sejak sebulan")
    modem.receive_sms("+6281277770001", f"{texts[3]} sejak kemarin")
    assert wait_until(lambda: len(tickets()) == 6 and settled(), timeout=30)
    assert len(modem.sent_messages) == 3
    assert service.metrics.value("laporgub_outbound_sms_refused_total", reason="daily_cap") == 1
    assert service.metrics.value("laporgub_outbound_sms_refused_total", reason="number_cap") == 2
    # The admins are told once per reason, not per SMS, with the number masked.
    assert botapi.wait_for(lambda ms: len([m for m in ms if m.chat_id == ADMIN_CHAT]) >= 2, timeout=20)
    alerts = [m.plain_text or "" for m in botapi.messages_for(ADMIN_CHAT)]
    assert len([a for a in alerts if "Batas SMS per nomor" in a]) == 1
    assert len([a for a in alerts if "Batas harian" in a]) == 1
    assert all("81277770001" not in a for a in alerts) and any("0812****0001" in a for a in alerts)


def test_pic_reply_is_cut_to_a_few_parts_and_points_to_cek(modem: Any, botapi: Any, make_service: Any) -> None:
    service = make_service([modem], botapi)
    modem.receive_sms("+6281234560300", "Puskesmas menolak pasien BPJS, obat juga kosong di apotek puskesmas")
    assert wait_until(lambda: len(tickets()) == 1 and settled(), timeout=30)
    ticket = tickets()[0]
    assert modem.wait_for(lambda m: len(m.sent) == 1, timeout=20)
    long_reply = " ".join(["Obat sudah dikirim ke puskesmas dan petugas sudah kami tegur."] * 65)  # ~4000 chars
    assert len(long_reply) > 3900 and pdu.count_parts(long_reply) > 20
    botapi.push_message(chat_id=KESEHATAN, user_id=PIC_KES, text=f"/tanggapi {ticket.number} {long_reply}")
    assert modem.wait_for(lambda m: len(m.sent_messages) == 2, timeout=30), modem.sent_messages
    parts = [s for s in modem.sent if s.destination == "+6281234560300"][1:]
    assert 1 < len(parts) <= service.config.sms.reply_max_parts
    answer = modem.sent_messages[-1][1]
    assert answer.endswith(f"(selengkapnya: kirim CEK {ticket.number} ke {service.config.texts.centre_number})")
    assert answer.startswith("LAPOR GUB! Tanggapan") and "Obat sudah dikirim" in answer
    # CEK gives more of it, within [sms] max_parts.
    modem.receive_sms("+6281234560300", f"CEK {ticket.number}")
    assert modem.wait_for(lambda m: len(m.sent_messages) == 3, timeout=30)
    status = [s for s in modem.sent if s.destination == "+6281234560300"][1 + len(parts):]
    assert len(parts) < len(status) <= service.config.sms.max_parts
    with db.database.connection_context():
        assert db.PicResponse.get().text == long_reply  # the record keeps it whole


def test_reply_text_fits_the_template() -> None:
    def render(response: str) -> str:
        return f"LAPOR GUB! Tanggapan Dinas atas tiket 261128-0200-1: {response}"

    short = reply_text(render, "Sudah diperbaiki.", 3, "261128-0200-1", "08112920200")
    assert short == render("Sudah diperbaiki.")
    cut = reply_text(render, "kata " * 2000, 2, "261128-0200-1", "08112920200")
    assert pdu.count_parts(cut) <= 2 and cut.endswith("... (selengkapnya: kirim CEK 261128-0200-1 ke 08112920200)")
    emoji = reply_text(render, "Sudah 🙂 " * 300, 3, "261128-0200-1", "08112920200")
    assert pdu.count_parts(emoji) <= 3
