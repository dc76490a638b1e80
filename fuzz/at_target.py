"""atheris target: the AT layer. Any bytes from a modem -> lines/prompts, and the response parsers return or
raise AtParseError.

    python fuzz/at_target.py CORPUS_DIR [-max_total_time=60]   (copy fuzz/seeds/at to CORPUS_DIR first)
"""

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

with atheris.instrument_imports(include=["laporgub"]):
    from laporgub import at


def test_one_input(data: bytes) -> None:
    splitter = at.LineSplitter(max_line=256)
    lines = []
    for chunk in (data[: len(data) // 2], data[len(data) // 2:]):
        for item in splitter.feed(chunk):
            if isinstance(item, str):
                assert "\r" not in item and "\n" not in item
                lines.append(item)
    resp = at.AtResponse(command="AT+X", lines=tuple(lines))
    for parse in (at.parse_csq, at.parse_creg, at.parse_cpms, lambda r: at.parse_cmgr(r, 1)):
        try:
            parse(resp)
        except at.AtParseError:
            pass
    at.parse_cmgl(resp)
    for line in lines:
        at.parse_cmti(line)
        at.is_final(line)
        at.is_urc(line)
        try:
            at.parse_cmgs(line)
        except at.AtParseError:
            pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
