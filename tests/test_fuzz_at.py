"""Fuzz (hypothesis): whatever bytes a modem sends, the AT layer splits and parses them without surprises
(fuzz/at_target.py is the atheris twin)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from laporgub import at
from laporgub.exceptions import ModemError

LINES = st.lists(
    st.one_of(
        st.text(max_size=60),
        st.sampled_from(['+CMGL: 1,0,,23', '+CMGL: 2,1,"",160', '+CMGR: 0,,23', "+CSQ: 20,99", "+CREG: 0,1",
                         '+CPMS: "SM",3,30,"SM",3,30', "+CPMS: 3,30,3,30", "+CMGS: 17", '+CMTI: "SM",3',
                         "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07", "OK"]),
        st.builds(lambda p, s: p + s, st.sampled_from(["+CMGL:", "+CMGR:", "+CSQ:", "+CREG:", "+CPMS:", "+CMGS:",
                                                         "+CMTI:"]), st.text(max_size=30)),
    ),
    max_size=8,
)


@given(st.lists(st.binary(max_size=64), max_size=10))
def test_line_splitter_never_raises_and_emits_clean_lines(chunks: list[bytes]) -> None:
    splitter = at.LineSplitter(max_line=128)
    for chunk in chunks:
        for item in splitter.feed(chunk):
            if isinstance(item, str):
                assert item and "\r" not in item and "\n" not in item
                assert len(item.encode("utf-8")) <= 4 * 128
    assert len(splitter.pending) <= 128 + 64


@given(st.binary(max_size=300), st.lists(st.integers(1, 300), max_size=8))
def test_line_splitter_gives_the_same_lines_however_the_bytes_are_chunked(data: bytes, cuts: list[int]) -> None:
    whole = at.LineSplitter()
    expected = whole.feed(data)
    chunked = at.LineSplitter()
    got: list[object] = []
    start = 0
    for cut in sorted(set(c for c in cuts if c < len(data))):
        got += chunked.feed(data[start:cut])
        start = cut
    got += chunked.feed(data[start:])
    # Lines and prompts come out the same; a multi-byte character split across two reads may only
    # differ in its replacement characters.
    assert [type(x) for x in got] == [type(x) for x in expected]
    if all(b < 0x80 for b in data):
        assert got == expected and chunked.pending == whole.pending


@given(LINES, st.integers(0, 300))
def test_response_parsers_return_or_raise_at_parse_error(lines: list[str], index: int) -> None:
    resp = at.AtResponse(command="AT+X", lines=tuple(lines))
    for parse in (at.parse_csq, at.parse_creg, at.parse_cpms, lambda r: at.parse_cmgr(r, index)):
        try:
            parse(resp)
        except ModemError as exc:
            assert isinstance(exc, at.AtParseError)
    for entry in at.parse_cmgl(resp):  # never raises: a damaged entry is skipped
        assert entry.pdu and len(entry.pdu) % 2 == 0
    for line in lines:
        parsed = at.parse_cmti(line)
        assert parsed is None or parsed[1] >= 0
        try:
            assert at.parse_cmgs(line) >= 0
        except at.AtParseError:
            pass
        at.is_final(line), at.is_urc(line)
