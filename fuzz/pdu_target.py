"""atheris target: the PDU decoder. Any bytes (as hex, or as text) -> SmsDeliver/SmsSubmit or PduError.

    python fuzz/pdu_target.py CORPUS_DIR [-max_total_time=60]   (copy fuzz/seeds/pdu to CORPUS_DIR first)
"""

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

with atheris.instrument_imports(include=["laporgub"]):
    from laporgub import pdu
    from laporgub.exceptions import PduError


def test_one_input(data: bytes) -> None:
    candidates = [data.hex()]
    if data[:1] == b"T":  # the rest as text: what a modem could print instead of hex
        candidates.append(data[1:].decode("utf-8", "replace"))
    for text in candidates:
        for decode in (pdu.decode_deliver, pdu.decode_submit):
            try:
                decoded = decode(text)
            except PduError:
                continue
            decoded.text.encode("utf-8")  # no lone surrogates reach the database or Telegram
            pdu.join_parts([decoded]).encode("utf-8")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
