"""The modem layer under faults, against the pty emulator: nothing lost, one modem never touches another."""

from __future__ import annotations

from typing import Any

import pytest

from laporgub import db
from laporgub.sim.modem import ModemEmulator
from tests.conftest import outboxes_settled, wait_until

CHANNEL = -1001000000001


def tickets() -> list[db.Ticket]:
    with db.database.connection_context():
        return list(db.Ticket.select().order_by(db.Ticket.id))


def settled() -> bool:
    return outboxes_settled()  # one snapshot: separate counts can pass between two commits


@pytest.fixture()
def second_modem() -> Any:
    emulator = ModemEmulator(name="second", storage_size=30).start()
    yield emulator
    emulator.stop()


def test_exact_texts_gsm7_extension_ucs2_and_concat_orders(modem: Any, botapi: Any, make_service: Any) -> None:
    make_service([modem], botapi)
    texts = {
        "+6281200000001": "Harga naik 50% [mahal] {tolong} ~ ^ | \\ € padahal gaji tetap, mohon perhatian",
        "+6281200000002": "Air sumur tercemar limbah 😷🙏 warga sakit perut, mohon dicek dinas lingkungan hidup",
        "+6281200000003": ("Laporan panjang tentang jalan rusak di Kecamatan Bawen yang sudah bertahun-tahun tidak "
                           "diperbaiki padahal setiap hari dilalui truk besar dan anak sekolah, banyak kecelakaan "
                           "motor di malam hari karena lampu jalan juga mati. [mohon] segera {ditindaklanjuti}. Sudah berkali-kali "
                           "kami lapor ke kecamatan dan kabupaten tapi jawabannya selalu menunggu anggaran tahun depan, "
                           "sementara korban terus bertambah. Terima kasih atas perhatiannya."),
        "+6281200000004": ("Ada pungli di kantor desa untuk pengurusan surat pindah, diminta uang 200 ribu tanpa "
                           "kuitansi, warga takut melapor 😡😡 tolong Pak Gubernur tindak tegas oknum ini ya 🙏🙏"),
    }
    modem.receive_sms("+6281200000001", texts["+6281200000001"])
    modem.receive_sms("+6281200000002", texts["+6281200000002"])
    modem.receive_sms("+6281200000003", texts["+6281200000003"], order=[3, 1, 2])
    modem.receive_sms("+6281200000004", texts["+6281200000004"], ref_bits=16, order=[2, 3, 1])
    assert wait_until(lambda: len(tickets()) == 4 and settled(), timeout=30)
    assert {t.sender: t.text for t in tickets()} == texts
    assert modem.wait_for(lambda m: not m.stored, timeout=10)


def test_one_modem_down_never_touches_another(modem: Any, second_modem: Any, botapi: Any, make_service: Any) -> None:
    service = make_service([modem, second_modem], botapi, sweep=0.5)
    modem.drop_port()
    assert wait_until(lambda: service.metrics.value("laporgub_modem_up", modem="modem-1") == 0, timeout=15)
    second_modem.receive_sms("+6281300000001", "Listrik padam sejak pagi di desa kami, kulkas warung rusak")
    modem.receive_sms("+6281300000002", "Jalan licin tertutup lumpur bekas proyek, motor sering jatuh")
    assert wait_until(lambda: len(tickets()) == 1 and settled(), timeout=20)
    assert tickets()[0].sender == "+6281300000001"
    assert service.metrics.value("laporgub_modem_up", modem="modem-2") == 1
    modem.restore_port()
    assert wait_until(lambda: len(tickets()) == 2 and settled(), timeout=40)
    assert modem.wait_for(lambda m: not m.stored, timeout=10)
    assert second_modem.wait_for(lambda m: not m.stored, timeout=10)
    assert service.metrics.value("laporgub_modem_reconnects_total", modem="modem-1") == 1
    # Acknowledgements went out through whichever modem was healthy.
    acked = {d for d, _ in modem.sent_messages} | {d for d, _ in second_modem.sent_messages}
    assert acked == {"+6281300000001", "+6281300000002"}


def test_hung_modem_is_reopened_reset_and_reported(modem: Any, botapi: Any, make_service: Any) -> None:
    def tweak(data: dict[str, Any]) -> None:
        data["modems"][0]["failures_before_alert"] = 2
        data["modems"][0]["command_timeout_seconds"] = 0.5

    service = make_service([modem], botapi, sweep=0.5, tweak=tweak)
    admin = service.config.telegram.admin_chat_id
    modem.set_hung(True)
    modem.receive_sms("+6281400000001", "Sampah di TPS pasar tidak diangkut seminggu, bau sekali")
    assert wait_until(lambda: any("gagal tersambung" in m.plain_text for m in botapi.messages_for(admin)),
                      timeout=60)
    assert service.metrics.value("laporgub_modem_up", modem="modem-1") == 0
    assert (service.metrics.value("laporgub_modem_errors_total", modem="modem-1", error="timeout") or 0) >= 2
    modem.set_hung(False)
    assert wait_until(lambda: len(tickets()) == 1 and settled(), timeout=60)
    assert modem.wait_for(lambda m: not m.stored, timeout=10)
    assert wait_until(lambda: any("kembali normal" in m.plain_text for m in botapi.messages_for(admin)), timeout=20)


