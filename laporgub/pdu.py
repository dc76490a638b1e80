"""SMS PDU codec (3GPP TS 23.040 / TS 23.038): SMS-DELIVER and SMS-SUBMIT.

Plain functions over hex strings, no I/O and no state. The decoders accept a
PDU exactly as a modem prints it in ``+CMGL`` / ``+CMGR`` / ``+CMT`` (SCA
first) and raise :class:`~laporgub.exceptions.PduError`, and nothing else, on
any malformed input. Concatenated messages are joined by concatenating the raw
payloads before decoding, so a UCS2 surrogate pair or a GSM 7-bit escape that
straddles two parts comes out right.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from laporgub.clock import SYSTEM
from laporgub.exceptions import PduError

__all__ = [
    "ENCODINGS",
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "WIB",
    "ConcatInfo",
    "InformationElement",
    "SmsDeliver",
    "SmsSubmit",
    "SubmitPdu",
    "decode_deliver",
    "decode_payload",
    "decode_semi_octets",
    "decode_submit",
    "encode_deliver",
    "encode_semi_octets",
    "encode_submit",
    "gsm7_fits",
    "gsm7_septet_length",
    "join_parts",
    "pack_septets",
    "unpack_septets",
]

#: The GSM 7-bit default alphabet (23.038 §6.2.1), indexed by septet value.
#: Position 0x1B is the escape to the extension table, never a character.
GSM7_BASIC: str = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)

#: The GSM 7-bit default alphabet extension table (23.038 §6.2.1.1): char -> code after ESC.
GSM7_EXTENSION: dict[str, int] = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}

#: The encodings this module speaks, as used in ``SmsDeliver.encoding``.
ENCODINGS: tuple[str, ...] = ("gsm7", "8bit", "ucs2")

#: Western Indonesia Time, the default SCTS zone of :func:`encode_deliver`.
WIB = timezone(timedelta(hours=7))

_ESC = 0x1B
_BASIC_CODE: dict[str, int] = {ch: i for i, ch in enumerate(GSM7_BASIC) if i != _ESC}
_EXT_CHAR: dict[int, str] = {code: ch for ch, code in GSM7_EXTENSION.items()}
# 23.038: ESC ESC is reserved for a further extension table; display a space meanwhile.
_EXT_CHAR[_ESC] = " "

_DCS_OF = {"gsm7": 0x00, "8bit": 0x04, "ucs2": 0x08}
_SEMI_OCTET_DIGITS = "0123456789*#abc"
_NUMBER = re.compile(r"[0-9*#]+")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")

_TON_INTERNATIONAL = 1
_TON_ALPHANUMERIC = 5
_TOA_INTERNATIONAL = 0x91
_TOA_UNKNOWN = 0x81
_TOA_NATIONAL = 0xA1
_TOA_ALPHANUMERIC = 0xD0

_IEI_CONCAT_8 = 0x00
_IEI_CONCAT_16 = 0x08
_MAX_PARTS = 255


@dataclass(frozen=True, slots=True)
class ConcatInfo:
    """The concatenated-SMS information element of one part.

    Attributes:
        reference: Concat reference number, shared by all parts of one message.
        total: Number of parts.
        sequence: This part's number, 1-based.
        ref_bits: 8 (IEI 0x00) or 16 (IEI 0x08).
    """

    reference: int
    total: int
    sequence: int
    ref_bits: int


@dataclass(frozen=True, slots=True)
class InformationElement:
    """One information element of a user data header.

    Attributes:
        iei: Information element identifier.
        data: The element's data octets.
    """

    iei: int
    data: bytes


@dataclass(frozen=True, slots=True)
class SmsDeliver:
    """A decoded SMS-DELIVER PDU (one part of a possibly concatenated message).

    Attributes:
        smsc: Service centre address ("+62816124" style), None when the SCA length is 0.
        sender: "+..." for international senders, plain digits for other numeric
            ones, the decoded name for alphanumeric senders (e.g. "TELKOMSEL").
        sender_toa: The raw type-of-address octet of the sender.
        sender_is_alphanumeric: True when the sender's TON is 5.
        timestamp: Service centre time stamp, timezone-aware.
        pid: TP-PID.
        dcs: TP-DCS.
        encoding: "gsm7", "8bit" or "ucs2".
        udh: The user data header's information elements, in order.
        concat: The concat element if present and valid, else None.
        payload: User data without the UDH: unpacked septets for gsm7, raw octets otherwise.
        text: This part's text alone (use :func:`join_parts` for the whole message).
        message_class: 0..3 from the DCS, or None.
        status_report_indication: TP-SRI.
        more_messages_to_send: True when the SC has more messages waiting (TP-MMS is 0).
    """

    smsc: str | None
    sender: str
    sender_toa: int
    sender_is_alphanumeric: bool
    timestamp: datetime
    pid: int
    dcs: int
    encoding: str
    udh: tuple[InformationElement, ...]
    concat: ConcatInfo | None
    payload: bytes
    text: str
    message_class: int | None
    status_report_indication: bool
    more_messages_to_send: bool


@dataclass(frozen=True, slots=True)
class SubmitPdu:
    """One SMS-SUBMIT ready to send with ``AT+CMGS``.

    Attributes:
        hex: Full PDU as written after the "> " prompt, starting with "00" (SIM's SMSC).
        tpdu_length: Octets excluding the SCA, the ``<n>`` of ``AT+CMGS=<n>``.
    """

    hex: str
    tpdu_length: int


@dataclass(frozen=True, slots=True)
class SmsSubmit:
    """A decoded SMS-SUBMIT PDU (one part of a possibly concatenated message).

    Attributes:
        destination: "+..." for international numbers, plain digits otherwise.
        destination_toa: The raw type-of-address octet of the destination.
        message_reference: TP-MR.
        dcs: TP-DCS.
        encoding: "gsm7", "8bit" or "ucs2".
        udh: The user data header's information elements, in order.
        concat: The concat element if present and valid, else None.
        payload: User data without the UDH, as in :class:`SmsDeliver`.
        text: This part's text alone.
        status_report_request: TP-SRR.
        validity: Relative validity period in minutes, None when absent or not relative.
    """

    destination: str
    destination_toa: int
    message_reference: int
    dcs: int
    encoding: str
    udh: tuple[InformationElement, ...]
    concat: ConcatInfo | None
    payload: bytes
    text: str
    status_report_request: bool
    validity: int | None


# --------------------------------------------------------------------------- septets and alphabets


def pack_septets(septets: bytes, fill_bits: int = 0) -> bytes:
    """Packs 7-bit values into octets, least significant bit first (23.038 §6.1.2.1).

    Args:
        septets: One value 0..127 per byte.
        fill_bits: Zero bits (0..6) placed before the first septet, as after a UDH.

    Returns:
        The packed octets; spare bits of the last octet are zero.

    Raises:
        PduError: A value is above 127 or fill_bits is out of range.
    """
    if not 0 <= fill_bits <= 6:
        raise PduError(f"fill bits must be 0..6, got {fill_bits}")
    value = 0
    for index, septet in enumerate(septets):
        if septet > 0x7F:
            raise PduError(f"septet value {septet} out of range")
        value |= septet << (fill_bits + 7 * index)
    bits = fill_bits + 7 * len(septets)
    return value.to_bytes((bits + 7) // 8, "little")


def unpack_septets(data: bytes, count: int, fill_bits: int = 0) -> bytes:
    """Unpacks ``count`` septets from octets, skipping ``fill_bits`` leading bits.

    Args:
        data: Packed octets.
        count: Number of septets to read.
        fill_bits: Bits (0..6) to skip before the first septet.

    Returns:
        One byte 0..127 per septet.

    Raises:
        PduError: ``data`` is too short or the arguments are out of range.
    """
    if count < 0 or not 0 <= fill_bits <= 6:
        raise PduError(f"bad septet count {count} or fill bits {fill_bits}")
    if fill_bits + 7 * count > 8 * len(data):
        raise PduError("user data shorter than its length says")
    value = int.from_bytes(data, "little")
    return bytes((value >> (fill_bits + 7 * i)) & 0x7F for i in range(count))


def gsm7_fits(text: str) -> bool:
    """Tells whether ``text`` can be sent in the GSM 7-bit default alphabet (with extension)."""
    return all(ch in _BASIC_CODE or ch in GSM7_EXTENSION for ch in text)


def gsm7_septet_length(text: str) -> int:
    """Counts the septets ``text`` takes in GSM 7-bit; extension characters count 2.

    Raises:
        PduError: A character is not in the GSM 7-bit alphabet.
    """
    return len(_gsm7_encode(text))


def _gsm7_encode(text: str) -> bytes:
    out = bytearray()
    for ch in text:
        code = _BASIC_CODE.get(ch)
        if code is not None:
            out.append(code)
            continue
        ext = GSM7_EXTENSION.get(ch)
        if ext is None:
            raise PduError(f"character {ch!r} is not in the GSM 7-bit alphabet")
        out += bytes((_ESC, ext))
    return bytes(out)


def _gsm7_decode(septets: bytes) -> str:
    out: list[str] = []
    i, n = 0, len(septets)
    while i < n:
        code = septets[i]
        i += 1
        if code > 0x7F:
            raise PduError(f"septet value {code} out of range")
        if code != _ESC:
            out.append(GSM7_BASIC[code])
            continue
        if i == n:
            break  # a trailing ESC escapes nothing
        ext = septets[i]
        i += 1
        if ext > 0x7F:
            raise PduError(f"septet value {ext} out of range")
        # 23.038: an unknown extension code shows as the default alphabet's character.
        out.append(_EXT_CHAR.get(ext, GSM7_BASIC[ext]))
    return "".join(out)


def decode_payload(encoding: str, payload: bytes) -> str:
    """Decodes a user data payload (without UDH) to text.

    Args:
        encoding: "gsm7" (payload is unpacked septets), "ucs2" or "8bit".
        payload: The payload as in :attr:`SmsDeliver.payload`.

    Returns:
        The text. Never raises on UCS2/8-bit content: a lone surrogate or an odd
        trailing octet becomes U+FFFD, and 8-bit data that is not UTF-8 is read
        as Latin-1.

    Raises:
        PduError: Unknown encoding, or a gsm7 payload byte above 127.
    """
    if encoding == "gsm7":
        return _gsm7_decode(payload)
    if encoding == "ucs2":
        return bytes(payload).decode("utf-16-be", errors="replace")
    if encoding == "8bit":
        try:
            return bytes(payload).decode("utf-8")
        except UnicodeDecodeError:
            return bytes(payload).decode("latin-1")
    raise PduError(f"unknown encoding {encoding!r}")


def join_parts(parts: Sequence[SmsDeliver | SmsSubmit]) -> str:
    """Joins the parts of a concatenated message into its text.

    Payloads are concatenated in ``concat.sequence`` order and decoded once, so
    a surrogate pair or GSM 7-bit escape split across parts joins correctly.
    Exact duplicates of a part (same sequence and payload, as when an SMSC
    retries) are used once. Parts of differing encodings are decoded one by one.

    Args:
        parts: The parts, in any order; a single unconcatenated message is fine.

    Returns:
        The message text ("" for no parts).
    """
    ordered = sorted(parts, key=lambda p: p.concat.sequence if p.concat else 0)
    unique = []
    seen: set[tuple[int, str, bytes]] = set()
    for part in ordered:
        if part.concat is not None:
            key = (part.concat.sequence, part.encoding, part.payload)
            if key in seen:
                continue
            seen.add(key)
        unique.append(part)
    if not unique:
        return ""
    encodings = {part.encoding for part in unique}
    if len(encodings) == 1:
        return decode_payload(unique[0].encoding, b"".join(part.payload for part in unique))
    return "".join(part.text for part in unique)


# --------------------------------------------------------------------------- semi-octets, addresses, time


def encode_semi_octets(digits: str) -> bytes:
    """Encodes digits (and ``* # a b c``) as swapped BCD, padding an odd count with F.

    Raises:
        PduError: A character has no semi-octet code.
    """
    nibbles = []
    for ch in digits:
        value = _SEMI_OCTET_DIGITS.find(ch)
        if value < 0:
            raise PduError(f"character {ch!r} cannot be a semi-octet")
        nibbles.append(value)
    if len(nibbles) % 2:
        nibbles.append(0xF)
    return bytes(nibbles[i] | nibbles[i + 1] << 4 for i in range(0, len(nibbles), 2))


def decode_semi_octets(data: bytes, count: int | None = None) -> str:
    """Decodes swapped BCD.

    Args:
        data: The octets.
        count: Number of semi-octets to read; None reads all and drops a final F filler.

    Raises:
        PduError: An F filler inside the number, or ``data`` too short for ``count``.
    """
    nibbles = [n for octet in data for n in (octet & 0x0F, octet >> 4)]
    if count is None:
        if nibbles and nibbles[-1] == 0xF:
            nibbles.pop()
    elif count > len(nibbles):
        raise PduError("address shorter than its length says")
    else:
        nibbles = nibbles[:count]
    if 0xF in nibbles:
        raise PduError("filler semi-octet inside an address")
    return "".join(_SEMI_OCTET_DIGITS[n] for n in nibbles)


def _number_with_plus(digits: str, toa: int) -> str:
    if (toa >> 4) & 0x7 == _TON_INTERNATIONAL and digits:
        return "+" + digits
    return digits


def _encode_sca(smsc: str | None) -> bytes:
    if not smsc:
        return b"\x00"
    toa, digits = (_TOA_INTERNATIONAL, smsc[1:]) if smsc.startswith("+") else (_TOA_UNKNOWN, smsc)
    if not _NUMBER.fullmatch(digits):
        raise PduError(f"bad SMSC number {smsc!r}")
    body = encode_semi_octets(digits)
    return bytes((len(body) + 1, toa)) + body


def _encode_number_address(number: str, toa: int, digits: str) -> bytes:
    if not _NUMBER.fullmatch(digits) or len(digits) > 20:
        raise PduError(f"bad address {number!r}")
    return bytes((len(digits), toa)) + encode_semi_octets(digits)


def _encode_destination(destination: str) -> bytes:
    if destination.startswith("+"):
        return _encode_number_address(destination, _TOA_INTERNATIONAL, destination[1:])
    return _encode_number_address(destination, _TOA_UNKNOWN, destination)


def _encode_sender(sender: str) -> bytes:
    if sender.startswith("+"):
        return _encode_number_address(sender, _TOA_INTERNATIONAL, sender[1:])
    if _NUMBER.fullmatch(sender):
        toa = _TOA_NATIONAL if sender.startswith("0") else _TOA_UNKNOWN
        return _encode_number_address(sender, toa, sender)
    if not sender or not gsm7_fits(sender) or gsm7_septet_length(sender) > 11:
        raise PduError(f"bad alphanumeric sender {sender!r}: 1..11 GSM 7-bit characters")
    septets = _gsm7_encode(sender)
    # The length counts useful semi-octets: 7 bits per septet, rounded up to nibbles.
    return bytes((-(-len(septets) * 7 // 4), _TOA_ALPHANUMERIC)) + pack_septets(septets)


def _encode_scts(timestamp: datetime) -> bytes:
    if timestamp.utcoffset() is None:
        timestamp = timestamp.replace(tzinfo=WIB)
    offset = timestamp.utcoffset()
    assert offset is not None
    seconds = offset.total_seconds()
    quarters = int(seconds // 900)
    if seconds % 900 or abs(quarters) > 79:
        raise PduError(f"time zone offset {offset} is not a whole number of quarter hours within ±19:45")
    if not 1969 <= timestamp.year <= 2068:
        raise PduError(f"year {timestamp.year} cannot be a two-digit SCTS year")
    fields = (timestamp.year % 100, timestamp.month, timestamp.day, timestamp.hour, timestamp.minute, timestamp.second)
    out = bytes(value // 10 | (value % 10) << 4 for value in fields)
    magnitude = abs(quarters)
    tz = magnitude // 10 | (magnitude % 10) << 4 | (0x08 if quarters < 0 else 0)
    return out + bytes((tz,))


def _decode_scts(raw: bytes) -> datetime:
    fields = []
    for octet in raw[:6]:
        tens, units = octet & 0x0F, octet >> 4
        if tens > 9 or units > 9:
            raise PduError("bad digit in the service centre time stamp")
        fields.append(tens * 10 + units)
    tz = raw[6]
    # 23.040 §9.2.3.11: bit 3 of the octet is the sign, the rest BCD quarter hours.
    tens, units = tz & 0x07, tz >> 4
    if units > 9:
        raise PduError("bad digit in the time stamp's time zone")
    quarters = tens * 10 + units
    if tz & 0x08:
        quarters = -quarters
    yy, month, day, hour, minute, second = fields
    # Two-digit years pivot like strptime's %y: 69..99 are 19xx, the rest 20xx.
    year = 1900 + yy if yy >= 69 else 2000 + yy
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=timezone(timedelta(minutes=15 * quarters)))
    except ValueError as exc:
        raise PduError(f"bad service centre time stamp: {exc}") from None


def _relative_validity_octet(minutes: int) -> int:
    if minutes < 0:
        raise PduError(f"validity must not be negative, got {minutes}")
    # 23.040 §9.2.3.12.1; round up to the next representable period, cap at 63 weeks.
    if minutes <= 12 * 60:
        return max(0, -(-minutes // 5) - 1)
    if minutes <= 24 * 60:
        return 143 + -(-(minutes - 12 * 60) // 30)
    if minutes <= 30 * 24 * 60:
        return 166 + -(-minutes // (24 * 60))
    return min(255, 192 + -(-minutes // (7 * 24 * 60)))


def _relative_validity_minutes(octet: int) -> int:
    if octet <= 143:
        return (octet + 1) * 5
    if octet <= 167:
        return 12 * 60 + (octet - 143) * 30
    if octet <= 196:
        return (octet - 166) * 24 * 60
    return (octet - 192) * 7 * 24 * 60


# --------------------------------------------------------------------------- decoding


class _Reader:
    """A cursor over the PDU octets that turns truncation into PduError."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def octet(self, what: str) -> int:
        return self.take(1, what)[0]

    def take(self, count: int, what: str) -> bytes:
        chunk = self._data[self._pos : self._pos + count]
        if len(chunk) != count:
            raise PduError(f"PDU truncated in {what}")
        self._pos += count
        return chunk


def _parse_hex(pdu_hex: str) -> bytes:
    if not isinstance(pdu_hex, str):
        raise PduError("PDU must be a hex string")
    text = pdu_hex.strip()
    if not _HEX.fullmatch(text):
        raise PduError("PDU is not a non-empty, even-length hex string")
    return bytes.fromhex(text)


def _read_sca(reader: _Reader) -> str | None:
    length = reader.octet("SCA length")
    if length == 0:
        return None
    toa = reader.octet("SCA type")
    body = reader.take(length - 1, "SCA")
    if (toa >> 4) & 0x7 == _TON_ALPHANUMERIC:
        return _gsm7_decode(unpack_septets(body, len(body) * 8 // 7))
    return _number_with_plus(decode_semi_octets(body), toa)


def _read_address(reader: _Reader, what: str) -> tuple[str, int, bool]:
    length = reader.octet(f"{what} length")
    toa = reader.octet(f"{what} type")
    body = reader.take((length + 1) // 2, what)
    if (toa >> 4) & 0x7 == _TON_ALPHANUMERIC:
        return _gsm7_decode(unpack_septets(body, length * 4 // 7)), toa, True
    return _number_with_plus(decode_semi_octets(body, length), toa), toa, False


def _dcs_meaning(dcs: int) -> tuple[str, int | None]:
    """Returns (encoding, message class) for a TP-DCS (23.038 §4)."""
    group = dcs >> 4
    if group <= 0x7:  # general data coding, 01xx only adds automatic deletion
        message_class = dcs & 0x03 if dcs & 0x10 else None
        if dcs & 0x20:
            return "8bit", message_class  # compressed: keep the raw octets, we have no decompressor
        alphabet = (dcs >> 2) & 0x03
        return ("gsm7", "8bit", "ucs2", "gsm7")[alphabet], message_class  # reserved -> default alphabet
    if group == 0xF:
        return ("8bit" if dcs & 0x04 else "gsm7"), dcs & 0x03
    if group == 0xE:
        return "ucs2", None  # message waiting indication, store, UCS2
    return "gsm7", None  # reserved groups and MWI discard/store: default alphabet


def _parse_udh(header: bytes) -> tuple[tuple[InformationElement, ...], ConcatInfo | None]:
    elements = []
    concat = None
    i = 0
    while i < len(header):
        if i + 2 > len(header):
            raise PduError("truncated information element in the UDH")
        iei, length = header[i], header[i + 1]
        data = header[i + 2 : i + 2 + length]
        if len(data) != length:
            raise PduError("information element overruns the UDH")
        elements.append(InformationElement(iei, bytes(data)))
        i += 2 + length
        if iei in (_IEI_CONCAT_8, _IEI_CONCAT_16):
            ref_bits = 8 if iei == _IEI_CONCAT_8 else 16
            if length != ref_bits // 8 + 2:
                raise PduError(f"concatenation element 0x{iei:02X} has length {length}")
            reference = int.from_bytes(data[:-2], "big")
            total, sequence = data[-2], data[-1]
            # 23.040 §9.2.3.24.1: ignore the element if the counts are out of range;
            # if repeated, the last occurrence wins.
            if total and 1 <= sequence <= total:
                concat = ConcatInfo(reference, total, sequence, ref_bits)
    return tuple(elements), concat


def _read_user_data(
    reader: _Reader, encoding: str, has_udh: bool
) -> tuple[tuple[InformationElement, ...], ConcatInfo | None, bytes]:
    udl = reader.octet("user data length")
    user_data = reader.take((udl * 7 + 7) // 8 if encoding == "gsm7" else udl, "user data")
    header_octets = 0
    elements: tuple[InformationElement, ...] = ()
    concat = None
    if has_udh:
        if not user_data:
            raise PduError("UDHI set but the user data is empty")
        header_octets = user_data[0] + 1
        if header_octets > len(user_data):
            raise PduError("UDH longer than the user data")
        elements, concat = _parse_udh(user_data[1:header_octets])
    if encoding != "gsm7":
        return elements, concat, bytes(user_data[header_octets:])
    header_septets = (header_octets * 8 + 6) // 7
    if header_septets > udl:
        raise PduError("UDH longer than the user data")
    fill_bits = header_septets * 7 - header_octets * 8
    payload = unpack_septets(user_data[header_octets:], udl - header_septets, fill_bits)
    return elements, concat, payload


def decode_deliver(pdu_hex: str) -> SmsDeliver:
    """Decodes an SMS-DELIVER PDU as a modem prints it (SCA first).

    Args:
        pdu_hex: Hex, any case, surrounding whitespace allowed.

    Returns:
        The decoded part.

    Raises:
        PduError: Bad hex, truncation, not an SMS-DELIVER, a UDL overrun, a bad UDH, a bad time stamp.
    """
    reader = _Reader(_parse_hex(pdu_hex))
    smsc = _read_sca(reader)
    first = reader.octet("first octet")
    mti = first & 0x03
    # 23.040 §9.2.3.1: an MS treats the reserved MTI 3 as SMS-DELIVER.
    if mti not in (0, 3):
        raise PduError(f"not an SMS-DELIVER (TP-MTI {mti})")
    sender, sender_toa, alphanumeric = _read_address(reader, "originating address")
    pid = reader.octet("TP-PID")
    dcs = reader.octet("TP-DCS")
    timestamp = _decode_scts(reader.take(7, "time stamp"))
    encoding, message_class = _dcs_meaning(dcs)
    elements, concat, payload = _read_user_data(reader, encoding, bool(first & 0x40))
    return SmsDeliver(
        smsc=smsc,
        sender=sender,
        sender_toa=sender_toa,
        sender_is_alphanumeric=alphanumeric,
        timestamp=timestamp,
        pid=pid,
        dcs=dcs,
        encoding=encoding,
        udh=elements,
        concat=concat,
        payload=payload,
        text=decode_payload(encoding, payload),
        message_class=message_class,
        status_report_indication=bool(first & 0x20),
        more_messages_to_send=not first & 0x04,
    )


def decode_submit(pdu_hex: str) -> SmsSubmit:
    """Decodes an SMS-SUBMIT PDU as written after the ``AT+CMGS`` prompt (SCA first).

    Args:
        pdu_hex: Hex, any case, surrounding whitespace allowed.

    Returns:
        The decoded part.

    Raises:
        PduError: Bad hex, truncation, not an SMS-SUBMIT, a UDL overrun, a bad UDH.
    """
    reader = _Reader(_parse_hex(pdu_hex))
    _read_sca(reader)
    first = reader.octet("first octet")
    if first & 0x03 != 1:
        raise PduError(f"not an SMS-SUBMIT (TP-MTI {first & 0x03})")
    reference = reader.octet("TP-MR")
    destination, destination_toa, _ = _read_address(reader, "destination address")
    reader.octet("TP-PID")
    dcs = reader.octet("TP-DCS")
    validity_format = (first >> 3) & 0x03
    validity = None
    if validity_format == 2:
        validity = _relative_validity_minutes(reader.octet("validity period"))
    elif validity_format:
        reader.take(7, "validity period")  # absolute or enhanced: not expressible in minutes
    encoding, _ = _dcs_meaning(dcs)
    elements, concat, payload = _read_user_data(reader, encoding, bool(first & 0x40))
    return SmsSubmit(
        destination=destination,
        destination_toa=destination_toa,
        message_reference=reference,
        dcs=dcs,
        encoding=encoding,
        udh=elements,
        concat=concat,
        payload=payload,
        text=decode_payload(encoding, payload),
        status_report_request=bool(first & 0x20),
        validity=validity,
    )


# --------------------------------------------------------------------------- encoding


def count_parts(text: str) -> int:
    """How many SMS parts :func:`encode_submit` makes of ``text`` (GSM 7-bit when it fits, else UCS2).

    Raises:
        PduError: More than 255 parts.
    """
    return len(_split_payloads(text, "gsm7" if gsm7_fits(text) else "ucs2", 6))


def fit_parts(text: str, parts: int, tail: str = "...", render: Callable[[str], str] | None = None) -> str:
    """``text`` cut so that it takes at most ``parts`` SMS parts, ending with ``tail`` when it was cut.

    With ``render``, what must fit is ``render(text)`` (a template around it) and only ``text``
    shrinks; the rendered message is returned. Cut at a space where one is near, so a word (or a
    number) is not split in the middle.
    """
    shown = render or (lambda value: value)
    whole = shown(text)
    if count_parts(whole) <= parts:
        return whole
    if count_parts(shown(tail.strip())) > parts:  # not even the frame fits: cut the whole message
        return fit_parts(whole, parts)
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits with the tail
        mid = (low + high + 1) // 2
        if count_parts(shown(text[:mid].rstrip() + tail)) <= parts:
            low = mid
        else:
            high = mid - 1
    cut = text[:low]
    space = cut.rfind(" ")
    if space > len(cut) * 3 // 4:
        cut = cut[:space]
    return shown(cut.rstrip() + tail)


def _split_payloads(text: str, encoding: str, concat_header_octets: int) -> list[bytes]:
    """Encodes ``text`` and splits it into per-part payloads at character boundaries."""
    if encoding == "gsm7":
        chars = [_gsm7_encode(ch) for ch in text]
        single = 160
        capacity = 160 - (concat_header_octets * 8 + 6) // 7
    else:
        codec = "utf-16-be" if encoding == "ucs2" else "utf-8"
        chars = [ch.encode(codec, "surrogatepass") for ch in text]
        single = 140
        capacity = 140 - concat_header_octets
    if sum(len(c) for c in chars) <= single:
        return [b"".join(chars)]
    # Whole characters only: an escape sequence or surrogate pair never straddles parts.
    parts: list[bytes] = []
    current = bytearray()
    for encoded in chars:
        if len(current) + len(encoded) > capacity:
            parts.append(bytes(current))
            current = bytearray()
        current += encoded
    parts.append(bytes(current))
    if len(parts) > _MAX_PARTS:
        raise PduError(f"text needs {len(parts)} parts, more than {_MAX_PARTS}")
    return parts


def _user_data(encoding: str, payload: bytes, header_elements: bytes) -> bytes:
    """Returns TP-UDL + TP-UD for one part; ``header_elements`` excludes the UDHL octet."""
    header = bytes((len(header_elements),)) + header_elements if header_elements else b""
    if encoding == "gsm7":
        header_septets = (len(header) * 8 + 6) // 7
        fill_bits = header_septets * 7 - len(header) * 8
        return bytes((header_septets + len(payload),)) + header + pack_septets(payload, fill_bits)
    return bytes((len(header) + len(payload),)) + header + payload


def _concat_element(reference: int, total: int, sequence: int, ref_bits: int) -> bytes:
    if ref_bits == 8:
        return bytes((_IEI_CONCAT_8, 3, reference, total, sequence))
    return bytes((_IEI_CONCAT_16, 4, reference >> 8, reference & 0xFF, total, sequence))


def _concat_reference(text: str, given: int | None, ref_bits: int) -> int:
    if given is None:
        return zlib.crc32(text.encode("utf-8", "surrogatepass")) % (1 << ref_bits)
    if not 0 <= given < 1 << ref_bits:
        raise PduError(f"concat reference {given} does not fit in {ref_bits} bits")
    return given


def encode_submit(
    destination: str,
    text: str,
    *,
    message_reference: int = 0,
    concat_reference: int | None = None,
    request_status_report: bool = False,
    validity_minutes: int | None = 24 * 60,
) -> list[SubmitPdu]:
    """Builds the SMS-SUBMIT PDU(s) for one outbound message.

    GSM 7-bit when the text fits the alphabet, else UCS2. Up to 160 septets or
    70 UCS2 units go in one PDU; longer texts become concatenated parts (IEI 0x00)
    of 153 septets or 67 UCS2 units, split only between characters.

    Args:
        destination: "+62..." (TOA 0x91) or digits without "+" (TOA 0x81).
        text: The message.
        message_reference: TP-MR of the first part; later parts count up from it (mod 256).
        concat_reference: 8-bit concat reference; None derives one from the text.
        request_status_report: Sets TP-SRR.
        validity_minutes: Relative validity period, rounded up to a representable
            one (capped at 63 weeks); None for no validity period.

    Returns:
        One :class:`SubmitPdu` per part, in order, each with SCA "00".

    Raises:
        PduError: Bad destination, reference or validity, or more than 255 parts.
    """
    address = _encode_destination(destination)
    if not 0 <= message_reference <= 255:
        raise PduError(f"message reference {message_reference} out of range 0..255")
    validity = None if validity_minutes is None else _relative_validity_octet(validity_minutes)
    encoding = "gsm7" if gsm7_fits(text) else "ucs2"
    payloads = _split_payloads(text, encoding, 6)
    reference = _concat_reference(text, concat_reference, 8)
    first = 0x01 | (0x10 if validity is not None else 0) | (0x20 if request_status_report else 0)
    pdus = []
    for sequence, payload in enumerate(payloads, 1):
        header = _concat_element(reference, len(payloads), sequence, 8) if len(payloads) > 1 else b""
        tpdu = (
            bytes((first | (0x40 if header else 0), (message_reference + sequence - 1) & 0xFF))
            + address
            + bytes((0x00, _DCS_OF[encoding]))
            + (bytes((validity,)) if validity is not None else b"")
            + _user_data(encoding, payload, header)
        )
        pdus.append(SubmitPdu(hex="00" + tpdu.hex().upper(), tpdu_length=len(tpdu)))
    return pdus


def encode_deliver(
    sender: str,
    text: str,
    *,
    timestamp: datetime | None = None,
    smsc: str | None = "+62816124",
    encoding: str | None = None,
    concat_reference: int | None = None,
    ref_bits: int = 8,
) -> list[str]:
    """Builds SMS-DELIVER PDU hex strings as a network would deliver them.

    Used by the modem emulator and tests.

    Args:
        sender: "+62..." (TOA 0x91); digits (0x81, or 0xA1 when starting with 0);
            anything else is an alphanumeric sender (0xD0), at most 11 GSM 7-bit septets.
        text: The message.
        timestamp: SCTS; default now in WIB. A naive datetime is taken as WIB.
            The offset must be whole quarter hours; microseconds are dropped.
        smsc: Service centre address; None or "" for an empty SCA ("00").
        encoding: None (gsm7 if it fits, else ucs2), "gsm7", "8bit" (UTF-8 octets) or "ucs2".
        concat_reference: Concat reference; None derives one from the text.
        ref_bits: 8 (IEI 0x00) or 16 (IEI 0x08) for concatenated messages.

    Returns:
        One upper-case hex PDU per part, in order.

    Raises:
        PduError: An argument cannot be encoded.
    """
    if encoding is None:
        encoding = "gsm7" if gsm7_fits(text) else "ucs2"
    elif encoding not in _DCS_OF:
        raise PduError(f"unknown encoding {encoding!r}")
    if ref_bits not in (8, 16):
        raise PduError(f"ref_bits must be 8 or 16, got {ref_bits}")
    prefix = _encode_sca(smsc)
    address = _encode_sender(sender)
    scts = _encode_scts(timestamp if timestamp is not None else SYSTEM.now(WIB))
    payloads = _split_payloads(text, encoding, 6 if ref_bits == 8 else 7)
    reference = _concat_reference(text, concat_reference, ref_bits)
    pdus = []
    for sequence, payload in enumerate(payloads, 1):
        header = _concat_element(reference, len(payloads), sequence, ref_bits) if len(payloads) > 1 else b""
        # TP-MMS set: no more messages waiting, as networks send single deliveries.
        first = 0x04 | (0x40 if header else 0)
        pdu = (
            prefix
            + bytes((first,))
            + address
            + bytes((0x00, _DCS_OF[encoding]))
            + scts
            + _user_data(encoding, payload, header)
        )
        pdus.append(pdu.hex().upper())
    return pdus
