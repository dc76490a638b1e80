"""Sorting inbound SMS into the five kinds of DESIGN.md and complaints into groups.

Everything here is a pure function of the text, the sender and the ``RoutingRules``
(built from config.toml by the caller); the only I/O is ``load_default_rules``, which
reads the package's ``data/keywords.toml``.

Matching works on ``normalize``'d text, and keywords are normalised the same way, so a
keyword ``"jln berlubang"`` and an SMS ``"JLN nya BERLOBANG!!!"`` meet as
``jalan ... berlubang``. A single keyword word matches a text word that is the same word,
or the same word with simple Indonesian (and a few Javanese) affixes: ``banjir`` matches
``kebanjiran``, ``banjirnya``, ``dibanjiri``; ``tipu`` matches ``penipuan`` (the nasal
prefixes drop the first consonant, and the matcher puts it back). Words of three letters
or fewer (``api``, ``kk``, ``ktp``) only take possessive suffixes (``ktpnya``), because
prefix-stripping turns too many ordinary words into them.

The words of a phrase keyword must come in order, each within two words of the
previous (``jalan rusak`` matches ``jalan ke sawah rusak``); negative keywords must
stand contiguous. A negative keyword cancels the group's matches it overlaps
(``kereta api`` cancels ``api``, not a ``banjir`` elsewhere); a negative keyword that
overlaps none of them (``simulasi``) cancels the whole group.

Spam needs evidence: spam phrases weighing at least 2 (a phrase weighs 2, a single word
1) and more than the topic keywords found, and no sign of a citizen reporting them
(``COMPLAINT_MARKERS``: "saya ditipu", "lapor ada", "desa kami"...). Such a report is a
complaint and also goes to ``sosial_hukum``: when in doubt, a complaint (DESIGN.md).

``Classifier.route`` gives the groups of a text already known to be a complaint, for
re-routing a registered ticket.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from types import MappingProxyType

from laporgub.gazetteer import find_regency_match

__all__ = [
    "CATEGORY_GROUPS",
    "COMPLAINT_MARKERS",
    "KINDS",
    "ROUTING_ORDER",
    "Classification",
    "Classifier",
    "RoutingRules",
    "is_operator_sender",
    "load_default_rules",
    "normalize",
    "parse_ticket_number",
    "rules_from_toml",
]

#: The kinds an inbound SMS is sorted into (DESIGN.md).
KINDS: tuple[str, ...] = ("complaint", "spam", "operator", "status_query", "too_short")

#: Topic groups that keywords route to.
CATEGORY_GROUPS: tuple[str, ...] = (
    "sosial_hukum", "kesehatan", "ekonomi_industri", "darurat", "esdm_lh", "pertanian", "infrastruktur", "energi",
)

#: Every group a classification may return, in the order groups are returned (DESIGN.md's order;
#: ``channel`` is added by the caller). Groups of the rules not listed here follow, in rules order.
ROUTING_ORDER: tuple[str, ...] = (*CATEGORY_GROUPS, "kabkota", "pelayanan_publik")

_FALLBACK_GROUP = "pelayanan_publik"
_REGENCY_GROUP = "kabkota"
_SPAM = "spam"
_FRAUD_GROUP = "sosial_hukum"

# Gap allowed between consecutive words of a phrase keyword (positive and spam lists).
_PHRASE_GAP = 2

# --------------------------------------------------------------------------
# Normalisation.

# SMS abbreviations, frequent misspellings and Javanese words -> Indonesian. Only
# unambiguous tokens: "smp" (school or "sampai"), "sd", "kali" ("times" or river),
# "lemah" (weak or soil), "loro" (sick or two), "larang" (forbid or expensive) stay.
_ABBREVIATIONS: dict[str, str] = {
    # function words and pronouns
    "yg": "yang", "ingkang": "yang",
    "tdk": "tidak", "tdak": "tidak", "gk": "tidak", "ga": "tidak", "gak": "tidak", "gag": "tidak",
    "nggak": "tidak", "ngga": "tidak", "ngak": "tidak", "engga": "tidak", "enggak": "tidak", "ndak": "tidak",
    "nda": "tidak", "ora": "tidak", "mboten": "tidak", "boten": "tidak",
    "sdh": "sudah", "udh": "sudah", "udah": "sudah", "sdah": "sudah", "sudh": "sudah", "wis": "sudah",
    "uwis": "sudah", "wes": "sudah", "uwes": "sudah", "sampun": "sudah",
    "blm": "belum", "blom": "belum", "belom": "belum", "durung": "belum", "dereng": "belum", "drg": "belum",
    "mhn": "mohon", "nyuwun": "mohon",
    "tlg": "tolong", "tlng": "tolong", "tulung": "tolong",
    "dr": "dari", "dri": "dari",
    "dgn": "dengan", "dg": "dengan", "dng": "dengan",
    "krn": "karena", "karna": "karena", "krna": "karena", "krena": "karena",
    "kmrn": "kemarin", "kmarin": "kemarin", "kemaren": "kemarin", "kmren": "kemarin", "wingi": "kemarin",
    "skrg": "sekarang", "skrng": "sekarang", "skr": "sekarang", "skarang": "sekarang", "saiki": "sekarang",
    "utk": "untuk", "untk": "untuk", "tuk": "untuk",
    "tp": "tapi",
    "jg": "juga", "lg": "lagi", "lgi": "lagi", "sm": "sama", "bs": "bisa", "bsa": "bisa",
    "dlm": "dalam", "pd": "pada", "kpd": "kepada", "ttg": "tentang", "spt": "seperti", "sprti": "seperti",
    "sbg": "sebagai", "bbrp": "beberapa", "byk": "banyak", "bnyk": "banyak", "banyk": "banyak",
    "msh": "masih", "masi": "masih", "bkn": "bukan", "klo": "kalau", "kalo": "kalau", "kl": "kalau",
    "jd": "jadi", "jdi": "jadi", "aja": "saja", "aj": "saja", "emg": "memang", "mmg": "memang",
    "trs": "terus", "trus": "terus", "hrs": "harus", "dpt": "dapat", "sblm": "sebelum", "stlh": "setelah",
    "bgt": "banget", "bngt": "banget", "wonten": "ada", "enek": "ada",
    "gmn": "bagaimana", "gmna": "bagaimana", "gimana": "bagaimana", "gmana": "bagaimana", "piye": "bagaimana",
    "pripun": "bagaimana", "kpripun": "bagaimana",
    "knp": "kenapa", "napa": "kenapa", "kpn": "kapan", "brp": "berapa", "brapa": "berapa",
    "sy": "saya", "sya": "saya", "gw": "saya", "gue": "saya", "ane": "saya", "kulo": "saya", "kula": "saya",
    "kmi": "kami", "org": "orang", "ortu": "orang tua",
    "bpk": "bapak", "pak": "bapak", "bp": "bapak", "bu": "ibu",
    "gub": "gubernur", "gubenur": "gubernur", "gubernr": "gubernur", "pakgub": "bapak gubernur",
    "mksh": "terima kasih", "makasih": "terima kasih", "trmksh": "terima kasih", "trims": "terima kasih",
    "tks": "terima kasih", "thx": "terima kasih", "suwun": "terima kasih",
    "maf": "maaf", "mf": "maaf", "ngapunten": "maaf",
    "ok": "oke", "okey": "oke", "okay": "oke",
    # time and place
    "hr": "hari", "bln": "bulan", "thn": "tahun", "th": "tahun", "mgg": "minggu", "jm": "jam",
    "tgl": "tanggal", "smpe": "sampai", "sampe": "sampai", "ampe": "sampai",
    "dpn": "depan", "blkg": "belakang", "blakang": "belakang", "dkt": "dekat", "deket": "dekat",
    "sktr": "sekitar", "skitar": "sekitar", "tmpt": "tempat", "tmpat": "tempat", "kene": "sini", "mriki": "sini",
    "rmh": "rumah", "rumh": "rumah", "omah": "rumah", "umah": "rumah",
    "ds": "desa", "dsa": "desa", "dsn": "dusun", "kel": "kelurahan", "kec": "kecamatan", "kab": "kabupaten",
    "prov": "provinsi", "rb": "ribu", "jt": "juta",
    # topic words people abbreviate or misspell
    "jln": "jalan", "jl": "jalan", "jaln": "jalan", "jlan": "jalan", "dalan": "jalan", "dalane": "jalannya",
    "rs": "rumah sakit", "pkm": "puskesmas",
    "lstrk": "listrik", "listrk": "listrik", "lisrik": "listrik", "listri": "listrik",
    "bnjir": "banjir", "bnjr": "banjir", "banjr": "banjir", "lngsor": "longsor", "longsr": "longsor",
    "lonsor": "longsor", "kbakaran": "kebakaran", "kebakarn": "kebakaran",
    "rsk": "rusak", "rusk": "rusak", "rsak": "rusak", "lobang": "lubang", "berlobang": "berlubang",
    "brlubang": "berlubang", "brlobang": "berlubang", "bolong": "berlubang",
    "smph": "sampah", "sampa": "sampah",
    "ektp": "e ktp", "ktpel": "ktp el", "ijin": "izin", "ijasah": "ijazah", "akte": "akta",
    "banyu": "air", "wit": "pohon", "uwit": "pohon", "geni": "api", "udan": "hujan", "pari": "padi",
    "rabuk": "pupuk", "rego": "harga", "regane": "harganya", "regone": "harganya",
    "duit": "uang", "duwit": "uang", "peteng": "gelap",
    # status queries
    "ticket": "tiket", "tkt": "tiket", "lpr": "lapor", "lprn": "laporan", "lpran": "laporan",
    "laporn": "laporan", "bls": "balas", "dibls": "dibalas", "dibales": "dibalas", "bales": "balas",
    "balesan": "balasan", "tanggepan": "tanggapan", "ditanggepi": "ditanggapi", "progress": "progres",
}

_NFKC_TRANSLATE = str.maketrans({"’": "'", "‘": "'"})
_REDUPLICATION = re.compile(r"(?<![^\W\d_])([^\W\d_]{3,})2(?!\w)")
_NON_WORD = re.compile(r"[\W_]+")
_DIGIT_LETTER = re.compile(r"(?<=\d)(?=[^\W\d_])|(?<=[^\W\d_])(?=\d)")
_LETTER_RUN = re.compile(r"([^\W\d_])\1{2,}")
_VOWELS = frozenset("aeiou")
_FINAL_DOUBLE = re.compile(r"^([^\W\d_]{3,})([^\W\d_])\2$")


def normalize(text: str) -> str:
    """The form of a text that keywords are matched against.

    Steps: NFKC (folds the "bold" Unicode letters of spam) and casefold;
    ``kata2`` -> ``kata kata``; every character that is not a letter or digit (punctuation,
    emoji, underscores) becomes a space; digits and letters are split (``3kg`` -> ``3 kg``);
    in words with a vowel, runs of three or more of one letter collapse to one
    (``parahhh`` -> ``parah``; two letters stay, so ``maaf`` and ``saat`` are safe; ``pppk``
    has no vowel and stays), and a doubled last letter of a word of five letters or more is
    undoubled (``banjirr`` -> ``banjir``); finally SMS abbreviations and Javanese words are
    expanded (``yg`` -> ``yang``, ``gak`` -> ``tidak``, ``jln`` -> ``jalan``, ``rs`` ->
    ``rumah sakit``, ``dalan`` -> ``jalan``, ``banyu`` -> ``air``).

    Args:
        text: any text.

    Returns:
        Lowercase words separated by single spaces (empty for an empty text).
    """
    s = unicodedata.normalize("NFKC", text.translate(_NFKC_TRANSLATE)).casefold()
    s = _REDUPLICATION.sub(r"\1 \1", s)
    s = _NON_WORD.sub(" ", s)
    s = _DIGIT_LETTER.sub(" ", s)
    words: list[str] = []
    for token in s.split():
        # Acronyms without vowels keep their letters ("pppk", the contract civil servants).
        if _VOWELS.intersection(token):
            token = _LETTER_RUN.sub(r"\1", token)
            if len(token) >= 5:
                token = _FINAL_DOUBLE.sub(r"\1\2", token)
        words.append(_ABBREVIATIONS.get(token, token))
    return " ".join(words)


# --------------------------------------------------------------------------
# Ticket numbers and senders.

_SEP = r"(?:\s*[-_–—.]\s*|\s+)?"
_TICKET = re.compile(
    rf"(?P<prefix>#?t)?(?<!\d)(?P<date>\d{{6}})(?P<s1>{_SEP})(?P<four>\d{{4}})(?P<s2>{_SEP})(?P<seq>\d{{1,3}})(?!\d)",
    re.IGNORECASE | re.ASCII,
)
# An unseparated 11-13 digit run is a ticket only right after one of these (it may be a phone number).
_TICKET_CONTEXT = re.compile(r"(?:cek|status|tiket|ticket|tiketnya|no tiket|nomor tiket)[\s:.#]*$", re.IGNORECASE)


def parse_ticket_number(text: str) -> str | None:
    """The first ticket number in ``text``, as ``YYMMDD-NNNN-S``, else None.

    Accepted: ``261128-0200-1``, ``261128 0200 1``, ``261128_0200_1``, ``#T261128_0200_1``,
    ``2611280200-1``, any case; an unseparated run such as ``26112802001`` only after
    ``#T``/``T``, ``cek``, ``status`` or ``tiket``, because it may be a phone number. The
    date must be a real date and the sequence at least 1.

    Args:
        text: free text, e.g. ``"CEK 261128-0200-1"``.

    Returns:
        The canonical ticket number, e.g. ``"261128-0200-1"``, or None.
    """
    for m in _TICKET.finditer(text):
        if not (m.group("s1") or m.group("s2") or m.group("prefix")):
            if not _TICKET_CONTEXT.search(text[: m.start()]):
                continue
        date, seq = m.group("date"), int(m.group("seq"))
        try:
            datetime.date(2000 + int(date[:2]), int(date[2:4]), int(date[4:]))
        except ValueError:
            continue
        if seq < 1:
            continue
        return f"{date}-{m.group('four')}-{seq}"
    return None


_SENDER_NOISE = re.compile(r"[\s\-().]+")


def is_operator_sender(sender: str) -> bool:
    """Whether ``sender`` is not a subscriber number (DESIGN.md's ``operator`` kind).

    Args:
        sender: the originating address as the modem reported it.

    Returns:
        True for an alphanumeric sender (any letter: ``TELKOMSEL``, ``INFO``), a short
        code of at most 6 digits after dropping ``+`` and separators (``3``, ``123``), or
        an empty sender; False for anything longer made only of digits.
    """
    s = _SENDER_NOISE.sub("", sender).lstrip("+")
    if any(ch.isalpha() for ch in s):
        return True
    return len(s) <= 6


# --------------------------------------------------------------------------
# Affix-aware word matching.

_PREFIXES = ("memper", "diper", "meng", "meny", "peng", "peny", "mem", "men", "pem", "pen", "ber", "ter", "per",
             "me", "pe", "di", "ke", "se")
# The nasal prefixes drop the first consonant of the root before a vowel (tipu -> menipu).
_NASAL = {"men": "t", "pen": "t", "mem": "p", "pem": "p", "meny": "s", "peny": "s", "meng": "k", "peng": "k"}
_SUFFIXES = ("kannya", "annya", "inya", "nipun", "ipun", "nya", "kan", "lah", "an", "ku", "mu", "ne", "i", "e")
_SHORT_SUFFIXES = ("nipun", "nya", "ne", "ku", "mu")
_SHORT_WORD = 3


@lru_cache(maxsize=65536)
def _roots(token: str) -> tuple[frozenset[str], frozenset[str]]:
    """(roots of ``token`` for keyword words longer than 3 letters, roots for shorter ones)."""
    long_roots = {token}
    for p in ("", *_PREFIXES):
        if not token.startswith(p):
            continue
        rest = token[len(p):]
        for s in ("", *_SUFFIXES):
            if not rest.endswith(s):
                continue
            root = rest[: len(rest) - len(s)] if s else rest
            if len(root) < 3:
                continue
            long_roots.add(root)
            if p in _NASAL and root[0] in _VOWELS:
                long_roots.add(_NASAL[p] + root)
    short_roots = {token}
    for s in _SHORT_SUFFIXES:
        if token.endswith(s) and len(token) - len(s) >= 2:
            short_roots.add(token[: -len(s)])
    return frozenset(long_roots), frozenset(short_roots)


def _word_matches(word: str, token: str) -> bool:
    if word == token:
        return True
    if word.isdigit() or token.isdigit():
        return False
    long_roots, short_roots = _roots(token)
    return word in (short_roots if len(word) <= _SHORT_WORD else long_roots)


@dataclass(frozen=True, slots=True)
class _Hit:
    label: str  # group key, "spam", or an internal label
    keyword: str  # as written in the rules
    start: int  # token index of the first word
    end: int  # token index of the last word

    def overlaps(self, other: _Hit) -> bool:
        return self.start <= other.end and other.start <= self.end


class _Matcher:
    """Finds labelled keywords (single words or phrases) in a list of normalised tokens."""

    def __init__(self, entries: Iterable[tuple[str, str]], gap: int) -> None:
        self._gap = gap
        # first word -> [(label, keyword as written, words)]
        self._by_first: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {}
        seen: set[tuple[str, tuple[str, ...]]] = set()
        for label, keyword in entries:
            words = tuple(normalize(keyword).split())
            if not words or (label, words) in seen:
                continue
            seen.add((label, words))
            self._by_first.setdefault(words[0], []).append((label, keyword, words))

    def __bool__(self) -> bool:
        return bool(self._by_first)

    def find(self, tokens: Sequence[str]) -> list[_Hit]:
        hits: list[_Hit] = []
        for i, token in enumerate(tokens):
            long_roots, short_roots = ({token}, {token}) if token.isdigit() else _roots(token)
            for first in long_roots | short_roots:
                for label, keyword, words in self._by_first.get(first, ()):
                    if not _word_matches(words[0], token):
                        continue
                    end = self._rest(tokens, i, words)
                    if end is not None:
                        hits.append(_Hit(label, keyword, i, end))
        return hits

    def _rest(self, tokens: Sequence[str], i: int, words: tuple[str, ...]) -> int | None:
        pos = i
        for word in words[1:]:
            for j in range(pos + 1, min(pos + 2 + self._gap, len(tokens))):
                if _word_matches(word, tokens[j]):
                    pos = j
                    break
            else:
                return None
        return pos


# --------------------------------------------------------------------------
# Built-in phrase lists (not configurable: they define the kinds, not the routing).

# Words that carry no content on their own: greetings, forms of address, fillers.
_FILLER = frozenset({
    "halo", "hallo", "helo", "hello", "hai", "hay", "hi", "hei", "hey", "ping", "tes", "test", "testing", "tst",
    "cek", "coba", "assalamualaikum", "asalamualaikum", "assalamu", "alaikum", "assalamualaikom", "aslm",
    "askum", "ass", "wr", "wb", "wrwb", "warahmatullahi", "wabarakatuh", "salam", "selamat", "pagi", "siang",
    "sore", "malam", "permisi", "punten", "nuwun", "sewu", "sugeng", "enjing", "dalu", "matur", "min", "mimin",
    "admin", "bapak", "ibu", "mas", "mbak", "mba", "kak", "om", "gubernur", "terima", "kasih", "oke", "ya",
    "iya", "yes", "no", "nggih", "injih", "inggih", "sip", "siap", "maaf", "dan", "yang", "di", "ke", "dari",
    "saya", "kami", "ini", "itu", "apa", "ada", "info", "laporgub", "sms", "tidak", "nomor", "mau",
})

# Phrases showing that a citizen reports fraud or gambling rather than sends it:
# any of them outside the spam phrases makes a would-be spam a complaint.
COMPLAINT_MARKERS: tuple[str, ...] = (
    "ditipu", "tertipu", "penipuan", "penipu", "korban", "modus", "resah", "meresahkan", "mengaku", "ngaku",
    "mengatasnamakan", "catut", "saya lapor", "mau lapor", "ingin lapor", "lapor ada", "melaporkan",
    "tolong ditindak", "mohon ditindak", "ditindak tegas", "diberantas", "berantas", "diusut", "diteror", "teror",
    "marak", "desa kami", "kampung kami", "warga kami", "lingkungan kami", "daerah kami", "dusun kami",
    "anak saya", "suami saya", "istri saya", "orang tua saya", "saya dapat sms", "dapat sms", "ada sms",
    "terima sms", "sms dari", "sms penipuan", "pesan penipuan", "nomor penipu", "mohon diblokir",
    "tolong diblokir", "sering dapat",
)

# Status queries (DESIGN.md): a status phrase alone decides; otherwise a mention of an
# earlier report ("laporan saya", "sudah lapor") near a question about its fate does.
_STATUS_PHRASES = (
    "cek laporan", "cek tiket", "cek status", "cek aduan", "cek pengaduan", "status laporan", "status tiket",
    "status aduan", "status pengaduan", "nomor tiket", "no tiket", "tiket saya", "tiket kami",
    "kelanjutan laporan", "tindak lanjut laporan", "perkembangan laporan", "progres laporan", "nasib laporan",
    "info laporan",
)
_STATUS_ANCHORS_MINE = (
    "laporan saya", "laporan kami", "laporan kemarin", "laporan sebelumnya", "laporan yang lalu",
    "laporan minggu lalu", "laporan bulan lalu", "laporan tadi", "laporan dulu", "aduan saya", "aduan kami",
    "keluhan saya", "sms saya", "pesan saya", "sudah lapor", "pernah lapor", "kemarin lapor", "sudah sms",
    "sudah kirim sms", "sudah mengadu",
)
_STATUS_ANCHORS_TIGHT = ("laporan", "aduan", "tiket", "keluhan")
# Questions about a report's fate, and how many words from the mention they may stand:
# about the report itself, far; about a reply, far but only after a negation or question
# word ("kok belum dibalas", not "mohon ditanggapi", which asks for a reply to this SMS);
# general ones ("bagaimana", "kapan"), near.
_STATUS_ASKS_FAR = (
    "kelanjutan", "kelanjutannya", "lanjutannya", "tindak lanjut", "perkembangan", "progres", "sampai mana",
    "status", "nasib",
)
_STATUS_ASKS_REPLY = (
    "diproses", "dibalas", "balasan", "ditanggapi", "tanggapan", "direspon", "direspons", "respon", "dijawab",
    "jawaban", "dibaca", "tindaklanjut", "kabar",
)
_STATUS_ASKS_NEAR = ("bagaimana", "kapan", "cek", "berapa", "nomor")
_QUESTION_WORDS = frozenset({"belum", "tidak", "kok", "apakah", "apa", "sudah", "tanpa", "kapan", "kenapa",
                             "mengapa", "pernah"})
_FAR = 10
_NEAR = 3
_TIGHT = 2  # from a bare "laporan"/"tiket" mention
# "sudah lapor ke kelurahan": an earlier report elsewhere, not to this service.
_ELSEWHERE_PREPS = frozenset({"ke", "kepada", "di"})
_HERE = frozenset({"sini", "lapor", "laporgub", "gubernur", "bapak", "ibu", "sms", "nomor", "layanan", "pusat",
                   "admin", "anda", "pemprov", "provinsi"})
_OTHER_OFFICES = frozenset({
    "rt", "rw", "lurah", "kades", "camat", "kepala", "desa", "kelurahan", "kecamatan", "dinas", "polisi", "polsek",
    "polres", "bupati", "walikota", "pln", "pdam", "puskesmas", "kantor", "pemdes", "pemkab", "pemkot", "dprd",
    "perangkat", "babinsa", "bhabinkamtibmas", "dusun", "kadus",
})
_STATUS_ALONE = frozenset({"status", "statusnya"})


# --------------------------------------------------------------------------
# Rules and results.


def _freeze_lists(mapping: Mapping[str, Iterable[str]]) -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType({str(k): tuple(v) for k, v in mapping.items()})


@dataclass(frozen=True, slots=True)
class RoutingRules:
    """What config.toml gives the classifier.

    Attributes:
        keywords: group key -> keywords (single words or phrases, any case). ``channel``
            is ignored; ``kabkota`` needs none (it is routed by regency).
        negative_keywords: group key -> phrases that cancel that group's matches.
        spam_keywords: phrases of promotions, fraud and gambling.
        min_words: an SMS with fewer meaningful words than this (greetings, forms of
            address and fillers do not count) is ``too_short``.
    """

    keywords: Mapping[str, tuple[str, ...]]
    negative_keywords: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    spam_keywords: tuple[str, ...] = ()
    min_words: int = 2

    def __post_init__(self) -> None:
        # Callers pass TOML lists; freeze them so the rules can be shared between threads.
        object.__setattr__(self, "keywords", _freeze_lists(self.keywords))
        object.__setattr__(self, "negative_keywords", _freeze_lists(self.negative_keywords))
        object.__setattr__(self, "spam_keywords", tuple(self.spam_keywords))


@dataclass(frozen=True, slots=True)
class Classification:
    """How one inbound SMS was sorted.

    Attributes:
        kind: one of ``KINDS``.
        groups: for a complaint, the routing targets in ``ROUTING_ORDER``: the matched
            groups, ``kabkota`` when a regency is named, ``pelayanan_publik`` when no
            topic group matched. Never ``channel``. Empty for every other kind.
        regency: for a complaint, the official name of the regency or city named, else None.
        matched: group -> the keywords (as written in the rules) that matched, for
            explaining a routing; ``kabkota`` -> the words that named the regency; for
            spam, ``spam`` -> the spam phrases found; for a complaint about spam or fraud,
            ``sosial_hukum`` also lists the spam phrases. A fallback group has no entry.
        ticket_ref: for a status query, the ticket number in the text (``YYMMDD-NNNN-S``), else None.
        normalized: ``normalize(text)``.
    """

    kind: str
    groups: tuple[str, ...]
    regency: str | None
    matched: Mapping[str, tuple[str, ...]]
    ticket_ref: str | None
    normalized: str


def _first_seen(hits: Iterable[_Hit]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(h.keyword for h in sorted(hits, key=lambda h: (h.start, h.end, h.keyword))))


def _weight(hits: list[_Hit]) -> int:
    """Evidence of a list of hits: 1 per distinct outermost single word, 2 per phrase."""
    spans = {(h.start, h.end) for h in hits}
    outer = {(a, b) for a, b in spans if not any((c, d) != (a, b) and c <= a and b <= d for c, d in spans)}
    return sum(min(2, b - a + 1) for a, b in outer)


class Classifier:
    """Sorts inbound SMS by the rules it was built with; build once per config load, then share."""

    def __init__(self, rules: RoutingRules) -> None:
        """Compile every keyword of ``rules``.

        Args:
            rules: the keyword lists and thresholds.
        """
        self.rules = rules
        known = [g for g in ROUTING_ORDER if g in rules.keywords]
        extra = [g for g in rules.keywords if g not in ROUTING_ORDER and g != "channel"]
        self._order = {g: i for i, g in enumerate([*ROUTING_ORDER, *extra])}
        self._topics = _Matcher(((g, kw) for g in [*known, *extra] for kw in rules.keywords[g]), _PHRASE_GAP)
        self._negatives = _Matcher(
            ((g, kw) for g, kws in rules.negative_keywords.items() for kw in kws), 0)
        self._spam = _Matcher(((_SPAM, kw) for kw in rules.spam_keywords), _PHRASE_GAP)
        self._markers = _Matcher((("marker", kw) for kw in COMPLAINT_MARKERS), 1)
        self._status = _Matcher((("status", kw) for kw in _STATUS_PHRASES), 0)
        self._anchors = _Matcher(
            [*(("mine", kw) for kw in _STATUS_ANCHORS_MINE), *(("tight", kw) for kw in _STATUS_ANCHORS_TIGHT)], 2)
        self._asks = _Matcher(
            [*(("far", kw) for kw in _STATUS_ASKS_FAR), *(("reply", kw) for kw in _STATUS_ASKS_REPLY),
             *(("near", kw) for kw in _STATUS_ASKS_NEAR)], 0)

    def classify(self, text: str, sender: str) -> Classification:
        """Sort one SMS.

        Order of decision: an operator sender; a status query (a ticket number, or words
        asking about an earlier report); too short; spam (spam phrases with no sign of a
        citizen reporting them); otherwise a complaint, routed by keyword and regency.

        Args:
            text: the whole SMS text (multipart SMS joined).
            sender: the originating address as received.

        Returns:
            The classification.
        """
        norm = normalize(text)
        tokens = norm.split()

        def other(kind: str, ticket_ref: str | None = None, matched: Mapping[str, tuple[str, ...]] | None = None
                  ) -> Classification:
            return Classification(kind, (), None, MappingProxyType(dict(matched or {})), ticket_ref, norm)

        if is_operator_sender(sender):
            return other("operator")
        ticket = parse_ticket_number(text)
        if ticket is not None or self._is_status_query(norm, tokens):
            return other("status_query", ticket)
        if self._meaningful_words(tokens) < self.rules.min_words:
            return other("too_short")

        topic_hits = self._topic_hits(tokens)
        spam_hits = self._spam.find(tokens) if self._spam else []
        verdict = self._spam_verdict(tokens, spam_hits, topic_hits) if spam_hits else None
        if verdict == "spam":
            return other("spam", matched={_SPAM: _first_seen(spam_hits)})
        # Fraud and gambling are the law group's, whatever else the report mentions.
        reported = [dataclasses.replace(h, label=_FRAUD_GROUP) for h in spam_hits] if verdict == "reported" else []
        return self._complaint(text, norm, [*topic_hits, *reported])

    def route(self, text: str) -> Classification:
        """Route a text already known to be a complaint, skipping the choice of kind.

        For re-routing a registered ticket (after a config reload, or by hand): its text
        may read like a status query today, but it still needs groups.

        Args:
            text: the complaint's text.

        Returns:
            A ``complaint`` classification, with at least one group.
        """
        norm = normalize(text)
        tokens = norm.split()
        topic_hits = self._topic_hits(tokens)
        spam_hits = self._spam.find(tokens) if self._spam else []
        reported = [dataclasses.replace(h, label=_FRAUD_GROUP) for h in spam_hits] if _weight(spam_hits) >= 2 else []
        return self._complaint(text, norm, [*topic_hits, *reported])

    # -- parts -------------------------------------------------------------

    def _complaint(self, text: str, norm: str, hits: list[_Hit]) -> Classification:
        by_group: dict[str, list[_Hit]] = {}
        for h in hits:
            by_group.setdefault(h.label, []).append(h)
        matched = {g: _first_seen(hs) for g, hs in by_group.items()}
        groups = set(matched)
        place = find_regency_match(text)
        if place is not None:
            groups.add(_REGENCY_GROUP)
            matched.setdefault(_REGENCY_GROUP, (place.alias,))
        if not groups - {_REGENCY_GROUP}:
            groups.add(_FALLBACK_GROUP)
        ordered = tuple(sorted(groups, key=lambda g: self._order.get(g, len(self._order))))
        matched = {g: matched[g] for g in ordered if g in matched}
        return Classification(
            "complaint", ordered, place.regency if place else None, MappingProxyType(matched), None, norm)

    # -- parts -------------------------------------------------------------

    def _topic_hits(self, tokens: Sequence[str]) -> list[_Hit]:
        hits = self._topics.find(tokens)
        if not hits or not self._negatives:
            return hits
        negatives = self._negatives.find(tokens)
        if not negatives:
            return hits
        cancelled_groups: set[str] = set()
        for n in negatives:
            own = [h for h in hits if h.label == n.label]
            if own and not any(n.overlaps(h) for h in own):
                cancelled_groups.add(n.label)
        return [h for h in hits
                if h.label not in cancelled_groups
                and not any(n.label == h.label and n.overlaps(h) for n in negatives)]

    def _spam_verdict(self, tokens: Sequence[str], spam_hits: list[_Hit], topic_hits: list[_Hit]) -> str | None:
        """``"spam"``, ``"reported"`` (a citizen reports spam or fraud) or None."""
        score = _weight(spam_hits)
        if score < 2:
            return None
        # A citizen reporting fraud or gambling: when in doubt, a complaint.
        for m in self._markers.find(tokens):
            if not any(m.overlaps(s) for s in spam_hits):
                return "reported"
        # Topic words weigh against: a phrase in both lists ("judi online") cancels out,
        # while the official words of phishing ("PLN", "bansos") are outweighed.
        return "spam" if score > _weight(topic_hits) else None

    def _meaningful_words(self, tokens: Sequence[str]) -> int:
        return sum(1 for t in tokens if len(t) >= 2 and not t.isdigit() and t not in _FILLER)

    def _is_status_query(self, norm: str, tokens: Sequence[str]) -> bool:
        if not tokens:
            return False
        if norm in _STATUS_ALONE or self._status.find(tokens):
            return True
        anchors = [a for a in self._anchors.find(tokens) if not self._reported_elsewhere(tokens, a)]
        if not anchors:
            return False
        asks = [q for q in self._asks.find(tokens)
                if q.label != "reply" or _QUESTION_WORDS.intersection(tokens[max(0, q.start - 3): q.start])]
        for a in anchors:
            for q in asks:
                if q.overlaps(a):
                    continue
                reach = min(_NEAR if q.label == "near" else _FAR, _TIGHT if a.label == "tight" else _FAR)
                distance = q.start - a.end if q.start > a.end else a.start - q.end
                if distance <= reach:
                    return True
        return False

    @staticmethod
    def _reported_elsewhere(tokens: Sequence[str], anchor: _Hit) -> bool:
        after = tokens[anchor.end + 1: anchor.end + 5]
        if not after or after[0] not in _ELSEWHERE_PREPS:
            return False
        if any(t in _OTHER_OFFICES for t in after[1:]):
            return True
        return len(after) < 2 or after[1] not in _HERE


# --------------------------------------------------------------------------
# Package defaults.


def rules_from_toml(data: Mapping[str, object]) -> RoutingRules:
    """Build rules from a parsed TOML document shaped like ``data/keywords.toml``.

    Args:
        data: ``{"groups": {key: {"keywords": [...], "negative_keywords": [...]}}, "spam": {"keywords": [...]}}``.

    Returns:
        The rules (``min_words`` from ``[routing] min_words`` when present, else 2).
    """
    groups = data.get("groups", {})
    spam = data.get("spam", {})
    routing = data.get("routing", {})
    if not (isinstance(groups, Mapping) and isinstance(spam, Mapping) and isinstance(routing, Mapping)):
        raise TypeError("groups, spam and routing must be TOML tables")
    return RoutingRules(
        keywords={k: tuple(g.get("keywords", ())) for k, g in groups.items() if k != "channel"},
        negative_keywords={k: tuple(g["negative_keywords"]) for k, g in groups.items() if g.get("negative_keywords")},
        spam_keywords=tuple(spam.get("keywords", ())),
        min_words=int(routing.get("min_words", 2)),
    )


def load_default_rules() -> RoutingRules:
    """The package's default keyword lists (``laporgub/data/keywords.toml``), for tests and tools.

    The service itself takes its lists from config.toml.
    """
    raw = resources.files("laporgub").joinpath("data/keywords.toml").read_bytes()
    return rules_from_toml(tomllib.loads(raw.decode("utf-8")))