def test_failing_initialisation_resets_the_modem(modem: Any, botapi: Any, make_service: Any) -> None:
    modem.fail_next("AT+CMGF", error="ERROR", times=2)
    service = make_service([modem], botapi)
    assert service.metrics.value("laporgub_modem_errors_total", modem="modem-1", error="init_failed") == 2
    assert "ATZ" in modem.commands  # reset before reopening after repeated failures
    modem.receive_sms("+6281400000002", "Pohon tumbang menutup jalan kabupaten, belum ada petugas datang")
    assert wait_until(lambda: len(tickets()) == 1 and settled(), timeout=20)


def test_errors_on_delete_and_send_are_retried(modem: Any, botapi: Any, make_service: Any) -> None:
    service = make_service([modem], botapi, sweep=0.5)
    modem.fail_next("AT+CMGD", error="+CMS ERROR: 500", times=2)
    modem.fail_next("AT+CMGS", error="+CMS ERROR: 500", times=1)
    modem.receive_sms("+6281500000001", "Bantuan PKH tidak cair tiga bulan padahal nama terdaftar")
    assert wait_until(lambda: len(tickets()) == 1, timeout=20)
    # The SMS stays stored while AT+CMGD fails; the sweep offers it again, it is not registered twice.
    assert modem.wait_for(lambda m: not m.stored, timeout=20)
    assert wait_until(settled, timeout=30)  # the acknowledgement, retried after the +CMS ERROR
    assert len(tickets()) == 1
    assert [d for d, _ in modem.sent_messages] == ["+6281500000001"]
    assert (service.metrics.value("laporgub_modem_errors_total", modem="modem-1", error="at_error") or 0) >= 3


def test_slow_modem_with_indications_inside_responses(modem: Any, botapi: Any, make_service: Any) -> None:
    make_service([modem], botapi, sweep=1.0)
    modem.set_delay(0.03)
    modem.inject_urc_during("AT+CMGL", '+CMTI: "SM",29')
    modem.inject_urc_during("AT+CMGR", "RING")
    for i in range(12):
        modem.receive_sms(f"+62816000000{i:02d}", f"Drainase mampet di gang {i}, air meluap ke rumah warga tiap hujan")
    assert wait_until(lambda: len(tickets()) == 12 and settled(), timeout=60)
    assert modem.wait_for(lambda m: not m.stored, timeout=15)
    assert len({t.sender for t in tickets()}) == 12


def test_full_storage_drained_and_gauged(botapi: Any, make_service: Any) -> None:
    small = ModemEmulator(name="small", storage_size=5).start()
    try:
        for i in range(7):  # the SIM takes five; the network keeps the rest until there is room
            small.receive_sms(f"+62817000000{i:02d}", f"Antrean solar di SPBU panjang sekali hari ke {i}")
        assert len(small.stored) == 5 and small.rejected == 2
        service = make_service([small], botapi, sweep=0.5)
        assert wait_until(lambda: len(tickets()) == 5 and settled(), timeout=30)
        assert small.wait_for(lambda m: not m.stored, timeout=10)
        assert service.metrics.value("laporgub_modem_storage_total", modem="modem-1") == 5
        assert service.metrics.value("laporgub_modem_signal_dbm", modem="modem-1") == -73.0  # CSQ 20
        assert service.metrics.value("laporgub_modem_registered", modem="modem-1") == 1
    finally:
        small.stop()


def test_sim_pin_entered_from_environment(botapi: Any, make_service: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = ModemEmulator(name="locked", pin="4321").start()
    monkeypatch.setenv("LAPORGUB_TEST_PIN", "4321")

    def tweak(data: dict[str, Any]) -> None:
        data["modems"][0]["pin_env"] = "LAPORGUB_TEST_PIN"

    try:
        make_service([locked], botapi, tweak=tweak)
        locked.receive_sms("+6281800000001", "Guru honorer belum digaji empat bulan di sekolah kami")
        assert wait_until(lambda: len(tickets()) == 1 and settled(), timeout=20)
        assert "AT+CPIN=4321" in locked.commands
    finally:
        locked.stop()


def test_parts_survive_a_restart_between_them(modem: Any, botapi: Any, tmp_path: Any, token_env: str) -> None:
    import threading

    from laporgub.app import Service
    from laporgub.config import Secret, parse_config
    from laporgub.pdu import encode_deliver
    from tests.conftest import make_config_data

    text = ("Irigasi sawah di Desa Kaliwungu kering kerontang sejak bendung jebol bulan lalu, petani terancam "
            "gagal panen padi, mohon dinas pertanian dan PU segera turun tangan memperbaiki bendung tersebut.")
    parts = encode_deliver("+6281900000001", text, concat_reference=200)
    assert len(parts) == 2
    config = parse_config(make_config_data(tmp_path, [modem.port], botapi.base_url))
    stop = threading.Event()

    first = Service(config, Secret(token_env), metrics_server=False)
    first.start()
    assert first.wait_ready(20)
    modem.receive_pdu(parts[0])
    assert modem.wait_for(lambda m: not m.stored, timeout=15)  # part 1 committed and deleted
    first.stop()

    second = Service(config, Secret(token_env), metrics_server=False)
    second.start()
    thread = threading.Thread(target=second.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert second.wait_ready(20)
        modem.receive_pdu(parts[1])
        assert wait_until(lambda: len(tickets()) == 1 and settled(), timeout=20)
        assert tickets()[0].text == text
        assert tickets()[0].missing_parts is None
    finally:
        stop.set()
        thread.join(5)
        second.stop()
