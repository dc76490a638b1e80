"""The 35 regencies and cities (kabupaten/kota) of Central Java, and how citizens name them.

``find_regency`` maps free SMS text to the official name of the regency or city it
names, so a complaint can also go to the ``kabkota`` group and to the leaders of that
regency (DESIGN.md).

Matching is on whole words of a lightly normalised text (casefolded, NFKC, punctuation
to spaces). Four names are shared by a kota and a kabupaten: Semarang, Magelang,
Pekalongan and Tegal. For those:

* ``kota X``, ``kodya X``, ``pemkot X``, ``walikota X`` pick the Kota;
* ``kab X``, ``kabupaten X``, ``pemkab X``, ``bupati X`` pick the Kabupaten;
* a capital or well-known town of the kabupaten (Ungaran, Ambarawa, Slawi, Kajen,
  Mungkid, Muntilan, ...) picks the Kabupaten, also when the bare name stands elsewhere
  in the same text ("Ungaran, Semarang");
* the bare name picks the **Kota**: the city is what most people mean by the bare name,
  and the Kota's own leaders then see it; a PIC can re-route with ``/alihkan``.

When several places are named, the first one that is not a bare shared name wins; a
bare shared name is used only when nothing else is named.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["ALIASES", "REGENCIES", "RegencyMatch", "find_regency", "find_regency_match", "match_regency"]

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
    "Kabupaten Banyumas": ("banyumas", "purwokerto", "pwt", "baturraden", "baturaden", "sokaraja", "ajibarang"),
    "Kabupaten Batang": ("batang",),
    "Kabupaten Blora": ("blora", "cepu"),
    "Kabupaten Boyolali": ("boyolali",),
    "Kabupaten Brebes": ("brebes", "bumiayu", "ketanggungan"),
    "Kabupaten Cilacap": ("cilacap", "majenang", "kroya"),
    "Kabupaten Demak": ("demak", "sayung"),
    "Kabupaten Grobogan": ("grobogan", "purwodadi"),
    "Kabupaten Jepara": ("jepara",),
    "Kabupaten Karanganyar": ("karanganyar", "tawangmangu", "colomadu"),
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
    "Kabupaten Sragen": ("sragen", "gemolong"),
    "Kabupaten Sukoharjo": ("sukoharjo", "kartasura", "solo baru", "solobaru", "bekonang"),
    "Kabupaten Tegal": ("slawi", "adiwerna"),
    "Kabupaten Temanggung": ("temanggung",),
    "Kabupaten Wonogiri": ("wonogiri",),
    "Kabupaten Wonosobo": ("wonosobo",),
    "Kota Salatiga": ("salatiga",),
    "Kota Semarang": ("tembalang", "banyumanik", "pedurungan", "ngaliyan", "gunungpati", "tlogosari", "kaligawe",
                      "mangkang"),
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
}

_NON_WORD = re.compile(r"[\W_]+")


def _normalise(text: str) -> str:
    return " ".join(_NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).split())


@dataclass(frozen=True, slots=True)
class RegencyMatch:
    """One place named in a text.

    Attributes:
        regency: the official name, one of ``REGENCIES``.
        alias: the words that named it, normalised (``"kab semarang"``, ``"ungaran"``).
        start: character offset of ``alias`` in the normalised text.
        bare: True when a shared name (Semarang, Magelang, Pekalongan, Tegal) stood
            without qualifier and was resolved by default to the Kota.
    """

    regency: str
    alias: str
    start: int
    bare: bool = False


def _alternation(words: Iterable[str]) -> str:
    # Longest first, so "solo baru" wins over "solo" and "wali kota" over "kota".
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


def _build_pattern() -> re.Pattern[str]:
    names = set(ALIASES) | _SHARED | set(_SHARED_ALIASES)
    quals = _KOTA_QUALIFIERS | _KAB_QUALIFIERS
    return re.compile(rf"(?<!\w)(?:(?P<q>{_alternation(quals)}) )?(?P<name>{_alternation(names)})(?!\w)")


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


def match_regency(text: str) -> tuple[RegencyMatch, ...]:
    """Every place of Central Java named in ``text``, in text order.

    Args:
        text: free text, any case, punctuation and emoji allowed.

    Returns:
        One match per place named; shared bare names are resolved to the Kota here
        (``bare=True``) and may be overridden by ``find_regency``'s rules.
    """
    norm = _normalise(text)
    found: list[RegencyMatch] = []
    for m in _PATTERN.finditer(norm):
        name, qual = m.group("name"), m.group("q")
        name = _SHARED_ALIASES.get(name, name)
        if name in _SHARED:
            if qual in _KAB_QUALIFIERS:
                found.append(RegencyMatch(f"Kabupaten {name.title()}", m.group(0), m.start()))
            elif qual in _KOTA_QUALIFIERS:
                found.append(RegencyMatch(f"Kota {name.title()}", m.group(0), m.start()))
            else:
                found.append(RegencyMatch(f"Kota {name.title()}", m.group("name"), m.start("name"), bare=True))
            continue
        if qual is None and name in _WORD_CONTEXT and _plain_word_use(norm, m, name):
            continue
        # A qualifier on an unshared name ("kota kudus", "kota mungkid") changes nothing.
        found.append(RegencyMatch(ALIASES[name], m.group(0), m.start()))
    return tuple(found)


def find_regency_match(text: str) -> RegencyMatch | None:
    """Like ``find_regency``, but also says which words named the place."""
    matches = match_regency(text)
    for m in matches:
        if not m.bare:
            return m
    # Only bare shared names: the first one, i.e. a Kota.
    return matches[0] if matches else None


def find_regency(text: str) -> str | None:
    """The official name of the regency or city ``text`` names, else None.

    The first place that is not a bare shared name wins, so "Ungaran, Semarang" is
    Kabupaten Semarang; a bare shared name ("Semarang") counts only when nothing else
    is named, and then means the Kota.

    Args:
        text: free text, e.g. an SMS.

    Returns:
        One of ``REGENCIES``, or None when no place of Central Java is named.
    """
    m = find_regency_match(text)
    return m.regency if m else None
