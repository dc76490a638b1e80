"""The 35 regencies and cities (kabupaten/kota) of Central Java, and how citizens name them.

``find_regency`` maps free SMS text to the official name of the regency or city it
names, so a complaint can also go to the ``kabkota`` group and to the leaders of that
regency (DESIGN.md).

Matching is on whole words of a lightly normalised text (casefolded, NFKC, punctuation
to spaces); one typing error in a name of seven letters or more is forgiven
("Purbalinga"). Four names are shared by a kota and a kabupaten: Semarang, Magelang,
Pekalongan and Tegal. For those:

* ``kota X``, ``kodya X``, ``pemkot X``, ``walikota X``, ``X kota`` pick the Kota;
* ``kab X``, ``kabupaten X``, ``pemkab X``, ``bupati X``, ``X kab`` pick the Kabupaten;
* a capital or well-known town of the kabupaten (Ungaran, Ambarawa, Slawi, Kajen,
  Mungkid, Muntilan, ...) picks the Kabupaten, also when the bare name stands elsewhere
  in the same text ("Ungaran, Semarang");
* the bare name picks the **Kota**: the city is what most people mean by the bare name,
  and the Kota's own leaders then see it; a PIC can re-route with ``/alihkan``.

When several places are named, the first one that is neither a bare shared name nor one
end of a route ("tol Semarang-Solo dekat Bawen": Bawen) wins; then the first end of a
route; a bare shared name is used only when nothing else is named.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

__all__ = [
    "ALIASES", "REGENCIES", "RegencyMatch", "find_regency", "find_regency_match", "match_regency", "place_words",
]

_KABUPATEN = (
    "Banjarnegara", "Banyumas", "Batang", "Blora", "Boyolali", "Brebes", "Cilacap", "Demak",
    "Grobogan", "Jepara", "Karanganyar", "Kebumen", "Kendal", "Klaten", "Kudus", "Magelang",
    "Pati", "Pekalongan", "Pemalang", "Purbalingga", "Purworejo", "Rembang", "Semarang",
    "Sragen", "Sukoharjo", "Tegal", "Temanggung", "Wonogiri", "Wonosobo",
)
_KOTA = ("Magelang", "Pekalongan", "Salatiga", "Semarang", "Surakarta", "Tegal")

#: The official names of the 29 kabupaten and 6 kota, kabupaten first, each alphabetical.
REGENCIES: tuple[str, ...] = tuple(f"Kabupaten {n}" for n in _KABUPATEN) + tuple(f"Kota {n}" for n in _KOTA)

# Names shared by a kota and a kabupaten (resolved by qualifier, town or default).
_SHARED = frozenset({"semarang", "magelang", "pekalongan", "tegal"})
_SHARED_ALIASES = {"smg": "semarang"}

# Alias (normalised) -> official name. Towns are capitals or towns people name instead
# of the regency; towns whose name exists in several regencies (Kaliwungu, Mijen, Grabag,
# Wonosari, Parakan, Banjarsari...) or is a common word (Secang, Guci, Genuk) are left out.
_TOWNS: dict[str, tuple[str, ...]] = {
    "Kabupaten Banjarnegara": ("banjarnegara",),
    "Kabupaten Banyumas": ("banyumas", "purwokerto", "pwt", "baturraden", "baturaden", "sokaraja", "ajibarang",
                           "wangon", "sumpiuh"),
    "Kabupaten Batang": ("batang",),
    "Kabupaten Blora": ("blora", "cepu", "randublatung"),
    "Kabupaten Boyolali": ("boyolali",),
    "Kabupaten Brebes": ("brebes", "bumiayu", "ketanggungan"),
    "Kabupaten Cilacap": ("cilacap", "majenang", "kroya"),
    "Kabupaten Demak": ("demak", "sayung", "mranggen"),
    "Kabupaten Grobogan": ("grobogan", "purwodadi", "gubug"),
    "Kabupaten Jepara": ("jepara", "karimunjawa", "karimun jawa", "pecangaan", "bangsri"),
    "Kabupaten Karanganyar": ("karanganyar", "tawangmangu", "colomadu", "palur"),
    "Kabupaten Kebumen": ("kebumen", "gombong"),
    "Kabupaten Kendal": ("kendal", "weleri", "boja"),
    "Kabupaten Klaten": ("klaten", "delanggu"),
    "Kabupaten Kudus": ("kudus",),
    "Kabupaten Magelang": ("mungkid", "kota mungkid", "muntilan", "borobudur", "mertoyudan"),
    "Kabupaten Pati": ("pati", "juwana"),
    "Kabupaten Pekalongan": ("kajen", "wiradesa", "kedungwuni"),
    "Kabupaten Pemalang": ("pemalang", "comal"),
    "Kabupaten Purbalingga": ("purbalingga", "bobotsari"),
    "Kabupaten Purworejo": ("purworejo", "kutoarjo"),
    "Kabupaten Rembang": ("rembang", "lasem"),
    "Kabupaten Semarang": ("ungaran", "ambarawa", "bawen", "bandungan"),
    "Kabupaten Sragen": ("sragen", "gemolong", "masaran"),
    "Kabupaten Sukoharjo": ("sukoharjo", "kartasura", "solo baru", "solobaru", "bekonang"),
    "Kabupaten Tegal": ("slawi", "adiwerna"),
    "Kabupaten Temanggung": ("temanggung",),
    "Kabupaten Wonogiri": ("wonogiri",),
    "Kabupaten Wonosobo": ("wonosobo",),
    "Kota Salatiga": ("salatiga",),
    "Kota Semarang": ("tembalang", "banyumanik", "pedurungan", "ngaliyan", "gunungpati", "tlogosari", "kaligawe",
                      "mangkang", "srondol", "jatingaleh", "simpang lima", "lawang sewu", "candisari", "gajahmungkur",
                      "gayamsari"),
    "Kota Surakarta": ("surakarta", "solo", "laweyan", "jebres", "serengan", "manahan"),
}

#: Every unshared alias (normalised, lowercase) -> official name. The shared bare names
#: (semarang, magelang, pekalongan, tegal, smg) are not here: they need resolving.
ALIASES: Mapping[str, str] = MappingProxyType({a: r for r, aliases in _TOWNS.items() for a in aliases})

_KOTA_QUALIFIERS = frozenset({"kota", "kodya", "kotamadya", "kotamadia", "pemkot", "walikota", "wali kota",
                              "pemerintah kota"})
_KAB_QUALIFIERS = frozenset({"kab", "kabupaten", "kabupatan", "pemkab", "bupati", "pemerintah kabupaten"})

# Aliases that are also ordinary words ("batang pohon", "tepung pati"): refused when
# the words around them show the ordinary meaning, unless qualified by kab/kota.
_NUMBER_WORDS = frozenset({"se", "satu", "dua", "tiga", "empat", "lima", "enam", "tujuh", "delapan", "sembilan",
                           "sepuluh", "beberapa", "banyak", "puluhan", "ratusan", "ribuan", "berapa", "per"})
_WORD_CONTEXT: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # alias: (refusing previous words, refusing next words)
    "batang": (
        _NUMBER_WORDS | {"pohon", "kayu", "bambu", "rokok", "besi", "tiang", "sebatang"},
        frozenset({"pohon", "kayu", "bambu", "rokok", "besi", "pisang", "padi", "tebu", "jagung", "kelapa",
                   "tanaman", "ranting", "kabel", "pipa", "korek", "coklat", "cokelat", "pohonnya", "tubuh",
                   "leher", "hidung", "otak", "tembakau", "singkong", "ketela", "pada", "tangan"}),
    ),
    "pati": (
        frozenset({"tepung", "sari", "bela", "hakikat"}),
        frozenset({"singkong", "ketela", "ubi", "aren", "jagung", "sagu", "kanji"}),
    ),
    # The river Bengawan Solo flows through eight regencies; "solo karier" is no city.
    "solo": (frozenset({"bengawan"}), frozenset({"karier", "karir", "traveling", "player"})),
}

# Words before a district's or village's name: "Kec. Karanganyar Kab. Demak" is in Demak.
_LOCAL_WORDS = frozenset({"kec", "kecamatan", "desa", "ds", "kel", "kelurahan", "dusun", "dukuh", "dk"})

_NON_WORD = re.compile(r"[^\w~]+|_")
# A hyphen between two words ("Semarang-Solo", "Purwodadi–Blora") names a route, kept as " ~ ".
_ROUTE_DASH = re.compile(r"(?<=\w)\s*[-\u2013\u2014]+\s*(?=\w)")
_ROUTE = "~"


def _normalise(text: str) -> str:
    s = unicodedata.normalize("NFKC", text).casefold().replace(_ROUTE, " ")
    s = _ROUTE_DASH.sub(f" {_ROUTE} ", s)
    return " ".join(_NON_WORD.sub(" ", s).split())


@dataclass(frozen=True, slots=True)
class RegencyMatch:
    """One place named in a text.

    Attributes:
        regency: the official name, one of ``REGENCIES``.
        alias: the words that named it, normalised (``"kab semarang"``, ``"ungaran"``).
        start: character offset of ``alias`` in the normalised text.
        bare: True when a shared name (Semarang, Magelang, Pekalongan, Tegal) stood
            without qualifier and was resolved by default to the Kota.
        route: True when the name is one end of a route ("Semarang-Solo", "jalan
            Purwodadi-Blora"), which says less about where the complaint is than a
            place named on its own.
        local: True when the name follows a district or village word ("Kec.
            Karanganyar" lies in Demak, Kebumen, Purbalingga and Pekalongan too): it
            names the regency only when no other place is named.
    """

    regency: str
    alias: str
    start: int
    bare: bool = False
    route: bool = False
    local: bool = False


def _alternation(words: Iterable[str]) -> str:
    # Longest first, so "solo baru" wins over "solo" and "wali kota" over "kota".
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


def _build_pattern() -> re.Pattern[str]:
    names = set(ALIASES) | _SHARED | set(_SHARED_ALIASES)
    quals = _KOTA_QUALIFIERS | _KAB_QUALIFIERS
    # A qualifier may also follow a shared name ("pekalongan kota"), but not start "kota mungkid".
    return re.compile(rf"(?<!\w)(?:(?P<q>{_alternation(quals)}) )?(?P<name>{_alternation(names)})"
                      rf"(?: (?P<q2>kota|kab|kabupaten)(?! mungkid))?(?!\w)")


_PATTERN = _build_pattern()


def _plain_word_use(norm: str, m: re.Match[str], name: str) -> bool:
    refuse_prev, refuse_next = _WORD_CONTEXT[name]
    before = norm[: m.start("name")].split()
    after = norm[m.end("name"):].split()
    prev = before[-1] if before else ""
    nxt = after[0] if after else ""
    # "3 batang kayu" counts sticks; "SD 3 Pati" names a place.
    counted = prev.isdigit() and name == "batang"
    return prev in refuse_prev or counted or nxt in refuse_next


def _is_route(norm: str, start: int, end: int) -> bool:
    return norm[max(0, start - 2): start] == f"{_ROUTE} " or norm[end: end + 2] == f" {_ROUTE}"


# Names long enough that one typing error cannot make another word of them ("purbalinga").
_TYPO_NAMES: dict[str, str] = {
    a: a for a in (*ALIASES, *_SHARED) if " " not in a and len(a) >= 7
}
_TYPO_WORD = re.compile(r"(?<!\w)[^\W\d_]{7,}(?!\w)")


@lru_cache(maxsize=4096)
def _misspelt_name(word: str) -> str | None:
    """The place name ``word`` is one typing error away from, if exactly one (same first letter)."""
    if word in _TYPO_NAMES:
        return None
    found = [n for n in _TYPO_NAMES if n[0] == word[0] and abs(len(n) - len(word)) <= 1 and _one_edit(word, n)]
    return found[0] if len(found) == 1 else None


def _one_edit(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` differ by one insertion, deletion, substitution or swap of neighbours."""
    if a == b:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long[i]:
        i += 1
    return short[i:] == long[i + 1:]


def _spelt_right(norm: str, known: Callable[[str], bool]) -> str:
    def fix(m: re.Match[str]) -> str:
        word = m.group(0)
        return word if known(word) else _misspelt_name(word) or word

    return _TYPO_WORD.sub(fix, norm)


def match_regency(text: str, known: Callable[[str], bool] | None = None) -> tuple[RegencyMatch, ...]:
    """Every place of Central Java named in ``text``, in text order.

    Args:
        text: free text, any case, punctuation and emoji allowed.
        known: when given, says which words are spelt right; any other word one typing
            error away from a name of seven letters or more is read as that name
            ("Purbalinga", "Temangung"), but never a known word ("serangan" is no
            misspelt "Serengan").

    Returns:
        One match per place named; shared bare names are resolved to the Kota here
        (``bare=True``) and may be overridden by ``find_regency``'s rules.
    """
    norm = _normalise(text)
    if known is not None:
        norm = _spelt_right(norm, known)
    found: list[RegencyMatch] = []
    for m in _PATTERN.finditer(norm):
        name, qual = m.group("name"), m.group("q") or m.group("q2")
        name = _SHARED_ALIASES.get(name, name)
        route = _is_route(norm, m.start(), m.end())
        if name in _SHARED:
            if qual in _KAB_QUALIFIERS:
                found.append(RegencyMatch(f"Kabupaten {name.title()}", m.group(0), m.start(), route=route))
            elif qual in _KOTA_QUALIFIERS:
                found.append(RegencyMatch(f"Kota {name.title()}", m.group(0), m.start(), route=route))
            else:
                found.append(RegencyMatch(f"Kota {name.title()}", m.group("name"), m.start("name"), bare=True,
                                          route=route))
            continue
        if m.group("q") is None and name in _WORD_CONTEXT and _plain_word_use(norm, m, name):
            continue
        # A qualifier on an unshared name ("kota kudus", "kota mungkid") changes nothing.
        alias = m.group(0) if m.group("q2") is None else m.group(0).rsplit(" ", 1)[0]
        before = norm[: m.start()].split()
        local = m.group("q") is None and bool(before) and before[-1] in _LOCAL_WORDS
        found.append(RegencyMatch(ALIASES[name], alias, m.start(), route=route, local=local))
    return tuple(found)


def find_regency_match(text: str, known: Callable[[str], bool] | None = None) -> RegencyMatch | None:
    """Like ``find_regency``, but also says which words named the place."""
    matches = match_regency(text, known)
    for wanted in ((False, False), (False, True), (True, False), (True, True)):
        for m in matches:
            if (m.bare, m.route) == wanted and not m.local:
                return m
    return next((m for m in matches if m.local), None)


def find_regency(text: str, known: Callable[[str], bool] | None = None) -> str | None:
    """The official name of the regency or city ``text`` names, else None.

    The first place that is neither a bare shared name nor one end of a route wins, so
    "Ungaran, Semarang" is Kabupaten Semarang and "tol Semarang-Solo dekat Bawen" too;
    then the first end of a route ("jalan Purwodadi-Blora": Grobogan); a bare shared
    name ("Semarang") counts only when nothing else is named, and then means the Kota;
    a name after a district or village word ("Kec. Karanganyar Kab. Demak") counts last.

    Args:
        text: free text, e.g. an SMS.
        known: which words are spelt right, to forgive typing errors in others (see
            ``match_regency``); None matches names as written only.

    Returns:
        One of ``REGENCIES``, or None when no place of Central Java is named.
    """
    m = find_regency_match(text, known)
    return m.regency if m else None


def place_words() -> frozenset[str]:
    """Every word of every place name and qualifier, for the routing lexicon (never "corrected")."""
    words = {w for name in (*ALIASES, *_SHARED, *_SHARED_ALIASES, *_KOTA_QUALIFIERS, *_KAB_QUALIFIERS)
             for w in name.split()}
    words |= {w.lower() for r in REGENCIES for w in r.split()}
    return frozenset(words)
