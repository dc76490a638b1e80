"""Tests for laporgub.pdu: published vectors, smspdudecoder as an oracle, and properties."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from smspdudecoder.easy import read_incoming_sms, read_outgoing_sms
from smspdudecoder.fields import SMSDeliver

from laporgub.exceptions import PduError
from laporgub.pdu import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    ConcatInfo,
    InformationElement,
    SmsDeliver,
    decode_deliver,
    decode_payload,
    decode_semi_octets,
    decode_submit,
    encode_deliver,
    encode_semi_octets,
    encode_submit,
    gsm7_fits,
    gsm7_septet_length,
    join_parts,
    pack_septets,
    unpack_septets,
)

# dreamfabric / developershome "SMS and the PDU format" vectors.
DREAMFABRIC_DELIVER = "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37"
DREAMFABRIC_SUBMIT = "0011000B916407281553F80000AA0AE8329BFD4697D9EC37"
DEVELOPERSHOME_DELIVER = "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07"
# Neoway N11 AT manual: UCS2 "hello" to 13421839693, no validity period.
NEOWAY_SUBMIT = "0001000B813124819396F300080A00680065006C006C006F"

WIB = timezone(timedelta(hours=7))
WITA = timezone(timedelta(hours=8))
BRT = timezone(timedelta(hours=-3))
TS = datetime(2026, 11, 28, 9, 30, 15, tzinfo=WIB)
EXTENSION_CHARS = "€[]{}~^|\\"

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def raw_deliver(
    user_data_hex: str,
    udl: int,
    *,
    dcs: int = 0x00,
    first: int = 0x04,
    address: str = "0D91261832547698F0",
    scts: str = "62118290035182",
) -> str:
    """Builds an SMS-DELIVER by hand (empty SCA), independently of encode_deliver."""
    return f"00{first:02X}{address}00{dcs:02X}{scts}{udl:02X}{user_data_hex}"


def ucs2_part(units_hex: str, ref: int, total: int, seq: int) -> str:
    ud = f"050003{ref:02X}{total:02X}{seq:02X}" + units_hex
    return raw_deliver(ud, len(ud) // 2, dcs=0x08, first=0x44)


def gsm7_part(septets: bytes, ref: int, total: int, seq: int) -> str:
    udh = bytes([5, 0, 3, ref, total, seq])
    ud = udh + pack_septets(septets, fill_bits=1)  # 6 header octets = 48 bits -> 1 fill bit
    return raw_deliver(ud.hex(), 7 + len(septets), first=0x44)


# --------------------------------------------------------------------------- published vectors


def test_dreamfabric_deliver() -> None:
    sms = decode_deliver(DREAMFABRIC_DELIVER)
    assert sms.smsc == "+27381000015"
    assert sms.sender == "27838890001"
    assert sms.sender_toa == 0xC8  # TON 4 (subscriber), NPI 8 (national): no "+"
    assert not sms.sender_is_alphanumeric
    assert sms.timestamp == datetime(1999, 3, 29, 15, 16, 59, tzinfo=timezone(timedelta(hours=2)))
    assert sms.timestamp.utcoffset() == timedelta(hours=2)
    assert (sms.pid, sms.dcs, sms.encoding) == (0, 0, "gsm7")
    assert sms.text == "hellohello"
    assert sms.payload == b"hellohello"
    assert sms.udh == () and sms.concat is None
    assert sms.message_class is None
    assert not sms.more_messages_to_send  # first octet 0x04: TP-MMS set
    assert not sms.status_report_indication
    oracle = read_incoming_sms(DREAMFABRIC_DELIVER)
    assert (oracle["sender"], oracle["content"]) == (sms.sender, sms.text)


def test_developershome_deliver_matches_oracle() -> None:
    sms = decode_deliver(DEVELOPERSHOME_DELIVER)
    assert sms.smsc == "+31624000000"
    assert sms.sender == "+31641600986" and sms.sender_toa == 0x91
    assert sms.text == "How are you?"
    # TZ octet 08: sign bit set with zero quarters.
    assert sms.timestamp == datetime(2002, 8, 26, 19, 37, 41, tzinfo=timezone.utc)
    oracle = read_incoming_sms(DEVELOPERSHOME_DELIVER)
    assert oracle["date"] == sms.timestamp
    assert oracle["sender"] == sms.sender and oracle["content"] == sms.text


def test_dreamfabric_submit() -> None:
    sms = decode_submit(DREAMFABRIC_SUBMIT)
    assert sms.destination == "+46708251358" and sms.destination_toa == 0x91
    assert sms.message_reference == 0
    assert sms.text == "hellohello" and sms.encoding == "gsm7"
    assert sms.validity == 4 * 24 * 60  # VP 0xAA = 4 days
    assert not sms.status_report_request


def test_neoway_ucs2_submit() -> None:
    sms = decode_submit(NEOWAY_SUBMIT)
    assert sms.destination == "13421839693" and sms.destination_toa == 0x81
    assert (sms.dcs, sms.encoding, sms.text) == (0x08, "ucs2", "hello")
    assert sms.validity is None
    assert read_outgoing_sms(NEOWAY_SUBMIT)["content"] == sms.text


@pytest.mark.parametrize(
    ("scts", "expected"),
    [  # smspdudecoder's documented time stamps
        ("70402132522423", datetime(2007, 4, 12, 23, 25, 42, tzinfo=WITA)),
        ("70402132522400", datetime(2007, 4, 12, 23, 25, 42, tzinfo=timezone.utc)),
        ("3130523210658A", datetime(2013, 3, 25, 23, 1, 56, tzinfo=timezone(timedelta(hours=-7)))),
    ],
)
def test_scts_vectors(scts: str, expected: datetime) -> None:
    sms = decode_deliver(raw_deliver("", 0, scts=scts))
    assert sms.timestamp == expected
    assert sms.timestamp.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    ("address", "name", "toa"),
    [  # smspdudecoder's documented alphanumeric addresses
        ("0BD0CDE6DB5DCE03", "MMoney", 0xD0),
        ("14D0C4F23C7D760390EF7619", "Design@Home", 0xD0),
    ],
)
def test_alphanumeric_address_vectors(address: str, name: str, toa: int) -> None:
    sms = decode_deliver(raw_deliver("", 0, address=address))
    assert (sms.sender, sms.sender_toa, sms.sender_is_alphanumeric) == (name, toa, True)


def test_gsm7_extension_vector() -> None:
    # smspdudecoder's documented packing of "2 € par mois" (13 septets).
    sms = decode_deliver(raw_deliver("32D0A60C8287E5A0F63B3D07", 13))
    assert sms.text == "2 € par mois"
    assert sms.payload[2:4] == bytes([0x1B, 0x65])


# --------------------------------------------------------------------------- alphabet and helpers


def test_alphabet_tables() -> None:
    assert len(GSM7_BASIC) == 128
    assert GSM7_BASIC[0] == "@" and GSM7_BASIC[0x24] == "¤" and GSM7_BASIC[0x7F] == "à"
    assert set(GSM7_EXTENSION) == set(EXTENSION_CHARS) | {"\f"}
    assert GSM7_EXTENSION["€"] == 0x65 and GSM7_EXTENSION["["] == 0x3C


def test_gsm7_fits_and_length() -> None:
    assert gsm7_fits("Jalan rusak di Jl. Pemuda no. 5, mohon diperbaiki!")
    assert gsm7_fits(EXTENSION_CHARS + "\f")
    assert not gsm7_fits("ç")  # only capital Ç is in the default alphabet
    assert not gsm7_fits("\x1b")  # the escape code itself is not a character
    assert not gsm7_fits("😡")
    assert gsm7_septet_length("abc") == 3
    assert gsm7_septet_length("a€[") == 5
    with pytest.raises(PduError):
        gsm7_septet_length("😡")


def test_decode_payload_gsm7_edge_cases() -> None:
    assert decode_payload("gsm7", bytes([0x41, 0x1B])) == "A"  # trailing ESC ignored
    assert decode_payload("gsm7", bytes([0x1B, 0x41])) == "A"  # unknown extension -> basic char
    assert decode_payload("gsm7", bytes([0x1B, 0x1B, 0x41])) == " A"  # ESC ESC -> space
    assert decode_payload("gsm7", bytes([0x1B, 0x65, 0x1B, 0x0A])) == "€\f"
    with pytest.raises(PduError):
        decode_payload("gsm7", b"\x80")
    with pytest.raises(PduError):
        decode_payload("utf-32", b"")


def test_decode_payload_ucs2_and_8bit() -> None:
    assert decode_payload("ucs2", "Jalan 😡".encode("utf-16-be")) == "Jalan 😡"
    assert decode_payload("ucs2", b"\xd8\x3d\x00\x41") == "\ufffdA"  # lone high surrogate
    assert decode_payload("ucs2", b"\xde\x00") == "\ufffd"  # lone low surrogate
    assert decode_payload("ucs2", b"\x00\x41\x00") == "A\ufffd"  # odd octet
    assert decode_payload("8bit", "Warga 😀".encode()) == "Warga 😀"
    assert decode_payload("8bit", b"caf\xe9") == "café"  # not UTF-8: Latin-1


def test_septet_packing() -> None:
    assert pack_septets(b"hellohello").hex().upper() == "E8329BFD4697D9EC37"
    assert unpack_septets(bytes.fromhex("E8329BFD4697D9EC37"), 10) == b"hellohello"
    for fill in range(7):
        assert unpack_septets(pack_septets(b"abc\x7f\x00", fill), 5, fill) == b"abc\x7f\x00"
    with pytest.raises(PduError):
        unpack_septets(b"\x00", 2)
    with pytest.raises(PduError):
        pack_septets(b"\x80")


def test_semi_octets() -> None:
    assert encode_semi_octets("46708251358").hex().upper() == "6407281553F8"
    assert decode_semi_octets(bytes.fromhex("6407281553F8")) == "46708251358"
    assert decode_semi_octets(bytes.fromhex("6407281553F8"), 11) == "46708251358"
    assert decode_semi_octets(encode_semi_octets("*123#")) == "*123#"
    with pytest.raises(PduError):
        decode_semi_octets(bytes.fromhex("F1"), 2)


# --------------------------------------------------------------------------- encode_deliver vs the oracle


def oracle_content(pdu: str, text: str) -> str:
    """smspdudecoder's text for ``pdu``, minus one known defect of it.

    It slices decoded *characters* by the septet count, so a GSM 7-bit text with
    extension characters whose septets end 7 bits short of an octet gains the
    zero spare bits as a trailing "@" (our decoder counts septets and does not).
    """
    content = read_incoming_sms(pdu)["content"]
    if content == text + "@" and gsm7_fits(text) and gsm7_septet_length(text) % 8 == 7:
        return text
    return content


def test_oracle_defect_is_real() -> None:
    (pdu,) = encode_deliver("+62811", "00000{", timestamp=TS)
    assert read_incoming_sms(pdu)["content"] == "00000{@"
    assert decode_deliver(pdu).text == "00000{"


def oracle_check(pdu: str, sender: str, text: str, timestamp: datetime) -> None:
    oracle = read_incoming_sms(pdu)
    assert oracle["sender"] == sender
    assert oracle_content(pdu, text) == text
    assert oracle["date"] == timestamp


@pytest.mark.parametrize(
    "text",
    [
        "Jalan rusak di depan pasar",
        "Harga " + EXTENSION_CHARS + " naik\fterus",
        "Jalan rusak 😡",
        "Pelayanan puskesmas lambat sekali, ditunggu 3 jam",
        "",
        "1234567",  # 7 septets: 7 spare bits in the last octet
    ],
)
def test_encode_deliver_single_part_matches_oracle(text: str) -> None:
    (pdu,) = encode_deliver("+6281234567890", text, timestamp=TS)
    ours = decode_deliver(pdu)
    assert ours.text == text
    assert ours.encoding == ("gsm7" if gsm7_fits(text) else "ucs2")
    assert ours.sender == "+6281234567890" and ours.sender_toa == 0x91
    assert ours.smsc == "+62816124"
    assert ours.timestamp == TS and ours.timestamp.utcoffset() == timedelta(hours=7)
    oracle_check(pdu, "+6281234567890", text, TS)


def test_extension_chars_cost_two_septets() -> None:
    (pdu,) = encode_deliver("+6281234567890", EXTENSION_CHARS, timestamp=TS)
    sms = decode_deliver(pdu)
    assert len(sms.payload) == 2 * len(EXTENSION_CHARS)
    assert sms.payload[::2] == bytes([0x1B]) * len(EXTENSION_CHARS)
    assert sms.text == EXTENSION_CHARS


def test_alphanumeric_sender_telkomsel() -> None:
    (pdu,) = encode_deliver("TELKOMSEL", "Sisa pulsa Anda Rp 1.000", timestamp=TS)
    assert pdu[14:18] == "10D0"  # 9 septets = 63 bits -> 16 useful semi-octets, TOA 0xD0
    sms = decode_deliver(pdu)
    assert sms.sender == "TELKOMSEL" and sms.sender_is_alphanumeric and sms.sender_toa == 0xD0
    fields = SMSDeliver.decode(io.StringIO(pdu))
    assert fields["sender"]["toa"]["ton"] == "alphanumeric"
    assert fields["sender"]["number"] == "TELKOMSEL"
    oracle_check(pdu, "TELKOMSEL", "Sisa pulsa Anda Rp 1.000", TS)


@pytest.mark.parametrize(
    ("sender", "toa"),
    [("081234567890", 0xA1), ("6281234567890", 0x81), ("+6281234567890", 0x91), ("3", 0x81)],
)
def test_numeric_senders(sender: str, toa: int) -> None:
    (pdu,) = encode_deliver(sender, "tes", timestamp=TS)
    sms = decode_deliver(pdu)
    assert (sms.sender, sms.sender_toa, sms.sender_is_alphanumeric) == (sender, toa, False)
    assert read_incoming_sms(pdu)["sender"] == sender


def test_encode_deliver_rejects_bad_senders() -> None:
    for sender in ("", "ABCDEFGHIJKL", "😀", "+62-81", "+"):
        with pytest.raises(PduError):
            encode_deliver(sender, "x", timestamp=TS)


@pytest.mark.parametrize(
    ("tz", "octet"),
    [(WIB, "82"), (WITA, "23"), (timezone(timedelta(hours=9)), "63"), (BRT, "29"), (timezone.utc, "00"),
     (timezone(timedelta(hours=5, minutes=45)), "32"), (timezone(timedelta(hours=-9, minutes=-30)), "8B")],
)
def test_scts_time_zone_encoding(tz: timezone, octet: str) -> None:
    timestamp = datetime(2026, 1, 2, 3, 4, 5, tzinfo=tz)
    (pdu,) = encode_deliver("+6281234567890", "x", timestamp=timestamp, smsc=None)
    assert pdu.startswith("00")
    # SCA 00, first octet, OA (2 + 7 octets), PID, DCS: the SCTS starts at hex offset 26.
    assert pdu[26:40] == "62102030405000"[:12] + octet
    sms = decode_deliver(pdu)
    assert sms.smsc is None
    assert sms.timestamp == timestamp and sms.timestamp.utcoffset() == timestamp.utcoffset()
    oracle_check(pdu, "+6281234567890", "x", timestamp)


def test_scts_rejects_unencodable_offsets() -> None:
    odd = timezone(timedelta(hours=7, minutes=7))
    with pytest.raises(PduError):
        encode_deliver("+62811", "x", timestamp=datetime(2026, 1, 1, tzinfo=odd))
    with pytest.raises(PduError):
        encode_deliver("+62811", "x", timestamp=datetime(2099, 1, 1, tzinfo=WIB))


def test_naive_and_default_timestamps_are_wib() -> None:
    (pdu,) = encode_deliver("+62811", "x", timestamp=datetime(2026, 1, 1, 8, 0))
    assert decode_deliver(pdu).timestamp == datetime(2026, 1, 1, 8, 0, tzinfo=WIB)
    (pdu,) = encode_deliver("+62811", "x")
    stamp = decode_deliver(pdu).timestamp
    assert stamp.utcoffset() == timedelta(hours=7)
    assert abs(stamp - datetime.now(timezone.utc)) < timedelta(minutes=1)


def test_8bit_deliver() -> None:
    text = "Laporan: jalan berlubang ✓"
    (pdu,) = encode_deliver("+6281234567890", text, timestamp=TS, encoding="8bit")
    sms = decode_deliver(pdu)
    assert (sms.dcs, sms.encoding) == (0x04, "8bit")
    assert sms.payload == text.encode("utf-8")
    assert sms.text == text
    assert read_incoming_sms(pdu)["content"] == text.encode("utf-8")  # the oracle gives bytes


def test_forced_gsm7_that_does_not_fit_is_an_error() -> None:
    with pytest.raises(PduError):
        encode_deliver("+62811", "😀", timestamp=TS, encoding="gsm7")
    with pytest.raises(PduError):
        encode_deliver("+62811", "x", timestamp=TS, encoding="latin-1")


@pytest.mark.parametrize(
    ("dcs", "encoding", "message_class"),
    [(0x00, "gsm7", None), (0x10, "gsm7", 0), (0x18, "ucs2", 0), (0x15, "8bit", 1), (0x0C, "gsm7", None),
     (0xF1, "gsm7", 1), (0xF6, "8bit", 2), (0x48, "ucs2", None), (0xC0, "gsm7", None), (0xE0, "ucs2", None),
     (0x80, "gsm7", None)],
)
def test_data_coding_schemes(dcs: int, encoding: str, message_class: int | None) -> None:
    user_data = {"gsm7": ("C834", 2), "8bit": ("486921", 3), "ucs2": ("00480069", 4)}[encoding]
    sms = decode_deliver(raw_deliver(user_data[0], user_data[1], dcs=dcs))
    assert (sms.encoding, sms.message_class) == (encoding, message_class)
    assert sms.text in ("Hi", "Hi!")


def test_first_octet_flags_and_whitespace() -> None:
    pdu = raw_deliver("C834", 2, first=0x20)  # SRI set, MMS clear
    sms = decode_deliver("  " + pdu.lower() + "\r\n")
    assert sms.status_report_indication and sms.more_messages_to_send
    assert sms.text == "Hi"
    # 23.040: an MS treats the reserved TP-MTI 3 as an SMS-DELIVER.
    assert decode_deliver(raw_deliver("C834", 2, first=0x07)).text == "Hi"


# --------------------------------------------------------------------------- concatenation


def long_gsm_text() -> str:
    return ("Jalan di desa kami rusak parah sejak tahun lalu {mohon} segera diperbaiki [terima kasih] ~ " * 6).strip()


def test_concat_8bit_reference_out_of_order() -> None:
    text = long_gsm_text()
    pdus = encode_deliver("+6281234567890", text, timestamp=TS, concat_reference=0x42)
    assert len(pdus) > 2
    parts = [decode_deliver(pdu) for pdu in pdus]
    for number, part in enumerate(parts, 1):
        assert part.concat == ConcatInfo(reference=0x42, total=len(pdus), sequence=number, ref_bits=8)
        assert part.udh == (InformationElement(0x00, bytes([0x42, len(pdus), number])),)
        assert gsm7_septet_length(part.text) == len(part.payload) <= 153
        oracle = read_incoming_sms(pdus[number - 1])
        assert oracle["partial"] == {"reference": f"66-{len(pdus)}", "parts_count": len(pdus), "part_number": number}
        assert oracle["content"] == part.text
    assert join_parts(parts[::-1]) == text
    assert join_parts([parts[1], parts[0], *parts[2:]]) == text
    assert "".join(part.text for part in parts) == text


def test_concat_16bit_reference() -> None:
    text = long_gsm_text()
    pdus = encode_deliver("+6281234567890", text, timestamp=TS, concat_reference=0xBEEF, ref_bits=16)
    parts = [decode_deliver(pdu) for pdu in pdus]
    assert all(p.concat is not None and (p.concat.reference, p.concat.ref_bits) == (0xBEEF, 16) for p in parts)
    assert parts[0].udh[0].iei == 0x08 and parts[0].udh[0].data[:2] == b"\xbe\xef"
    assert max(len(p.payload) for p in parts) <= 152  # 7 header octets = 8 septets, no fill
    assert read_incoming_sms(pdus[0])["partial"]["reference"] == f"{0xBEEF}-{len(pdus)}"
    assert join_parts(parts[::-1]) == text


def test_concat_ucs2_16bit_reference() -> None:
    text = "Lampu jalan padam 💡 sudah seminggu, mohon bantuan. " * 4
    pdus = encode_deliver("+6281234567890", text, timestamp=TS, ref_bits=16)
    parts = [decode_deliver(pdu) for pdu in pdus]
    assert len(parts) > 1 and all(len(p.payload) <= 132 for p in parts)
    assert join_parts(parts[::-1]) == text


def test_concat_8bit_encoding_parts() -> None:
    text = "Banjir di Semarang ✓ " * 12
    pdus = encode_deliver("+6281234567890", text, timestamp=TS, encoding="8bit")
    parts = [decode_deliver(pdu) for pdu in pdus]
    assert len(parts) > 1 and all(p.encoding == "8bit" and len(p.payload) <= 134 for p in parts)
    assert all(p.payload.decode("utf-8") == p.text for p in parts)  # split between characters
    assert join_parts(parts[::-1]) == text


def test_emoji_split_exactly_at_part_boundary() -> None:
    emoji = "😡".encode("utf-16-be")  # D83D DE21
    first = ("A" * 66).encode("utf-16-be") + emoji[:2]  # 134 octets: a full part
    second = emoji[2:] + " rusak".encode("utf-16-be")
    pdus = [ucs2_part(first.hex(), 7, 2, 1), ucs2_part(second.hex(), 7, 2, 2)]
    parts = [decode_deliver(pdu) for pdu in pdus]
    assert parts[0].text == "A" * 66 + "\ufffd"
    assert parts[1].text == "\ufffd rusak"
    assert join_parts(parts) == "A" * 66 + "😡 rusak"
    assert join_parts(parts[::-1]) == "A" * 66 + "😡 rusak"


def test_gsm7_escape_split_exactly_at_part_boundary() -> None:
    first = b"a" * 152 + bytes([0x1B])
    second = bytes([0x3C]) + b"jalan" + bytes([0x1B, 0x3E])  # "<jalan" "]" unjoined
    parts = [decode_deliver(gsm7_part(first, 9, 2, 1)), decode_deliver(gsm7_part(second, 9, 2, 2))]
    assert parts[0].text == "a" * 152  # the dangling ESC is ignored
    assert parts[1].text == "<jalan]"  # 0x3C alone is "<"
    assert join_parts(parts[::-1]) == "a" * 152 + "[jalan]"


def test_join_parts_edge_cases() -> None:
    pdus = encode_deliver("+62811", long_gsm_text(), timestamp=TS)
    parts = [decode_deliver(pdu) for pdu in pdus]
    assert join_parts(parts + [parts[0]]) == long_gsm_text()  # an SMSC retry delivers a part twice
    assert join_parts([]) == ""
    (single,) = encode_deliver("+62811", "satu", timestamp=TS)
    assert join_parts([decode_deliver(single)]) == "satu"
    mixed = [decode_deliver(gsm7_part(b"abc", 1, 2, 1)), decode_deliver(ucs2_part("00E7", 1, 2, 2))]
    assert join_parts(mixed[::-1]) == "abcç"


def test_invalid_concat_values_are_ignored() -> None:
    udh = "050003070003"  # sequence 3 of 0 parts: 23.040 says ignore the element
    sms = decode_deliver(raw_deliver(udh + "00480069", 10, dcs=0x08, first=0x44))
    assert sms.concat is None and sms.udh == (InformationElement(0, bytes([7, 0, 3])),)
    assert sms.text == "Hi"


# --------------------------------------------------------------------------- encode_submit


def test_part_counts_at_limits() -> None:
    assert len(encode_submit("+6281234567890", "a" * 160)) == 1
    assert len(encode_submit("+6281234567890", "a" * 161)) == 2
    assert len(encode_submit("+6281234567890", "€" * 80)) == 1
    assert len(encode_submit("+6281234567890", "€" * 81)) == 2
    assert len(encode_submit("+6281234567890", "ç" * 70)) == 1
    assert len(encode_submit("+6281234567890", "ç" * 71)) == 2
    assert len(encode_submit("+6281234567890", "😀" * 35)) == 1  # 70 UTF-16 units
    assert len(encode_submit("+6281234567890", "😀" * 36)) == 2


def test_submit_part_sizes() -> None:
    parts = [decode_submit(p.hex) for p in encode_submit("+6281234567890", "a" * 161)]
    assert [len(p.payload) for p in parts] == [153, 8]
    parts = [decode_submit(p.hex) for p in encode_submit("+6281234567890", "ç" * 71)]
    assert [len(p.payload) for p in parts] == [134, 8]


def test_submit_header_fields() -> None:
    (pdu,) = encode_submit("+6281234567890", "Halo")
    assert pdu.hex.startswith("0011000D91261832547698F00000A7")  # VPF relative, TOA 0x91, VP 24 h
    assert pdu.tpdu_length == len(pdu.hex) // 2 - 1
    sms = decode_submit(pdu.hex)
    assert sms.destination == "+6281234567890" and sms.destination_toa == 0x91
    assert sms.validity == 24 * 60 and not sms.status_report_request
    assert read_outgoing_sms(pdu.hex) == {"recipient": "+6281234567890", "content": "Halo"}

    (pdu,) = encode_submit("081234567890", "Halo", request_status_report=True, validity_minutes=None,
                           message_reference=200)
    sms = decode_submit(pdu.hex)
    assert pdu.hex[:4] == "0021"
    assert (sms.destination, sms.destination_toa, sms.message_reference) == ("081234567890", 0x81, 200)
    assert sms.status_report_request and sms.validity is None


@pytest.mark.parametrize(
    ("minutes", "octet", "decoded"),
    [(0, 0, 5), (5, 0, 5), (6, 1, 10), (720, 143, 720), (721, 144, 750), (1440, 167, 1440),
     (1441, 168, 2880), (4 * 1440, 170, 5760), (30 * 1440, 196, 30 * 1440), (31 * 1440, 197, 5 * 10080),
     (10**9, 255, 63 * 10080)],
)
def test_relative_validity(minutes: int, octet: int, decoded: int) -> None:
    (pdu,) = encode_submit("+62811", "x", validity_minutes=minutes)
    assert int(pdu.hex[20:22], 16) == octet  # 00 11 00 05 91 2618F1 00 00 VP
    assert decode_submit(pdu.hex).validity == decoded


def test_submit_ucs2_surrogate_pair() -> None:
    (pdu,) = encode_submit("+6281234567890", "😀")
    sms = decode_submit(pdu.hex)
    assert sms.encoding == "ucs2" and sms.payload == bytes.fromhex("D83DDE00") and sms.text == "😀"


def test_submit_never_splits_escape_or_surrogate_pair() -> None:
    parts = [decode_submit(p.hex) for p in encode_submit("+62811", "a" * 152 + "€" * 5)]
    assert parts[0].text == "a" * 152 and parts[1].text == "€" * 5
    assert len(parts[0].payload) == 152
    parts = [decode_submit(p.hex) for p in encode_submit("+62811", "x" * 66 + "😀" * 3)]
    assert parts[0].text == "x" * 66 and parts[1].text == "😀" * 3
    assert "\ufffd" not in parts[0].text + parts[1].text


def test_submit_concat_reference_and_message_reference() -> None:
    pdus = encode_submit("+62811", "a" * 400, concat_reference=77, message_reference=254)
    parts = [decode_submit(p.hex) for p in pdus]
    assert [p.concat for p in parts] == [ConcatInfo(77, 3, n, 8) for n in (1, 2, 3)]
    assert [p.message_reference for p in parts] == [254, 255, 0]
    assert all(p.tpdu_length == len(p.hex) // 2 - 1 for p in pdus)
    derived = [decode_submit(p.hex).concat for p in encode_submit("+62811", "b" * 400)]
    assert len({c.reference for c in derived if c}) == 1
    assert derived == [decode_submit(p.hex).concat for p in encode_submit("+62811", "b" * 400)]


def test_encode_submit_rejects_bad_arguments() -> None:
    for destination in ("", "+", "+62 811", "0811-123", "+" + "1" * 21):
        with pytest.raises(PduError):
            encode_submit(destination, "x")
    with pytest.raises(PduError):
        encode_submit("+62811", "x", concat_reference=256)
    with pytest.raises(PduError):
        encode_submit("+62811", "x", message_reference=-1)
    with pytest.raises(PduError):
        encode_submit("+62811", "x", validity_minutes=-5)
    with pytest.raises(PduError):
        encode_submit("+62811", "a" * 153 * 256)


# --------------------------------------------------------------------------- malformed input


@pytest.mark.parametrize(
    "pdu",
    [
        "",
        "   ",
        "0",
        "zz",
        "07917283010010F5040BC8723888090",  # odd length
        "07 91 72",  # inner whitespace
        DREAMFABRIC_DELIVER[:-2],  # UD truncated
        DREAMFABRIC_DELIVER[:40],  # SCTS truncated
        "07917283010010F5",  # no TPDU
        DREAMFABRIC_SUBMIT,  # an SMS-SUBMIT
        raw_deliver("C834", 2, first=0x06),  # SMS-STATUS-REPORT
        raw_deliver("0500", 2, dcs=0x08, first=0x44),  # UDH overruns the user data
        raw_deliver("0300050107", 5, first=0x44, dcs=0x04),  # IE overruns the UDH
        raw_deliver("0500020101" + "41", 6, first=0x44, dcs=0x04),  # concat IE of length 2
        raw_deliver("", 0, first=0x44),  # UDHI with no user data
        raw_deliver("", 0, scts="62138290035182"),  # month 31
        raw_deliver("", 0, scts="6211829003518A"[:12] + "A0"),  # non-BCD time zone
        raw_deliver("", 0, address="04912F31"),  # filler inside the number
    ],
)
def test_decode_deliver_rejects_malformed(pdu: str) -> None:
    with pytest.raises(PduError):
        decode_deliver(pdu)


@pytest.mark.parametrize(
    "pdu",
    [DREAMFABRIC_DELIVER, DREAMFABRIC_SUBMIT[:-4], "00150005912618F10000", "001100059126181"],
)
def test_decode_submit_rejects_malformed(pdu: str) -> None:
    with pytest.raises(PduError):
        decode_submit(pdu)


def test_pdu_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        decode_deliver("nonsense")
    with pytest.raises(PduError):
        decode_deliver(None)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- properties

quarter_hours = st.integers(min_value=-79, max_value=79).map(lambda q: timezone(timedelta(minutes=15 * q)))
timestamps = st.builds(
    lambda naive, tz: naive.replace(tzinfo=tz),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2068, 12, 31)).map(
        lambda d: d.replace(microsecond=0)
    ),
    quarter_hours,
)
senders = st.one_of(
    st.from_regex(r"\+[1-9][0-9]{5,14}", fullmatch=True),
    st.from_regex(r"0[0-9]{5,12}", fullmatch=True),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz -.[€", min_size=1, max_size=5).filter(
        lambda s: not s.isdigit()
    ),
)


@FAST
@given(text=st.text(max_size=700), reference=st.none() | st.integers(0, 255))
def test_submit_roundtrip(text: str, reference: int | None) -> None:
    pdus = encode_submit("+6281234567890", text, concat_reference=reference)
    parts = [decode_submit(pdu.hex) for pdu in pdus]
    assert join_parts(parts[::-1]) == text
    for pdu, part in zip(pdus, parts):
        assert pdu.hex.startswith("00") and pdu.tpdu_length == len(pdu.hex) // 2 - 1
        assert pdu.tpdu_length <= 140 + 12 + 6
        assert part.destination == "+6281234567890"
        assert part.encoding == ("gsm7" if gsm7_fits(text) else "ucs2")
        assert (part.concat is None) == (len(pdus) == 1)


@FAST
@given(
    text=st.text(max_size=700),
    sender=senders,
    timestamp=timestamps,
    encoding=st.sampled_from([None, "ucs2", "8bit"]),
    ref_bits=st.sampled_from([8, 16]),
)
def test_deliver_roundtrip(text: str, sender: str, timestamp: datetime, encoding: str | None, ref_bits: int) -> None:
    pdus = encode_deliver(sender, text, timestamp=timestamp, encoding=encoding, ref_bits=ref_bits)
    parts = [decode_deliver(pdu) for pdu in pdus]
    assert join_parts(parts[::-1]) == text
    for part in parts:
        assert part.sender == sender
        assert part.timestamp == timestamp and part.timestamp.utcoffset() == timestamp.utcoffset()
        if len(parts) > 1:
            assert part.concat is not None and part.concat.ref_bits == ref_bits


single_part_texts = st.one_of(
    st.text(alphabet=GSM7_BASIC.replace("\x1b", "") + EXTENSION_CHARS, max_size=80),
    st.text(max_size=35),
)


@settings(max_examples=150, deadline=None)  # bitstring makes the oracle slow
@given(text=single_part_texts, sender=st.from_regex(r"\+62[0-9]{8,12}", fullmatch=True), timestamp=timestamps)
def test_single_part_deliver_agrees_with_oracle(text: str, sender: str, timestamp: datetime) -> None:
    (pdu,) = encode_deliver(sender, text, timestamp=timestamp)
    oracle = read_incoming_sms(pdu)
    assert oracle_content(pdu, text) == text
    assert oracle["sender"] == sender
    assert oracle["date"] == timestamp
    assert oracle["partial"] is False
    assert decode_deliver(pdu).text == text


def only_pdu_errors(decoder: Callable[[str], object], pdu: str) -> None:
    try:
        decoder(pdu)
    except PduError:
        pass


@FAST
@given(data=st.binary(max_size=200))
def test_random_bytes_raise_only_pdu_error(data: bytes) -> None:
    only_pdu_errors(decode_deliver, data.hex())
    only_pdu_errors(decode_submit, data.hex())
    # With a plausible header, random bytes reach the deeper fields.
    only_pdu_errors(decode_deliver, "0004" + data.hex())
    only_pdu_errors(decode_deliver, "0044" + data.hex())
    only_pdu_errors(decode_submit, "0051" + data.hex())
    only_pdu_errors(decode_submit, "0019" + data.hex())


@FAST
@given(text=st.text(max_size=40))
def test_random_strings_raise_only_pdu_error(text: str) -> None:
    only_pdu_errors(decode_deliver, text)
    only_pdu_errors(decode_submit, text)


@FAST
@given(
    text=st.text(max_size=300),
    encoding=st.sampled_from([None, "8bit"]),
    edits=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=4),
    cut=st.integers(0, 400),
)
def test_mutated_pdus_raise_only_pdu_error(
    text: str, encoding: str | None, edits: list[tuple[int, int]], cut: int
) -> None:
    for pdu in encode_deliver("+62811", text, timestamp=TS, encoding=encoding)[:2]:
        octets = bytearray.fromhex(pdu)
        for position, value in edits:
            octets[position % len(octets)] = value
        mutated = octets[: max(cut, 1)].hex()
        only_pdu_errors(decode_deliver, mutated)
    for submit in encode_submit("+62811", text)[:2]:
        octets = bytearray.fromhex(submit.hex)
        for position, value in edits:
            octets[position % len(octets)] = value
        only_pdu_errors(decode_submit, octets[: max(cut, 1)].hex())


def test_sms_deliver_is_frozen() -> None:
    sms = decode_deliver(DREAMFABRIC_DELIVER)
    assert isinstance(sms, SmsDeliver)
    with pytest.raises(AttributeError):
        sms.text = "x"  # type: ignore[misc]
