"""Sorting inbound SMS into the five kinds of docs/sop.md and complaints into groups.

Everything here is a pure function of the text, the sender and the ``RoutingRules``
(built from config.toml by the caller), compiled once by ``Classifier``; the only I/O is
reading the package's data files (``data/keywords.toml``, ``data/abbreviations.tsv``,
``data/lexicon.txt`` and PySastrawi's root dictionary), once per process.

How a text is read, like a careful human would:

1. ``normalize``: NFKC and case folding (the "bold" letters of spam become plain), ``kata2``
   -> ``kata kata``, digits written for letters where that makes a known word (``b4njir``),
   punctuation and emoji to spaces, stretched letters collapsed (``parahhh``), and SMS
   abbreviations and Javanese words expanded (``data/abbreviations.tsv``: ``jln`` ->
   ``jalan``, ``gak`` -> ``tidak``, ``banyu`` -> ``air``).
2. Each word is then known by its forms: itself; its roots under Indonesian and Javanese
   affixes (``kebanjiran``, ``banjirnya``, ``dibanjiri`` -> ``banjir``; ``penipuan`` -> ``tipu``;
   ``rusake`` -> ``rusak``), by rule and by the Sastrawi stemmer; and, for a word that is in
   no dictionary (PySastrawi's roots, ``data/lexicon.txt``, place names), the one keyword
   word it is a slip of: vowels dropped (``jmbtn`` -> ``jembatan``, ``lstrik`` -> ``listrik``)
   or one typing error (two from nine letters on: ``puskesmaz``, ``kebakran``), never in
   words shorter than six letters, where one error turns a word into another.
3. A keyword of one word matches a text word having it among its forms, except that keyword
   words of three letters or fewer (``api``, ``kk``, ``ktp``) only take possessive suffixes
   (``ktpnya``), because prefix-stripping turns too many ordinary words into them. A keyword
   written in a derived form (``pemadaman``) matches only that form: write the root
   (``padam``) to match all of them. The words of a phrase keyword must come in order, each
   within two words of the previous (``jalan rusak`` matches ``jalan ke sawah rusak``).

Negative keywords (contiguous phrases) cancel the matches of their group they overlap
(``kereta api`` cancels ``api``, not a ``banjir`` elsewhere); a single-word negative keyword
that overlaps none (``simulasi``) cancels the whole group; a ``*`` stands for any keyword of
the group (``tidak ada *`` cancels ``tidak ada banjir`` and ``tidak ada kebakaran``).

Words around a keyword that change its meaning cancel it too (``_context_reason``, shown
as "cancelled" by ``laporgub classify``): a simile ("kayak sawah"), a landmark ("depan
pasar", "kebakaran gudang di pasar"), a count ("40 KK"), a village's name, pests that
"ngamuk", a market's "semena-mena"; for darurat an event not happening now ("hampir",
"mau", "tahun lalu", "tahun 2019", "gempa 2006", "kalau ada", "takut ada", "sudah 3x",
"kalau hujan", a leak, a landfill, a drill, a programme's story). The lights of a public
place ("alun2 lampunya mati") move from energi to infrastruktur; in a report of fraud,
what the swindler "said" happened is no emergency. Some evidence no list can hold
(``_built_in_hits``): a thing and its state far apart in one clause (``_STATES``: a road
and its damage, a river and its pollution, a person sold, the ground moving), violence
going on now and a flood's depth in numbers; a negative keyword of the group vetoes it
like any match.

Keywords weigh 1, or ``weak_weight`` (0.5) when written with a leading ``~``: words that
often stand in passing in complaints about something else (``~ambulans`` in an accident, a
``~proyek`` in a wage complaint). A group receives the complaint when its matches, times its
``group_weights`` entry (default 1), reach ``min_score`` (1), weak ones counting only when no
group has a strong keyword or the group's weight is above 1; when no group does, every
topic group with some evidence receives it; when none has any, ``pelayanan_publik``.
``kabkota`` is added when a regency or city is named (``laporgub.gazetteer``); a kecamatan
or village alone sets the regency only. An SMS too short to be a complaint still is one
when it names an emergency ("kebakaran!!"): a careful human would page.

Spam needs evidence: spam phrases (a phrase weighs 2, a word 1) plus signs of a mass
message (a link, a phone number to contact, decorated letters, a reader addressed as
"anda"), 2 in all with at least one spam phrase; more than the topic keywords found
(words inside a link do not count) plus a citizen's voice ("saya", "warga", "belum"); two
separate pieces of evidence, unless the message has nothing else to it ("mama minta pulsa
..."); and no sign of a citizen reporting them (``COMPLAINT_MARKERS``: "saya ditipu", "lapor
ada", "desa kami"...). Such a report is a complaint and also goes to ``sosial_hukum``: when
in doubt, a complaint (docs/sop.md). Scam signs (``_SCAM_PHRASES``, a link with a call to cash
in, an ``.apk``, a donation to an account) make spam whatever official words the text
borrows, unless a citizen says it happened to them (``_MARKERS_AGAINST_SCAM``); so are a job
advert with a way to apply or a fee, and news of the reader's relative in trouble with a
transfer.

A status query (by ticket number, by a query word and any identifier, or by a mention of an
earlier report with a question about it) is one only when no clause of the text reports a
new fact (``_new_fact``): a complaint is never lost to another kind.

Beside the rules, a learned model (``laporgub.routing_model``, ``RoutingRules.model``) has
two uses once the rules have decided: where no topic group has any evidence, its groups
instead of the ``pelayanan_publik`` catch-all (never a group the rules cancelled or an admin's
negative keyword stands against); and a group resting on one shipped keyword beside another
group is dropped when the model finds it unlikely (never darurat, never the last group, never
a keyword the admin added). It decides no kind and no regency.

``Classifier.route`` gives the groups of a text already known to be a complaint, for
re-routing a registered ticket; ``Classifier.explain`` says why, for ``laporgub classify``.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import logging
import re
import tomllib
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from laporgub.gazetteer import RegencyMatch, find_regency_match, place_words, places
from laporgub.routing_model import MODEL_GROUPS, ModelOpinion, RoutingModel, features, load_model

logger = logging.getLogger(__name__)

__all__ = [
    "CATEGORY_GROUPS",
    "COMPLAINT_MARKERS",
    "KINDS",
    "ROUTING_ORDER",
    "Classification",
    "Classifier",
    "Explanation",
    "RoutingRules",
    "is_operator_sender",
    "load_abbreviations",
    "load_default_rules",
    "normalize",
    "parse_ticket_number",
    "rules_from_toml",
]

#: The kinds an inbound SMS is sorted into (docs/sop.md, "The kinds of SMS").
KINDS: tuple[str, ...] = ("complaint", "spam", "operator", "status_query", "too_short")

#: Topic groups that keywords route to.
CATEGORY_GROUPS: tuple[str, ...] = (
    "sosial_hukum", "kesehatan", "ekonomi_industri", "darurat", "esdm_lh", "pertanian", "infrastruktur", "energi",
)

#: Every group a classification may return, in the order groups are returned (the order of
#: docs/sop.md's group table; ``channel`` is added by the caller). Groups of the rules not listed
#: here follow, in rules order.
ROUTING_ORDER: tuple[str, ...] = (*CATEGORY_GROUPS, "kabkota", "pelayanan_publik")

_FALLBACK_GROUP = "pelayanan_publik"
_REGENCY_GROUP = "kabkota"
_EMERGENCY_GROUP = "darurat"
_SPAM = "spam"
_FRAUD_GROUP = "sosial_hukum"
_WEAK_MARK = "~"
_WILDCARD = "*"

# Gap allowed between consecutive words of a phrase keyword (positive and spam lists).
_PHRASE_GAP = 2

# --------------------------------------------------------------------------
# Package data: abbreviations and the lexicon of known words.


def _data_text(name: str) -> str:
    return resources.files("laporgub").joinpath(f"data/{name}").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def load_abbreviations() -> Mapping[str, str]:
    """The shipped abbreviation dictionary (``data/abbreviations.tsv``): token -> expansion.

    Returns:
        A read-only mapping of lowercase tokens to lowercase words.
    """
    table: dict[str, str] = {}
    for number, line in enumerate(_data_text("abbreviations.tsv").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        token, sep, expansion = line.partition("\t")
        if not sep or not token.strip() or not expansion.strip():
            raise ValueError(f"data/abbreviations.tsv:{number}: expected 'token<TAB>expansion'")
        table[token.strip().lower()] = " ".join(expansion.lower().split())
    return MappingProxyType(table)


_ABBREVIATIONS: Mapping[str, str] = load_abbreviations()


class _Sastrawi:
    """PySastrawi's stemmer and root dictionary, loaded once; absent if the package is missing."""

    def __init__(self) -> None:
        try:
            # PySastrawi ships no type information.
            from Sastrawi.Dictionary.ArrayDictionary import ArrayDictionary  # type: ignore[import-untyped]
            from Sastrawi.Stemmer.Stemmer import Stemmer  # type: ignore[import-untyped]
            from Sastrawi.Stemmer.StemmerFactory import StemmerFactory  # type: ignore[import-untyped]
        except ImportError:
            logger.warning("event=sastrawi_missing detail=%s", "stemming by affix rules only, no typo tolerance")
            self.words: frozenset[str] = frozenset()
            self._stemmer: Any = None
            return
        words = [w.strip() for w in StemmerFactory().get_words() if w.strip()]
        self.words = frozenset(words)
        # The uncached Stemmer: its CachedStemmer keeps every word it ever saw; ours is bounded.
        self._stemmer = Stemmer(ArrayDictionary(words))

    def __bool__(self) -> bool:
        return self._stemmer is not None

    def stem(self, word: str) -> str | None:
        """The dictionary root of ``word``, or None when Sastrawi finds none."""
        if self._stemmer is None:
            return None
        root = self._stemmer.stem_word(word)
        return root if root != word and root in self.words else None


@lru_cache(maxsize=1)
def _sastrawi() -> _Sastrawi:
    return _Sastrawi()


@lru_cache(maxsize=1)
def _lexicon_words() -> frozenset[str]:
    return frozenset(w.strip() for w in _data_text("lexicon.txt").splitlines() if w.strip() and not w.startswith("#"))


@lru_cache(maxsize=1)
def _base_lexicon() -> frozenset[str]:
    """Words known to be spelt right: Sastrawi's roots, ``data/lexicon.txt``, abbreviations, place names."""
    abbreviations = set(_ABBREVIATIONS) | {w for v in _ABBREVIATIONS.values() for w in v.split()}
    kecamatan, villages = places()
    names = {w for name in (*kecamatan, *villages) for w in name.split()}
    return frozenset(_sastrawi().words | _lexicon_words() | abbreviations | place_words() | names)


# --------------------------------------------------------------------------
# Normalisation.

_NFKC_TRANSLATE = str.maketrans({"’": "'", "‘": "'", "`": "'"})
_REDUPLICATION = re.compile(r"(?<![^\W\d_])([^\W\d_]{3,})2(an|nya|annya|kan|in|e|ne|ku|mu|i)?(?!\w)")
_NON_WORD = re.compile(r"[\W_]+")
_DIGIT_LETTER = re.compile(r"(?<=\d)(?=[^\W\d_])|(?<=[^\W\d_])(?=\d)")
_LETTER_RUN = re.compile(r"([^\W\d_])\1{2,}")
_VOWELS = frozenset("aeiou")
_FINAL_DOUBLE = re.compile(r"^([^\W\d_]{3,})([^\W\d_])\2$")
# Digits written for letters inside a word ("b4njir", "s4mpah", "sl0t"); only when that spells a known word.
_LEET = re.compile(r"^[a-z]+(?:[013457][a-z]+)+$")
_LEET_MAP = str.maketrans("013457", "oieast")
_HAS_DIGIT = re.compile(r"\d")


def _reduplicate(m: re.Match[str]) -> str:
    """``kata2`` -> ``kata kata``; with a suffix after the 2, on the second word (``ugal2an`` -> ``ugal ugalan``)."""
    return f"{m.group(1)} {m.group(1)}{m.group(2) or ''}"


class _Normalizer:
    """``normalize`` with a given abbreviation table and lexicon (for digits written as letters)."""

    _CACHE_LIMIT = 100_000

    def __init__(self, abbreviations: Mapping[str, str], lexicon: frozenset[str] | Callable[[], frozenset[str]]):
        self.abbreviations = abbreviations
        self._lexicon = lexicon
        self._words: dict[str, str] = {}

    @property
    def lexicon(self) -> frozenset[str]:
        if callable(self._lexicon):
            self._lexicon = self._lexicon()
        return self._lexicon

    def __call__(self, text: str) -> str:
        if "’" in text or "‘" in text or "`" in text:  # (str.translate is slow on every text)
            text = text.translate(_NFKC_TRANSLATE)
        s = unicodedata.normalize("NFKC", text).casefold()
        s = _REDUPLICATION.sub(_reduplicate, s)
        s = _NON_WORD.sub(" ", s)
        if _HAS_DIGIT.search(s):
            s = " ".join(self._unleet(t) for t in s.split())
            s = _DIGIT_LETTER.sub(" ", s)
        cache = self._words
        words: list[str] = []
        for token in s.split():
            word = cache.get(token)
            if word is None:
                if len(cache) >= self._CACHE_LIMIT:
                    cache.clear()
                word = cache[token] = self._word(token)
            words.append(word)
        return " ".join(words)

    def _word(self, token: str) -> str:
        # Acronyms without vowels keep their letters ("pppk", the contract civil servants).
        if _VOWELS.intersection(token):
            token = _LETTER_RUN.sub(r"\1", token)
            if len(token) >= 5:
                token = _FINAL_DOUBLE.sub(r"\1\2", token)
        return self.abbreviations.get(token, token)

    def _unleet(self, token: str) -> str:
        if not _LEET.match(token):
            return token
        plain = token.translate(_LEET_MAP)
        return plain if plain in self.lexicon or plain in self.abbreviations else token


_DEFAULT_NORMALIZER = _Normalizer(_ABBREVIATIONS, _base_lexicon)


def normalize(text: str) -> str:
    """The form of a text that keywords are matched against (with the shipped abbreviations).

    Steps: NFKC (folds the "bold" Unicode letters of spam) and casefold; ``kata2`` ->
    ``kata kata``; every character that is not a letter or digit (punctuation, emoji,
    underscores) becomes a space; digits inside a word that stand for letters are read as
    letters when that spells a known word (``b4njir`` -> ``banjir``), other digits and letters
    are split (``3kg`` -> ``3 kg``); in words with a vowel, runs of three or more of one letter
    collapse to one (``parahhh`` -> ``parah``; two letters stay, so ``maaf`` and ``saat`` are safe;
    ``pppk`` has no vowel and stays), and a doubled last letter of a word of five letters or
    more is undoubled (``banjirr`` -> ``banjir``); finally SMS abbreviations and Javanese words
    are expanded (``yg`` -> ``yang``, ``gak`` -> ``tidak``, ``jln`` -> ``jalan``, ``rs`` -> ``rumah
    sakit``, ``dalan`` -> ``jalan``, ``banyu`` -> ``air``).

    Args:
        text: any text.

    Returns:
        Lowercase words separated by single spaces (empty for an empty text).
    """
    return _DEFAULT_NORMALIZER(text)


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
    """Whether ``sender`` is not a subscriber number (the ``operator`` kind of docs/sop.md).

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
# Affixes.

_PREFIXES = ("memper", "diper", "meng", "meny", "peng", "peny", "mem", "men", "pem", "pen", "ber", "ter", "per",
             "me", "pe", "di", "ke", "se", "be", "nge", "ng", "ny")
# The nasal prefixes drop the first consonant of the root before a vowel (tipu -> menipu);
# Javanese ng- and ny- do the same (kirim -> ngirim, colong -> nyolong).
_NASAL = {"men": "t", "pen": "t", "mem": "p", "pem": "p", "meny": "s", "peny": "s", "meng": "k", "peng": "k",
          "ng": "k", "ny": "sc"}
_SUFFIXES = ("kannya", "annya", "inya", "nipun", "ipun", "nya", "kan", "lah", "ake", "ane", "an", "in", "ku", "mu",
             "ne", "i", "e")
_SHORT_SUFFIXES = ("nipun", "nya", "ne", "ku", "mu")
# Prefixes that are also the start of many plain words: only before roots of four letters or more.
_WEAK_PREFIXES = frozenset({"be", "nge", "ng", "ny"})
_SHORT_WORD = 3
# What the Sastrawi stemmer can take off (its prefixes and suffixes): a word with none of them is its own root.
_STEMMABLE = re.compile(r"^(?:di|ke|se|be|me|pe|te)|(?:i|kan|an|lah|kah|tah|pun|ku|mu|nya)$")
# Javanese nasal prefixes of one letter ("mbayar", "ndandani"): only before a consonant.
_JAVANESE_NASAL = ("m", "n")
# The nasal that replaces a root's first consonant in colloquial verbs ("mukul": pukul, "nabrak": tabrak).
_COLLOQUIAL_NASAL = {"m": "p", "n": "t"}


def _affix_roots(token: str) -> tuple[frozenset[str], frozenset[str]]:
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
            if len(root) < 3 or (p in _WEAK_PREFIXES and len(root) < 4):
                continue
            if p != "ny":  # "nyamuk" is no "amuk": Javanese ny- always stands for a lost s or c
                long_roots.add(root)
            if p in _NASAL and root[0] in _VOWELS:
                long_roots.update(c + root for c in _NASAL[p])
    for p in _JAVANESE_NASAL:
        if token.startswith(p) and len(token) >= 5 and token[1] not in _VOWELS and token[1] != "g":
            long_roots.add(token[1:])
    short_roots = {token}
    for s in _SHORT_SUFFIXES:
        if token.endswith(s) and len(token) - len(s) >= 2:
            short_roots.add(token[: -len(s)])
    return frozenset(long_roots), frozenset(short_roots)


def _skeleton(word: str) -> str:
    return word[:1] + "".join(ch for ch in word[1:] if ch not in _VOWELS)


def _only_vowels_dropped(short: str, long: str) -> bool:
    """Whether ``long`` is ``short`` with some vowels put back (``jmbtn`` in ``jembatan``)."""
    i = 0
    for ch in long:
        if i < len(short) and ch == short[i]:
            i += 1
        elif ch not in _VOWELS:
            return False
    return i == len(short)


@dataclass(frozen=True, slots=True)
class _Forms:
    """How one text word may be read: forms for long keyword words, for short ones, a correction."""

    long: frozenset[str]
    short: frozenset[str]
    correction: str | None = None
    #: The forms that start some keyword of the classifier (what the matchers look up).
    firsts: frozenset[str] = frozenset()
    every: frozenset[str] = frozenset()
    #: The roots by affixes and the stemmer alone, whatever the keyword lists (the model's features).
    base: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "every", self.long | self.short)

    def matches(self, word: str) -> bool:
        return word in (self.short if len(word) <= _SHORT_WORD else self.long)


class _Reader:
    """Reads text words into their forms (roots, stems, typo corrections), with a bounded cache.

    Owned by one ``Classifier``: the vocabulary a misspelt word may be corrected to is
    the compiled rules' own keyword words.
    """

    _CACHE_LIMIT = 200_000

    def __init__(self, vocabulary: Iterable[str], lexicon: frozenset[str], *, typo_min_length: int,
                 typo_two_edit_length: int) -> None:
        self._sastrawi = _sastrawi()
        vocab = {w for w in vocabulary if w.isalpha()}
        self._lexicon = lexicon | vocab
        self._typo_min_length = typo_min_length
        self._typo_two_edit_length = typo_two_edit_length
        self._by_first: dict[str, list[str]] = {}
        self._by_skeleton: dict[str, set[str]] = {}
        for w in sorted(vocab):
            if len(w) >= max(typo_min_length, 1):
                self._by_first.setdefault(w[0], []).append(w)
            if len(w) >= 4 and len(_skeleton(w)) >= 3:
                self._by_skeleton.setdefault(_skeleton(w), set()).add(w)
        self._fuzzy = _load_rapidfuzz() if typo_min_length > 0 else None
        self._typos = typo_min_length > 0 and bool(self._sastrawi)
        self._cache: dict[str, _Forms] = {}
        self._known_cache: dict[str, bool] = {}
        self.first_words: frozenset[str] = frozenset()

    def forms(self, token: str) -> _Forms:
        found = self._cache.get(token)
        if found is None:
            if len(self._cache) >= self._CACHE_LIMIT:
                self._cache.clear()
            found = self._cache[token] = self._read(token)
        return found

    def _read(self, token: str) -> _Forms:
        if not token.isalpha():
            single = frozenset((token,))
            return _Forms(single, single, None, single & self.first_words, base=single)
        long, short = _affix_roots(token)
        stem = self._sastrawi.stem(token) if len(token) > 4 and _STEMMABLE.search(token) else None
        if stem is not None:
            long = long | {stem}
        base = long
        if token[:1] in _COLLOQUIAL_NASAL and len(token) >= 5 and token[1] in _VOWELS and not self._known(token, long):
            # Colloquial and Javanese verbs drop the root's first consonant for a nasal with no
            # "me-" before it ("mukulin" = memukuli, "nabrak" = menabrak): only in words no
            # dictionary knows, so "makan" never becomes "pakan".
            restored = _COLLOQUIAL_NASAL[token[0]] + token[1:]
            long = long | _affix_roots(restored)[0]
        correction = self._correct(token, long) if self._typos else None
        if correction is not None:
            fixed_long, fixed_short = _affix_roots(correction)
            long, short = long | fixed_long, short | fixed_short
        return _Forms(long, short, correction, (long | short) & self.first_words, base=base)

    def _known(self, token: str, roots: frozenset[str]) -> bool:
        return token in self._lexicon or any(r in self._lexicon for r in roots if len(r) >= 3)

    def known(self, word: str) -> bool:
        """Whether ``word`` (lowercase) is spelt right: in the lexicon, or affixed to a word in it."""
        if not self._typos:
            return True
        found = self._known_cache.get(word)
        if found is None:
            if len(self._known_cache) >= self._CACHE_LIMIT:
                self._known_cache.clear()
            found = self._known_cache[word] = self._known(word, _affix_roots(word)[0])
        return found

    def _correct(self, token: str, roots: frozenset[str]) -> str | None:
        if len(token) < 3 or self._known(token, roots):
            return None
        # Vowels dropped ("jmbtn", "lstrk", "psien"): the one keyword word it spells.
        skeleton = _skeleton(token)
        if len(skeleton) >= 3:
            spelt = [w for w in self._by_skeleton.get(skeleton, ()) if len(w) > len(token)
                     and _only_vowels_dropped(token, w)]
            if len(spelt) == 1:
                return spelt[0]
        # One slip of the thumb, two in long words; never in short words, where it turns one word into another.
        if self._fuzzy is None or len(token) < self._typo_min_length:
            return None
        choices = self._by_first.get(token[0])
        if not choices:
            return None
        edits = 2 if len(token) >= self._typo_two_edit_length else 1
        extract, distance = self._fuzzy
        found = extract(token, choices, scorer=distance, score_cutoff=edits, limit=3)
        if not found:
            return None
        best = min(d for _, d, _ in found)
        winners = [w for w, d, _ in found if d == best]
        return winners[0] if len(winners) == 1 else None


@lru_cache(maxsize=1)
def _load_rapidfuzz() -> tuple[Callable[..., Any], Callable[..., Any]] | None:
    try:
        from rapidfuzz import process
        from rapidfuzz.distance import OSA
    except ImportError:
        logger.warning("event=rapidfuzz_missing detail=%s", "typo tolerance limited to dropped vowels")
        return None
    # Optimal string alignment: a swap of two neighbouring letters ("sakti"/"sakit") is one edit.
    return process.extract, OSA.distance


# --------------------------------------------------------------------------
# Keyword matching.


@dataclass(frozen=True, slots=True)
class _Hit:
    label: str  # group key, "spam", or an internal label
    keyword: str  # as written in the rules, without the weak mark
    start: int  # token index of the first word
    end: int  # token index of the last word
    weak: bool = False

    def overlaps(self, other: _Hit) -> bool:
        return self.start <= other.end and other.start <= self.end

    @property
    def words(self) -> int:
        return self.end - self.start + 1


# (list, label, keyword as written, words, weak, gap): "list" names the keyword list
# ("topic", "negative", "spam", ...), "label" the group or an internal label.
_Entry = tuple[str, str, str, tuple[str, ...], bool, int]


class _Index:
    """Every keyword list of a classifier (single words and phrases), found in one pass over a text."""

    def __init__(self, normalizer: Callable[[str], str]) -> None:
        self._normalize = normalizer
        # first word -> [entry], and first word -> second word -> [entry]
        self._singles: dict[str, list[_Entry]] = {}
        self._pairs: dict[str, dict[str, list[_Entry]]] = {}
        self._words: dict[str, set[str]] = {}
        self._max_gap = 0

    def add(self, name: str, entries: Iterable[tuple[str, str]], gap: int) -> None:
        """Index the keywords of list ``name``: (label, keyword) pairs; phrase words ``gap`` apart at most."""
        seen: set[tuple[str, tuple[str, ...]]] = set()
        words_seen = self._words.setdefault(name, set())
        self._max_gap = max(self._max_gap, gap)
        for label, keyword in entries:
            weak = keyword.startswith(_WEAK_MARK)
            shown = keyword.removeprefix(_WEAK_MARK).strip()
            words = tuple(self._normalize(shown).split())
            if not words or (label, words) in seen:
                continue
            seen.add((label, words))
            words_seen.update(words)
            entry = (name, label, shown, words, weak, gap)
            if len(words) == 1:
                self._singles.setdefault(words[0], []).append(entry)
            else:
                self._pairs.setdefault(words[0], {}).setdefault(words[1], []).append(entry)

    def has(self, name: str) -> bool:
        return bool(self._words.get(name))

    def words(self, *names: str) -> set[str]:
        return set().union(*(self._words.get(n, set()) for n in names))

    def first_words(self) -> frozenset[str]:
        return frozenset(self._singles) | frozenset(self._pairs)

    def find(self, forms: Sequence[_Forms]) -> dict[str, list[_Hit]]:
        """Every keyword found in the text read as ``forms``, by list name."""
        found: dict[str, list[_Hit]] = {}
        singles, pairs, n = self._singles, self._pairs, len(forms)
        reach = self._max_gap + 2
        for i, f in enumerate(forms):
            for first in f.firsts:
                if not f.matches(first):
                    continue
                for name, label, keyword, _, weak, _ in singles.get(first, ()):
                    found.setdefault(name, []).append(_Hit(label, keyword, i, i, weak))
                seconds = pairs.get(first)
                if seconds is None:
                    continue
                # The second word at its first place within reach, then the rest in order.
                placed: set[str] = set()
                for j in range(i + 1, min(i + reach, n)):
                    fj = forms[j]
                    for second in fj.every.intersection(seconds):
                        if second in placed or not fj.matches(second):
                            continue
                        placed.add(second)
                        for name, label, keyword, words, weak, gap in seconds[second]:
                            if j - i - 1 > gap:
                                continue
                            end = _rest(forms, j, words[2:], gap)
                            if end is not None:
                                found.setdefault(name, []).append(_Hit(label, keyword, i, end, weak))
        return found


def _rest(forms: Sequence[_Forms], pos: int, words: tuple[str, ...], gap: int) -> int | None:
    for word in words:
        for j in range(pos + 1, min(pos + 2 + gap, len(forms))):
            if forms[j].matches(word):
                pos = j
                break
        else:
            return None
    return pos


@dataclass(frozen=True, slots=True)
class _Wildcard:
    """A negative keyword with ``*``: the words before and after a keyword match of the group."""

    group: str
    keyword: str
    before: tuple[str, ...]
    after: tuple[str, ...]

    def wraps(self, hit: _Hit, forms: Sequence[_Forms]) -> bool:
        start, end = hit.start - len(self.before), hit.end + len(self.after)
        if start < 0 or end >= len(forms):
            return False
        return (all(forms[start + k].matches(w) for k, w in enumerate(self.before))
                and all(forms[hit.end + 1 + k].matches(w) for k, w in enumerate(self.after)))


# --------------------------------------------------------------------------
# Built-in phrase lists (not configurable: they define the kinds, not the routing).

# Words that carry no content on their own: greetings, forms of address, fillers.
_FILLER = frozenset({
    "halo", "hallo", "helo", "hello", "hai", "hay", "hi", "hei", "hey", "ping", "tes", "test", "testing", "tst",
    "cek", "coba", "assalamualaikum", "asalamualaikum", "assalamu", "alaikum", "assalamualaikom", "aslm",
    "assalammualaikum", "aslmkm", "askum", "ass", "wr", "wb", "wrwb", "warahmatullahi",
    "wabarakatuh", "salam", "selamat", "met", "pagi", "siang", "sore", "malam", "permisi", "punten", "nuwun",
    "sewu", "sugeng", "enjing", "dalu", "siyang", "matur", "min", "mimin", "admin", "bapak", "ibu", "mas", "mbak",
    "kak", "om", "gubernur", "terima", "kasih", "oke", "ya", "iya", "yes", "no", "nggih", "injih", "inggih", "sip",
    "siap", "maaf", "dan", "yang", "di", "ke", "dari", "saya", "kami", "ini", "itu", "apa", "ada", "info",
    "laporgub", "lapor", "gub", "sms", "tidak", "nomor", "mau", "tolong", "mohon", "pak", "bu", "nih", "dong",
    "sih", "deh", "kok", "lho", "loh", "hehe", "wkwk", "terhormat", "yth", "kepada", "untuk",
    "salah", "kirim", "sambung", "gan", "sis", "bro", "p",
})

# Phrases showing that a citizen reports fraud or gambling rather than sends it:
# any of them outside the spam phrases makes a would-be spam a complaint.
COMPLAINT_MARKERS: tuple[str, ...] = (
    "ditipu", "tertipu", "penipuan", "penipu", "korban", "modus", "resah", "meresahkan", "mengaku", "ngaku",
    "mengatasnamakan", "catut", "saya lapor", "mau lapor", "ingin lapor", "lapor ada", "melaporkan",
    "tolong ditindak", "mohon ditindak", "ditindak tegas", "diberantas", "berantas", "diusut", "diteror", "teror",
    "marak", "desa kami", "kampung kami", "warga kami", "lingkungan kami", "daerah kami", "dusun kami", "anak saya",
    "suami saya", "istri saya", "orang tua saya", "saya dapat sms", "dapat sms", "ada sms", "terima sms", "sms dari",
    "sms penipuan", "pesan penipuan", "nomor penipu", "mohon diblokir", "tolong diblokir", "sering dapat",
    "kecanduan", "ketagihan", "terjerat", "terlilit", "saya transfer", "uang saya", "hilang uang", "dibawa kabur",
    "hoaks", "hoax", "palsu", "apakah benar", "benarkah", "resmi atau",
)

# Status queries (docs/sop.md): a status phrase alone decides; otherwise a mention of an
# earlier report ("laporan saya", "sudah lapor") near a question about its fate does.
_STATUS_PHRASES = (
    "cek laporan", "cek tiket", "cek status", "cek aduan", "cek pengaduan", "status laporan", "status tiket",
    "status aduan", "status pengaduan", "nomor tiket", "no tiket", "tiket saya", "tiket kami", "tiketnya apa",
    "kelanjutan laporan", "tindak lanjut laporan", "perkembangan laporan", "progres laporan", "nasib laporan",
    "info laporan", "kelanjutan aduan", "perkembangan aduan", "kabar laporan", "laporan saya bagaimana",
    "sampai mana laporan",
)
_STATUS_ANCHORS_MINE = (
    "laporan saya", "laporan kami", "laporan kemarin", "laporan sebelumnya", "laporan yang lalu",
    "laporan minggu lalu", "laporan bulan lalu", "laporan tadi", "laporan dulu", "aduan saya", "aduan kami",
    "aduanku", "laporanku", "keluhan saya", "pengaduan saya", "sms saya", "pesan saya", "sudah lapor",
    "pernah lapor", "kemarin lapor", "sudah sms", "sudah kirim sms", "sudah mengadu", "sudah melapor",
    "saya lapor", "sejak lapor", "sejak saya lapor", "laporan soal", "laporan tentang", "laporan mengenai",
    "laporan terkait", "aduan soal", "aduan tentang", "pengaduan soal", "pengaduan tentang",
)
_STATUS_ANCHORS_TIGHT = ("laporan", "aduan", "tiket", "keluhan", "pengaduan")
# Questions about a report's fate, and how many words from the mention they may stand:
# about the report itself, far; about a reply, far but only next to a negation or question
# word ("kok belum dibalas", "diproses tidak", not "mohon ditanggapi", which asks for a reply
# to this SMS); general ones ("bagaimana", "kapan"), near.
_STATUS_ASKS_FAR = (
    "kelanjutan", "kelanjutannya", "lanjutannya", "tindak lanjut", "perkembangan", "progres", "sampai mana",
    "status", "nasib", "sudah sampai",
)
_STATUS_ASKS_REPLY = (
    "diproses", "dibalas", "balasan", "ditanggapi", "tanggapan", "direspon", "direspons", "respon", "dijawab",
    "jawaban", "dibaca", "tindaklanjut", "ditindaklanjuti", "kabar", "diteruskan", "ditangani", "diterima",
    "ditindak", "digubris", "diurus", "respons",
)
_STATUS_ASKS_NEAR = ("bagaimana", "kapan", "cek", "berapa", "nomor")
_QUESTION_WORDS = frozenset({"belum", "tidak", "kok", "apakah", "apa", "sudah", "tanpa", "kapan", "kenapa",
                             "mengapa", "pernah", "kah", "gimana", "bagaimana", "blas", "sama"})
_FAR = 10
_NEAR = 3
_TIGHT = 2  # from a bare "laporan"/"tiket" mention
_REPLY_BEFORE = 3
_REPLY_AFTER = 4
# "sudah lapor ke kelurahan": an earlier report elsewhere, not to this service.
_ELSEWHERE_PREPS = frozenset({"ke", "kepada", "di"})
_HERE = frozenset({"sini", "lapor", "laporgub", "gubernur", "bapak", "ibu", "sms", "nomor", "layanan", "pusat",
                   "admin", "anda", "pemprov", "provinsi"})
_OTHER_OFFICES = frozenset({
    "rt", "rw", "lurah", "kades", "camat", "kepala", "desa", "kelurahan", "kecamatan", "dinas", "polisi", "polsek",
    "polres", "bupati", "walikota", "pln", "pdam", "puskesmas", "kantor", "pemdes", "pemkab", "pemkot", "dprd",
    "perangkat", "babinsa", "bhabinkamtibmas", "dusun", "kadus",
})
_STATUS_ALONE = frozenset({"status", "statusnya", "cek status", "cek laporan", "cek tiket"})
# "CEK 240311", "STATUS LG-2024-001234", "cek#55621": a query word, then an identifier of any
# shape (digits, with short letter codes around them), then nothing but courtesy words.
_QUERY_WORDS = frozenset({"cek", "status", "statusnya", "tiket", "ticket", "tiketnya", "check", "lacak"})
_REF_COURTESY = frozenset({"bagaimana", "gimana", "berapa", "terima", "kasih", "makasih", "nomor", "laporan",
                           "aduan", "pengaduan", "info", "kabar", "sudah", "belum", "tiket", "status"})
_REF_CODE_LETTERS = 5
_REF_MIN_DIGITS = 4
# Status query or a new fact? A reply about an old report is owed only when the message asks
# about the report and tells nothing new: clauses that neither name nor ask about the report
# but hold a topic keyword, or a fresh event ("tadi pagi", "hari ini", "makin parah"), are a
# complaint (a death threat "sudah lapor RT tapi dicuekin" must reach a group).
_CLAUSE_SPLIT = re.compile(r"[.!?;,:&\n()\[\]]+|(?=\b(?:tapi|tp|namun|tetapi|padahal|pdhl|skrg|sekarang|saiki)\b)",
                           re.IGNORECASE)
_FRESH_WORDS = frozenset({"tadi", "barusan", "semalam", "makin", "semakin", "terulang", "bertambah", "kini"})
_FRESH_PHRASES = (("hari", "ini"), ("pagi", "ini"), ("siang", "ini"), ("sore", "ini"), ("malam", "ini"),
                  ("kejadian", "lagi"), ("tambah", "parah"), ("kembali", "terjadi"), ("saat", "ini"))
_NOW_WORDS = frozenset({"sekarang"})
_UNTIL = frozenset({"sampai", "hingga", "smp", "sampe"})
_UPDATE_WORDS = frozenset({"update", "updet", "apdet", "menindaklanjuti"})

# Words around a keyword that change what it means (built in; laporgub classify shows them):
# a simile ("becek kayak sawah"), a landmark ("halte depan pasar", "tiang di depan SD"), and
# for darurat an event that did not happen ("hampir tabrakan"), happened long ago ("ambrol
# sejak banjir tahun lalu"), happens by habit ("kalau hujan kelas kebanjiran") or is a leak,
# not a flood ("atap bocor, ruang kelas kebanjiran").
_SIMILE = frozenset({"seperti", "bagai", "bagaikan", "bak", "mirip", "layaknya", "ibarat", "macam"})
_LANDMARK_PREPS = frozenset({"depan", "dekat", "deket", "samping", "sebelah", "belakang", "seberang", "sebrang",
                             "sekitar", "arah", "menuju", "pinggir"})
_ROUTE_WORDS = frozenset({"jalan", "akses", "arah", "menuju"})
_LANDMARK_NOUNS = frozenset({"pasar", "sekolah", "sd", "sdn", "smp", "smpn", "sma", "sman", "smk", "smkn", "madrasah",
                             "mts", "terminal", "stasiun", "halte", "puskesmas", "rumah", "rsud", "klinik", "pabrik",
                             "spbu", "kantor", "balai", "kampus", "toko", "minimarket", "pangkalan", "kios", "apotek",
                             "masjid", "gedung", "pom"})
_HEDGES = frozenset({"hampir", "nyaris", "terancam", "berpotensi", "potensi", "khawatir", "kuatir", "rawan", "meh",
                     "cegah", "mencegah", "antisipasi", "sebelum", "takutnya", "seandainya", "jangan", "nanti"})
# Words of self-harm, where "mau" (about to) is the emergency itself.
_INTENT_KEYWORDS = frozenset({"lompat", "melompat", "terjun", "bunuh", "gantung"})
_CAUSES = frozenset({"karena", "akibat", "gara", "sebab", "imbas", "dampak", "bikin"})
_NEGATIONS = frozenset({"tidak", "bukan", "agar", "supaya", "biar", "jangan", "jgn"})
_COUNT_WORDS = frozenset({"puluhan", "ratusan", "ribuan", "beberapa", "banyak", "se", "satu", "dua", "tiga", "empat",
                          "lima", "sepuluh"})
_PROBLEM_WORDS = frozenset({"rusak", "bocor", "roboh", "ambruk", "jebol", "terbakar", "kebakaran", "sepi", "tutup",
                            "kotor", "bau", "penuh", "kumuh", "banjir", "mati", "padam", "terbengkalai", "mangkrak"})
_HEDGES_NEXT = frozenset({"bisa", "bakal", "akan", "mau", "hendak", "arep"})
_NOT_YET = _HEDGES | _HEDGES_NEXT | _NEGATIONS
_MONTHS = frozenset({"januari", "februari", "maret", "april", "mei", "juni", "juli", "agustus", "september",
                     "oktober", "november", "desember", "jan", "feb", "mar", "apr", "jun", "jul", "agu", "agt", "ags",
                     "sep", "sept", "okt", "nov", "des"})
_PAST_UNITS = frozenset({"tahun", "bulan", "minggu", "thn", "bln", *_MONTHS})
_CHRONIC = frozenset({"berbulan", "bertahun", "menahun", "bertahun2", "berbulan2"})
# "tahun 2019", "thn 2021": a year written out is a past event (nobody dates an emergency going on).
_YEAR = re.compile(r"^(?:19|20)\d\d$")
# "kalau ada kebakaran", "jika terjadi banjir": a supposition, not an event.
_CONDITIONALS = frozenset({"kalau", "jika", "bila", "apabila", "seandainya", "andai", "andaikan", "misal",
                           "misalnya", "umpama"})
_SUPPOSED = frozenset({"ada", "terjadi", "sampai", "kena", "dilanda"})
# "sudah 2 motor tercebur", "sdh bbrp pengendara jatuh": a tally of past accidents on a bad road.
_TALLIED = frozenset({"motor", "mobil", "pengendara", "pemotor", "kendaraan", "pengguna", "truk", "sepeda"})
_TALLY_COUNTS = frozenset({"beberapa", "banyak", "puluhan", "belasan", "berkali", "sering"})
# Words that end a clause for the searches below (punctuation ends one too).
_CLAUSE_WORDS = frozenset({"tapi", "tetapi", "namun", "padahal", "sedangkan", "karena", "sebab", "lalu", "terus",
                           "kemudian"})
_ROAD_GROUP = "infrastruktur"
_REPAIRS = frozenset({"perbaiki", "diperbaiki", "perbaikan", "tambal", "ditambal", "aspal", "diaspal", "dicor", "cor",
                      "rabat", "paving"})
_DONE = frozenset({"sudah", "telah"})
# "kapan selesai diperbaiki?", "belum juga diperbaiki": the repair is asked for, not done.
_NOT_DONE = frozenset({"kapan", "belum", "tidak", "kok", "kenapa", "mengapa", "bagaimana"})


@dataclass(frozen=True, slots=True)
class _State:
    """A thing and the states that make it a group's topic, however far apart in one clause."""

    group: str
    name: str  # how ``laporgub classify`` lists the evidence
    things: frozenset[str]
    states: frozenset[str]
    not_before: frozenset[str]  # words before the thing that make it something else ("tidak jalan", "di jalan")


_STATES = (
    # "jalan di dusun kami tetap saja hancur", "jalan belum diperbaiki juga"; not "tidak jalan" (not
    # working), "di jalan" (a place), "jalan kaki".
    _State(_ROAD_GROUP, "jalan rusak (satu kalimat)",
           frozenset({"jalan", "jalur", "gang", "jembatan", "aspal", "aspalnya", "jalannya", "jembatannya"}),
           frozenset({"rusak", "hancur", "ambrol", "putus", "amblas", "ambles", "retak", "berlubang", "lubang",
                      "bolong", "mengelupas", "jebol", "becek", *_REPAIRS}),
           frozenset({"tidak", "belum", "sudah", "bisa", "mulai", "sambil", "di", "ke", "dari", "lagi", "masih",
                      "tetap", "jalan", "pinggir", "tengah", "sepanjang", "lewat", "melalui"})),
    # "anak perempuan tetangga umur 15 th dijual ke tempat karaoke": a person sold.
    _State("sosial_hukum", "orang dijual (satu kalimat)",
           frozenset({"perempuan", "gadis", "remaja", "bayi", "balita", "cewek", "wanita", "pelajar", "siswi"}),
           frozenset({"dijual", "diperjualbelikan", "dijualbelikan", "dilacurkan", "dipekerjakan"}),
           frozenset({"baju", "pakaian", "produk", "toko", "sepatu", "tas", "celana"})),
    # "sungai di desa kami keruh coklat", "kali belakang rumah hitam dan bau"; not "3 kali" (times).
    _State("esdm_lh", "sungai tercemar (satu kalimat)", frozenset({"sungai", "kali"}),
           frozenset({"keruh", "kotor", "hitam", "bau", "busuk", "berbusa", "busa", "cemar", "tercemar", "berminyak",
                      "dangkal", "menghitam"}),
           frozenset({"di", "ke", "dari", "beberapa", "berapa", "sekali", "dua", "tiga", "berkali", "berulang",
                      "ribuan", "puluhan", "seribu", "empat", "lima"})),
    # "tanah di belakang rumah warga sejak subuh retak memanjang": the ground moving. The tense and
    # hedges of darurat words apply ("tanah retak sejak 2019" is old).
    _State(_EMERGENCY_GROUP, "tanah bergerak", frozenset({"tanah"}),
           frozenset({"retak", "rekah", "gerak", "geser", "ambles", "amblas", "belah", "longsor", "runtuh"}),
           frozenset({"sertifikat", "sengketa", "harga", "jual", "beli", "pajak", "surat", "hak", "urug", "uruk",
                      "kas", "bengkok", "sewa", "mafia", "tukar", "batas", "patok", "galian", "bidang"})),
)
_STATE_REACH = 10
_PUBLIC_LIGHTS = "lampu tempat umum"
#: Names of the rules' built-in evidence the model may weigh against (darurat's is never vetoed).
_BUILT_IN_NAMES = frozenset({*(state.name for state in _STATES), _PUBLIC_LIGHTS})
_STATE_THINGS = frozenset().union(*(state.things for state in _STATES))
# What else burns or breaks at a place ("kebakaran gudang di pasar": the warehouse, not the market).
_OTHER_THINGS = frozenset({"gudang", "rumah", "toko", "ruko", "gedung", "pabrik", "mobil", "truk", "bus", "motor",
                           "warung", "kantor", "bengkel", "kandang", "dapur", "hotel", "masjid", "kos", "kost", "pom",
                           "spbu", "gardu", "trafo", "tiang", "pohon", "mushola", "musholla", "rumahnya"})
# Lights of a public place ("alun2 lampunya mati", "terminal ... lampunya mati") are the works
# department's, not PLN's: a place among the words before the lamp moves the match to infrastruktur.
_POWER_GROUP = "energi"
_PUBLIC_PLACES = frozenset({"alun", "taman", "terminal", "halte", "stasiun", "jembatan", "lapangan", "makam",
                            "stadion", "gor", "trotoar", "jpo", "underpass", "terowongan", "bundaran", "tugu"})
_PLACE_REACH = 8
# "tengkulak semena2": a market's power over prices is no crime (an officer's is).
_HIGH_HANDED = frozenset({"semena mena", "sewenang wenang"})
_MARKET_ACTORS = frozenset({"tengkulak", "pengepul", "pabrikan", "pabrik", "perusahaan", "pembeli", "harga",
                            "grading", "bakul", "juragan", "mandor", "toke", "tauke", "koperasi", "pedagang",
                            "harganya", "penebas"})
# What a swindler "said" happened ("bilang anak saya kecelakaan"), in a report of fraud with money in it.
_TOLD = frozenset({"bilang", "katanya", "mengaku", "ngaku", "mengabarkan", "mengabari", "memberi", "kabar", "ngomong"})
_MONEY = frozenset({"transfer", "rekening", "tf", "uang", "pulsa", "juta", "ribu", "saldo", "tebusan"})
# Programmes and games tell of accidents and bodies ("sinetron azab isinya kecelakaan"): no emergency.
_SHOWS = frozenset({"sinetron", "film", "tayangan", "tayang", "acara", "game", "iklan", "konten", "drama", "novel",
                    "komik"})
# Training and prevention ("pelatihan penanganan kebakaran", "sosialisasi mitigasi bencana banjir").
_PREPAREDNESS = frozenset({"pelatihan", "latihan", "simulasi", "sosialisasi", "penyuluhan", "edukasi", "mitigasi",
                           "antisipasi", "pencegahan", "kesiapsiagaan", "gladi"})
# Words of making a report: a time beside them dates the earlier report, not a new event.
_REPORTING = frozenset({"lapor", "melapor", "laporan", "mengadu", "sms", "kirim"})
# Pests and beasts "ngamuk" (tikus sawah lagi ngamuk): an outbreak, not violence.
_ANIMALS = frozenset({"tikus", "hama", "wereng", "babi", "celeng", "monyet", "kera", "ulat", "belalang", "sapi",
                      "kerbau", "banteng", "gajah", "lebah", "tawon", "anjing", "ular", "walang", "keong", "burung"})
_PAST_AFTER = frozenset({"lalu", "silam", "kemarin", "kepungkur", "kapungkur", "wingi"})
_PAST_BEFORE = frozenset({"bekas", "pasca", "sisa", "sehabis", "dulu", "pernah"})
_HABIT_WORDS = frozenset({"kalau", "jika", "bila", "tiap", "setiap", "saat", "waktu", "pas", "musim", "sering",
                          "langganan", "selalu"})
_WHEN_WORDS = frozenset({"saat", "waktu", "pas"})
_LANDFILL = frozenset({"sampah", "tpa", "tps", "timbunan"})
_ROOMS = frozenset({"kelas", "ruang", "ruangan", "kamar", "kantor", "aula", "gedung", "dapur", "mushola", "musholla"})
_FLOOD_WORDS = frozenset({"banjir", "rendam", "genang", "terendam", "tergenang", "kebanjiran"})
# Violence that is going on while the sender writes is an emergency too (GUIDE-style darurat).
_VIOLENCE = frozenset({
    "aniaya", "keroyok", "dipukuli", "memukuli", "dipukul", "pemukulan", "mukul", "mukulin", "mukuli", "berkelahi",
    "perkelahian", "tawuran", "bacok", "dibacok", "tusuk", "ditusuk", "golok", "parang", "celurit", "clurit", "sajam",
    "senjata tajam", "senjata api", "amuk", "ngamuk", "begal", "rampok", "culik", "penculikan", "perkosa", "kdrt",
    "kekerasan", "ditendang", "menendang", "nendang", "pisau", "pedang", "samurai", "pistol",
    "ditampar", "nampar", "digebuki", "gebuki", "carok", "bentrok", "pembunuhan", "dibunuh",
})
_NOW_MARKERS = frozenset({"sekarang", "sedang", "barusan", "masih", "kini"})
_NOW_PHRASES = (("saat", "ini"), ("baru", "saja"), ("tolong", "cepat"), ("cepat", "datang"), ("segera", "datang"),
                ("cepat", "tolong"))
_NOW_REACH = 10
_HABITUAL = frozenset({"sering", "tiap", "setiap", "selalu", "kerap", "biasanya"})
_WATER_WORDS = frozenset({"air", "banjir", "genang", "tergenang", "genangan", "rob", "rendam", "terendam"})
_DEPTH_UNITS = {"cm": 30, "centi": 30, "senti": 30, "centimeter": 30, "meter": 1, "m": 1}

# Signs that a message is a scam whatever official words it borrows: a link with a call to
# open it ("sudah cair, cek di <link>"), an app file, a request for a bank code, for money to
# an account ("transfer dulu, nanti saya ganti"), a donation to an unknown account, an advert
# for papers or loans. A citizen reporting one says so ("saya ditipu", "ada yang ngaku").
_SCAM_PHRASES = (
    "tolong transfer", "transfer dulu", "segera transfer", "harap transfer", "silakan transfer",
    "silahkan transfer", "transfer ke rekening", "kirim ke rekening", "kirim uang ke", "salah transfer",
    "nanti saya ganti", "nanti aku ganti", "nanti diganti", "kode otp", "kode verifikasi", "sebutkan kode",
    "sebutkan kodenya", "kirimkan kode", "kirim kode", "kode yang masuk", "berikan kode", "kodenya dikirim",
    "kode dikirim", "biaya admin", "biaya administrasi", "biaya pencairan", "minta pulsa", "kirim pulsa",
    "belikan pulsa", "nanti ganti",
)
_AD_PHRASES = (
    "jasa pembuatan", "jasa pengurusan", "terima jasa", "menerima jasa", "melayani pembuatan", "bisa bantu buat",
    "bisa bantu urus", "tanpa antri", "tanpa antre", "tanpa tes", "dijamin jadi", "dijamin asli", "hari jadi",
    "proses cepat", "harga bersahabat", "tanpa jaminan", "tanpa agunan", "langsung cair", "cair cepat",
    "bunga rendah", "minat hubungi", "hubungi wa", "slot gacor", "daftar sekarang", "dana tunai", "terima pembuatan",
    "terima pengurusan", "melayani pengurusan", "melayani pembuatan", "pembuatan kilat", "proses kilat", "urus cepat",
    "dijamin",
)
# A job advert: a vacancy word with a way to apply or a fee to pay ("info loker ... gaji 7jt hub wa",
# "dibutuhkan operator ... biaya seragam 350rb"). A complaint about jobs names no WhatsApp to apply to.
_JOB_PHRASES = (
    "loker", "info loker", "lowker", "lowongan", "lowongan kerja", "dibutuhkan", "butuh karyawan", "dicari karyawan",
    "rekrutmen", "recruitment", "penerimaan karyawan", "terima karyawan", "lamaran kerja",
)
_APPLY_PHRASES = (
    "hubungi wa", "via wa", "chat wa", "wa admin", "daftar via", "daftar di", "minat chat", "minat hubungi", "kirim cv",
    "kirim lamaran", "info lengkap", "hubungi kami", "langsung chat", "chat admin", "chat aja",
)
_FEE_PHRASES = (
    "biaya seragam", "biaya pendaftaran", "uang pendaftaran", "biaya pelatihan", "biaya medical", "uang jaminan",
    "biaya pengurusan", "biaya administrasi", "uang administrasi", "dp", "uang muka", "biaya tes", "biaya training",
)
# "putrane njenengan kecelakaan ... kedah transfer": news of the reader's relative in trouble, then money.
_READER_RELATIVE = re.compile(
    r"\b(?:anak|anaknya|putra|putri|putrane|putrine|putranipun|suami|suaminya|istri|istrinya|keluarga|adik|kakak|"
    r"bapak|ibu)\s+(?:anda|njenengan|panjenengan|sampeyan|kamu|bapak|ibu)\b")
_TROUBLE = frozenset({"kecelakaan", "ditangkap", "polisi", "ugd", "igd", "operasi", "ditahan", "tertabrak",
                      "ditabrak", "jatuh", "kritis", "pingsan", "dirawat", "masalah"})
_BAIT_WORDS = frozenset({"cair", "dicairkan", "pencairan", "verifikasi", "perbarui", "unduh",
                         "download", "install", "instal", "klaim", "aktifkan", "dinonaktifkan", "nonaktif", "diblokir",
                         "undian", "hadiah", "saldo"})
# "cek"/"klik" by a link bait only in a message without a citizen's voice ("mohon dicek, videonya di ...",
# "website PPDB error, tidak bisa daftar").
_BAIT_WEAK = frozenset({"cek", "klik", "isi", "update", "daftar", "login"})
_CITIZEN_TONE = frozenset({"saya", "kami", "warga", "kok", "kenapa", "error", "gagal", "susah", "sulit", "rusak",
                           "mohon", "belum", "eror", "lemot"})
# Government, school and university sites are not the bait of a scam.
_OFFICIAL_LINK = re.compile(r"\.(?:go|ac|sch|mil|desa)\.id\b", re.IGNORECASE)
_DONATION = frozenset({"donasi", "galang", "sumbangan", "infaq", "infak", "sedekah"})
_ACCOUNT = frozenset({"rekening", "transfer", "tf"})
_APK = re.compile(r"\.apk\b|\bapk\b", re.IGNORECASE)
# What a citizen reporting a scam writes; weaker signs of a citizen ("anak saya", "desa kami")
# are also what impersonators write, so they do not outweigh a scam sign.
_MARKERS_AGAINST_SCAM = (
    "ditipu", "tertipu", "penipuan", "penipu", "modus", "mengaku", "ngaku", "mengatasnamakan", "catut", "dicatut",
    "saya lapor", "mau lapor", "ingin lapor", "lapor ada", "melaporkan", "ditindak", "diusut", "diberantas",
    "berantas", "dapat sms", "ada sms", "terima sms", "sms dari", "sms penipuan", "pesan penipuan", "nomor penipu",
    "diblokir nomornya", "mohon diblokir", "tolong diblokir", "hoaks", "hoax", "palsu", "apakah benar", "benarkah",
    "resmi atau", "saya transfer", "saya sudah transfer", "sudah saya transfer", "terlanjur", "hilang uang",
    "dibawa kabur", "saldo hilang", "ludes", "disuruh", "diminta", "dimintai", "ditelpon", "ditelepon", "ada yang",
    "waspada", "hati hati", "jangan klik",
    "kena tipu", "jadi korban", "menjadi korban", "link aneh", "tetangga saya", "warga kami",
)

# Signs of a mass message, each weighing 1 as spam evidence (decorated letters 2).
_URL = re.compile(
    r"(?:https?://|www\.|\b(?:bit\.ly|s\.id|wa\.me|t\.me|tinyurl\.com|linktr\.ee)\b|"
    r"\b[a-z0-9-]{2,63}+\s?\.\s?(?:com|net|org|xyz|site|online|info|link|top|vip|club|live|cc|biz|shop|store|app|"
    r"icu|pro|fun|win|id|co\.id|my\.id|web\.id|ly)\b)",
    re.IGNORECASE,
)
_CONTACT_NUMBER = re.compile(r"(?<![\d-])(?:\+?62|0)\s?8\d{1,3}[\s.-]?(?:\d{3,4}[\s.-]?\d{2,5}|x{3,}|\*{3,})",
                             re.IGNORECASE)
_SECOND_PERSON = frozenset({"anda", "kamu", "kalian"})
_FIRST_PERSON = frozenset({"saya", "kami", "warga"})
# A citizen speaking: spam speaks to "anda", or as "mama", a shop, an office.
_COMPLAINT_VOICE = frozenset({"saya", "warga", "kulo", "kula", "inyong", "kampung", "desa", "dusun", "rt", "rw",
                              "belum", "lapor", "keluhan", "mengeluh", "bohong", "macet", "mengganggu", "terganggu",
                              "resah", "parah"})


# Mathematical bold/italic letters, full-width letters, circled letters: spam's typography.
_DECORATED = re.compile("[\U0001D400-\U0001D7FF\uFF21-\uFF5A\u24B6-\u24E9]")


def _decorated(text: str) -> bool:
    return _DECORATED.search(text) is not None


def _clause_index(text: str, count: int, normalize: Callable[[str], str]) -> list[int]:
    """For each of the ``count`` words of the normalised text, the number of its clause."""
    index: list[int] = []
    for number, piece in enumerate(_CLAUSE_SPLIT.split(text)):
        index.extend([number] * len(normalize(piece).split()))
    if len(index) != count:  # normalisation across a cut differed: one clause
        return [0] * count
    return index


_PLACE_WORDS = frozenset({"kecamatan", "desa", "kelurahan", "dusun", "dukuh"})


def _in_place_name(hit: _Hit, tokens: Sequence[str]) -> bool:
    """Whether the hit lies in the name of a kecamatan or village after "desa"/"kecamatan" ("Ds Sawahan")."""
    kecamatan, villages = places()
    for i in range(max(0, hit.start - 3), hit.start):
        if tokens[i] not in _PLACE_WORDS:
            continue
        for k in range(3, 0, -1):
            name = " ".join(tokens[i + 1: i + 1 + k])
            if i + k >= hit.end and (name in kecamatan or name in villages):
                return True
    return False


def _animal_before(tokens: Sequence[str], i: int) -> bool:
    """Whether the word at ``i`` ("ngamuk") is said of a pest or a beast ("tikus sawah lagi ngamuk")."""
    return not _ANIMALS.isdisjoint(tokens[max(0, i - 3): i])


def _fresh(tokens: Sequence[str]) -> bool:
    """Whether a text tells of something that happens now or just happened ("tadi", "sekarang", "hari ini")."""
    return bool(_FRESH_WORDS.intersection(tokens) or _NOW_MARKERS.intersection(tokens)
                or any(_has_phrase(tokens, p) for p in (*_FRESH_PHRASES, *_NOW_PHRASES)))


def _has_phrase(tokens: Sequence[str], phrase: tuple[str, ...]) -> bool:
    k = len(phrase)
    return any(tuple(tokens[i: i + k]) == phrase for i in range(len(tokens) - k + 1))


def _context_reason(hit: _Hit, tokens: Sequence[str]) -> str | None:
    """Why the words around a keyword match change its meaning, or None (see ``_SIMILE`` and below)."""
    start, end = hit.start, hit.end
    while start > 0 and tokens[start - 1] == tokens[hit.start]:  # "longsor2" is one word said twice
        start -= 1
    before = tokens[max(0, start - 2): start]
    if _SIMILE.intersection(before):
        return f"(perumpamaan: {next(t for t in before if t in _SIMILE)})"
    words = hit.keyword.split()
    if words == ["kk"] and start > 0 and (tokens[start - 1].isdigit() or tokens[start - 1] in _COUNT_WORDS):
        return "(jumlah kepala keluarga)"
    if (hit.label != _EMERGENCY_GROUP and words[0] in _LANDMARK_NOUNS and start > 0
            and not _PROBLEM_WORDS.intersection(words)):
        prev = tokens[start - 1]
        if prev in _LANDMARK_PREPS or (prev == "ke" and start > 1 and tokens[start - 2] in _ROUTE_WORDS):
            return f"(patokan tempat: {prev})"
    # "kebakaran gudang di pasar": the phrase "kebakaran pasar" spans a place; what burns is the warehouse.
    if (hit.label != _EMERGENCY_GROUP and len(words) > 1 and words[-1] in _LANDMARK_NOUNS
            and end - start + 1 > len(words) and tokens[end - 1] in _LANDMARK_PREPS | {"di"}
            and _OTHER_THINGS.intersection(tokens[start + 1: end - 1])):
        return f"(patokan tempat: {tokens[end - 1]})"
    if hit.keyword in _HIGH_HANDED:
        # "tengkulak semena2", "pabrikan beli murah & grading sewenang2": a market's power, not a crime.
        actor = _MARKET_ACTORS.intersection(tokens[max(0, start - 4): start])
        if actor:
            return f"(pasar, bukan hukum: {min(actor)})"
    if words[0] in ("amuk", "ngamuk") and _animal_before(tokens, start):
        return f"(hewan: {next(t for t in tokens[max(0, start - 3): start] if t in _ANIMALS)})"
    if hit.label != _EMERGENCY_GROUP or hit.keyword in ("kekerasan sedang terjadi", "ketinggian air"):
        return None
    inside = [t for t in tokens[hit.start + 1: end] if t in _NOT_YET]  # "rumah hampir roboh": "rumah roboh"
    if inside:
        return f"(belum terjadi: {inside[0]})"
    lead = start
    while lead > 0 and start - lead < 2 and tokens[lead - 1] in ("ada", "yang"):  # "sebelum ada yang tercebur"
        lead -= 1
    near = tokens[max(0, lead - 2): start]
    # "agar tidak tenggelam", "bukan kebakaran"; not "damkar tidak datang, api makin besar".
    if start > 0 and tokens[start - 1] in _NEGATIONS and hit.words == 1:
        return f"(tidak terjadi: {tokens[start - 1]})"
    intent = bool(_INTENT_KEYWORDS.intersection(words))
    able = start > 1 and tokens[start - 1] == "bisa" and tokens[start - 2] in _NEGATIONS | {"belum"}  # cannot
    # "takut longsor" fears what has not happened; "takut air terus naik" fears more of what has.
    feared = start > 0 and tokens[start - 1] == "takut" and hit.words == 1
    # "takut ada kebakaran", "khawatir terjadi banjir": the fear of an event, not the event.
    feared = feared or (start > 1 and tokens[start - 1] in _SUPPOSED and tokens[start - 2] in ("takut", "khawatir"))
    if not intent and not able and (_HEDGES.intersection(near) or feared
                                    or (start > 0 and tokens[start - 1] in _HEDGES_NEXT)):
        word = next((t for t in near if t in _HEDGES), tokens[start - 1])
        return f"(belum terjadi: {word})"
    if not intent:
        # "kalau ada kebakaran, damkar kami rusak": a supposition.
        cond = tokens[start - 1] if start > 0 else ""
        if cond in _SUPPOSED and start > 1:
            cond = tokens[start - 2]
        if cond in _CONDITIONALS:
            return f"(andaikan: {cond})"
    if _CAUSES.intersection(near) and _PAST_AFTER.intersection(tokens[end + 1: end + 4]) and not _fresh(tokens):
        return f"(penyebab: {next(t for t in near if t in _CAUSES)})"
    after = tokens[end + 1: end + 7]
    for i, t in enumerate(after[:-1]):
        if t in _PAST_UNITS and after[i + 1] in _PAST_AFTER:
            return f"(masa lalu: {t} {after[i + 1]})"
    if len(after) >= 3 and after[0] in ("sudah", "selama") and after[1].isdigit() and after[2] in _PAST_UNITS:
        return f"(sudah lama: {' '.join(after[:3])})"
    # "terendam rob berbulan bulan", "tergenang menahun": a chronic state, not an event of these hours
    # (days are not: "banjir sudah berhari hari" can still be going on).
    chronic = _CHRONIC.intersection(tokens[end + 1: end + 5])
    if chronic and not _fresh(tokens):
        return f"(sudah lama: {min(chronic)})"
    for i in range(max(0, start - 8), min(len(tokens) - 1, end + 6)):
        if tokens[i] in ("tahun", "thn") and _YEAR.match(tokens[i + 1]):
            return f"(masa lalu: {tokens[i]} {tokens[i + 1]})"
    if any(_YEAR.match(t) for t in tokens[end + 1: end + 3]):  # "akibat gempa 2006"
        return f"(masa lalu: {next(t for t in tokens[end + 1: end + 3] if _YEAR.match(t))})"
    drill = _PREPAREDNESS.intersection(tokens[max(0, start - 3): start])
    if drill:  # "pelatihan penanganan bencana banjir": a course, not a flood
        return f"(kesiapsiagaan: {min(drill)})"
    shown = _SHOWS.intersection(tokens[max(0, start - 8): start])
    if shown:  # "sinetron ... isinya kecelakaan & mayat": a programme's story
        return f"(tayangan: {min(shown)})"
    for i in range(max(0, start - 4), start - 1):
        # "sudah 2 motor tercebur": accidents counted, not one going on.
        if tokens[i] in ("sudah", "pernah") and (tokens[i + 1].isdigit() or tokens[i + 1] in _TALLY_COUNTS) \
                and (_TALLIED.intersection(tokens[i + 1: start]) or tokens[i + 2] in ("x", "kali")):
            return f"(kejadian terhitung: {' '.join(tokens[i: i + 3])})"
    if _PAST_BEFORE.intersection(tokens[max(0, start - 3): start]):
        return f"(masa lalu: {next(t for t in tokens[max(0, start - 3): start] if t in _PAST_BEFORE)})"
    for habit in (tokens[max(0, start - 4): start], tokens[end + 1: end + 4]):
        said = _HABIT_WORDS.intersection(habit)
        # "saat hujan angin semalam" is one night, not a habit.
        if "hujan" in habit and said and not (said <= _WHEN_WORDS and _fresh(tokens)):
            return "(kebiasaan: kalau hujan)"
    if start > 0 and tokens[start - 1] in ("sering", "langganan", "selalu"):
        return f"(kebiasaan: {tokens[start - 1]})"
    if "longsor" in words and _LANDFILL.intersection(tokens[max(0, start - 4): start]):
        return "(sampah, bukan bencana)"
    if (_FLOOD_WORDS.intersection(words) and "bocor" in tokens
            and _ROOMS.intersection(tokens[max(0, start - 3): start])):
        return "(bocor, bukan banjir)"
    return None


def _spam_signs(text: str, tokens: Sequence[str]) -> list[str]:
    signs = []
    if _URL.search(text):
        signs.append("[tautan]")
    if _CONTACT_NUMBER.search(text):
        signs.append("[nomor kontak]")
    if _SECOND_PERSON.intersection(tokens) and not _FIRST_PERSON.intersection(tokens):
        signs.append("[menyapa anda]")
    if _decorated(text):
        signs.extend(("[huruf hias]", "[huruf hias]"))
    return signs


# --------------------------------------------------------------------------
# Rules and results.


def _freeze_lists(mapping: Mapping[str, Iterable[str]]) -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType({str(k): tuple(v) for k, v in mapping.items()})


@dataclass(frozen=True, slots=True)
class RoutingRules:
    """What config.toml gives the classifier.

    Attributes:
        keywords: group key -> keywords (single words or phrases, any case; a leading ``~``
            marks a weak keyword). ``channel`` is ignored; ``kabkota`` needs none (it is
            routed by regency). ``[groups.<key>] keywords``.
        negative_keywords: group key -> phrases that cancel that group's matches (``*``
            stands for any of the group's keywords). ``[groups.<key>] negative_keywords``.
        spam_keywords: phrases of promotions, fraud and gambling. ``[spam] keywords``.
        min_words: an SMS with fewer meaningful words than this (greetings, forms of
            address and fillers do not count) is ``too_short``, unless it names an
            emergency. ``[intake] min_words``.
        group_weights: group key -> factor on that group's evidence (default 1): above 1 a
            weak keyword alone is enough, below 1 a group needs more than one keyword.
            ``[groups.<key>] weight``.
        abbreviations: token -> expansion, added to (and overriding) the shipped
            ``data/abbreviations.tsv``. ``[abbreviations]``.
        min_score: evidence a group needs (a keyword weighs 1, a weak one ``weak_weight``).
        weak_weight: the evidence of a weak (``~``) keyword.
        typo_min_length: text words shorter than this are never read as a keyword word
            with a typing error (0 turns typo tolerance off, also for dropped vowels, which
            need three consonants whatever the length). ``[intake] typo_min_length``.
        typo_two_edit_length: from this length on, a word may be two edits from the
            keyword word it is read as (below it, one). ``[intake] typo_two_edit_length``.
        model: whether the learned model beside the rules (``laporgub.routing_model``)
            chooses the groups of a complaint no keyword routes, and drops a group resting
            on one shipped keyword that it finds unlikely. ``[routing] model``.
    """

    keywords: Mapping[str, tuple[str, ...]]
    negative_keywords: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    spam_keywords: tuple[str, ...] = ()
    min_words: int = 2
    group_weights: Mapping[str, float] = field(default_factory=dict)
    abbreviations: Mapping[str, str] = field(default_factory=dict)
    min_score: float = 1.0
    weak_weight: float = 0.5
    typo_min_length: int = 6
    typo_two_edit_length: int = 9
    model: bool = True

    def __post_init__(self) -> None:
        # Callers pass TOML lists; freeze them so the rules can be shared between threads.
        object.__setattr__(self, "keywords", _freeze_lists(self.keywords))
        object.__setattr__(self, "negative_keywords", _freeze_lists(self.negative_keywords))
        object.__setattr__(self, "spam_keywords", tuple(self.spam_keywords))
        object.__setattr__(self, "group_weights",
                           MappingProxyType({str(k): float(v) for k, v in self.group_weights.items()}))
        object.__setattr__(self, "abbreviations", MappingProxyType(
            {str(k).strip().lower(): " ".join(str(v).lower().split()) for k, v in self.abbreviations.items()}))


@dataclass(frozen=True, slots=True)
class Classification:
    """How one inbound SMS was sorted.

    Attributes:
        kind: one of ``KINDS``.
        groups: for a complaint, the routing targets in ``ROUTING_ORDER``: the matched
            groups, ``kabkota`` when a regency is named, ``pelayanan_publik`` when no
            topic group matched. Never ``channel``. Empty for every other kind.
        regency: for a complaint, the official name of the regency or city named, else None.
        matched: group -> the keywords (as written in the rules, without ``~``) that
            matched, for explaining a routing; ``kabkota`` -> the words that named the
            regency; for spam, ``spam`` -> the spam phrases and signs (``[tautan]``) found;
            for a complaint about spam or fraud, ``sosial_hukum`` also lists the spam
            phrases; a group the learned model chose, its reason (``model: puskesmas + tutup
            + dokter``). A fallback group has no entry.
        ticket_ref: for a status query, the ticket number in the text (``YYMMDD-NNNN-S``), else None.
        normalized: the normalised text (``normalize`` with the rules' abbreviations).
    """

    kind: str
    groups: tuple[str, ...]
    regency: str | None
    matched: Mapping[str, tuple[str, ...]]
    ticket_ref: str | None
    normalized: str


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a text was sorted as it was, for admins testing keywords (``laporgub classify``).

    Attributes:
        classification: the result, as ``Classifier.classify`` gives it.
        corrections: text word -> the keyword word it was read as (a typo or dropped vowels).
        scores: topic group -> its evidence (after weights), for every group with a match.
        candidates: topic group -> the keywords that matched, routed or not (weak ones with ``~``).
        cancelled: group -> the negative keywords that cancelled matches.
        spam_score: spam phrases and signs, against ``topic_score``: the topic keywords.
        model: for a complaint, when the learned model is on, what it says about every
            group (probabilities and the words behind them), else None.
        model_added: the groups the model chose because no keyword routed the complaint.
        model_vetoed: the groups resting on one keyword that the model dropped.
    """

    classification: Classification
    corrections: Mapping[str, str]
    scores: Mapping[str, float]
    candidates: Mapping[str, tuple[str, ...]]
    cancelled: Mapping[str, tuple[str, ...]]
    spam_score: float
    topic_score: float
    model: ModelOpinion | None = None
    model_added: tuple[str, ...] = ()
    model_vetoed: tuple[str, ...] = ()


def _first_seen(hits: Iterable[_Hit], *, mark_weak: bool = False) -> tuple[str, ...]:
    ordered = sorted(hits, key=lambda h: (h.start, h.end, h.keyword))
    return tuple(dict.fromkeys((_WEAK_MARK + h.keyword) if mark_weak and h.weak else h.keyword for h in ordered))


def _outermost(hits: Iterable[_Hit]) -> list[_Hit]:
    """The hits not inside another hit (one per span)."""
    spans: dict[tuple[int, int], _Hit] = {}
    for h in hits:
        spans.setdefault((h.start, h.end), h)
    outer: list[_Hit] = []
    reach = -1
    # By start, longest first: a span is inside another exactly when an earlier one reaches as far.
    for (_, end), h in sorted(spans.items(), key=lambda item: (item[0][0], -item[0][1])):
        if end > reach:
            outer.append(h)
            reach = end
    return outer


def _weight(hits: Iterable[_Hit]) -> int:
    """Evidence of a list of hits: 1 per distinct outermost single word, 2 per phrase."""
    return sum(min(2, h.words) for h in _outermost(hits))


@dataclass(frozen=True, slots=True)
class _Reading:
    """Everything ``Classifier`` worked out about one text."""

    classification: Classification
    forms: tuple[_Forms, ...] = ()
    tokens: tuple[str, ...] = ()
    scores: Mapping[str, float] = field(default_factory=dict)
    candidates: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    cancelled: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    spam_score: float = 0.0
    topic_score: float = 0.0
    model_added: tuple[str, ...] = ()
    model_vetoed: tuple[str, ...] = ()


_SHIPPED_MODEL: Any = object()


@lru_cache(maxsize=1)
def _default_keywords() -> Mapping[str, frozenset[str]]:
    """group -> the shipped keywords (lowercase, without the weak mark): what the model may weigh against."""
    rules = load_default_rules()
    return MappingProxyType({g: frozenset(k.removeprefix(_WEAK_MARK).strip().lower() for k in kws)
                             for g, kws in rules.keywords.items()})


class Classifier:
    """Sorts inbound SMS by the rules it was built with; build once per config load, then share.

    ``classify`` may be called from any thread: the only state it changes is a cache of
    how words are read, which never changes a result.
    """

    def __init__(self, rules: RoutingRules, model: RoutingModel | None = _SHIPPED_MODEL) -> None:
        """Compile every keyword of ``rules``.

        Args:
            rules: the keyword lists and thresholds.
            model: the learned model beside the rules; by default the shipped one when
                ``rules.model`` is on, else none.
        """
        self.rules = rules
        self._model: RoutingModel | None = (load_model() if rules.model else None) if model is _SHIPPED_MODEL else model
        shipped = _default_keywords()
        # The keywords the model may weigh against: the shipped ones the rules still have, and built-in
        # evidence. A keyword the admin added, a fraud report's spam phrases, are never overruled.
        self._model_may_veto = {
            g: (frozenset(k.removeprefix(_WEAK_MARK).strip().lower() for k in kws) & shipped.get(g, frozenset()))
            | _BUILT_IN_NAMES for g, kws in rules.keywords.items()}
        abbreviations = {**_ABBREVIATIONS, **rules.abbreviations}
        base = _base_lexicon()
        written = {w for kws in (*rules.keywords.values(), rules.spam_keywords) for kw in kws
                   for w in _NON_WORD.sub(" ", kw.lower()).split()}
        self._normalize = _Normalizer(MappingProxyType(abbreviations), base | written)
        norm = self._normalize
        known = [g for g in ROUTING_ORDER if g in rules.keywords]
        extra = [g for g in rules.keywords if g not in ROUTING_ORDER and g != "channel"]
        self._order = {g: i for i, g in enumerate([*ROUTING_ORDER, *extra])}
        index = self._index = _Index(norm)
        index.add("topic", ((g, kw) for g in [*known, *extra] for kw in rules.keywords[g]), _PHRASE_GAP)
        plain: list[tuple[str, str]] = []
        self._wildcards: dict[str, list[_Wildcard]] = {}
        for g, kws in rules.negative_keywords.items():
            for kw in kws:
                if _WILDCARD in kw:
                    before, _, after = kw.partition(_WILDCARD)
                    self._wildcards.setdefault(g, []).append(_Wildcard(
                        g, kw.strip(), tuple(norm(before).split()), tuple(norm(after.replace(_WILDCARD, " ")).split())))
                else:
                    plain.append((g, kw))
        index.add("negative", plain, 0)
        # group -> (side, the word next to the "*") -> wildcards: a hit looks up only those that can wrap it.
        self._wildcard_index: dict[str, dict[tuple[str, str], list[_Wildcard]]] = {}
        for g, wildcards in self._wildcards.items():
            for w in wildcards:
                key = ("before", w.before[-1]) if w.before else ("after", w.after[0]) if w.after else None
                if key is not None:
                    self._wildcard_index.setdefault(g, {}).setdefault(key, []).append(w)
        index.add("spam", ((_SPAM, kw) for kw in rules.spam_keywords), _PHRASE_GAP)
        index.add("marker", (("marker", kw) for kw in COMPLAINT_MARKERS), 1)
        index.add("status", (("status", kw) for kw in _STATUS_PHRASES), 0)
        index.add("anchor", [*(("mine", kw) for kw in _STATUS_ANCHORS_MINE),
                             *(("tight", kw) for kw in _STATUS_ANCHORS_TIGHT)], 2)
        index.add("ask", [*(("far", kw) for kw in _STATUS_ASKS_FAR), *(("reply", kw) for kw in _STATUS_ASKS_REPLY),
                          *(("near", kw) for kw in _STATUS_ASKS_NEAR)], 0)
        index.add("scam", (("scam", kw) for kw in _SCAM_PHRASES), 1)
        index.add("ad", (("ad", kw) for kw in _AD_PHRASES), 1)
        index.add("against", (("against", kw) for kw in _MARKERS_AGAINST_SCAM), 1)
        index.add("job", [*(("job", kw) for kw in _JOB_PHRASES), *(("apply", kw) for kw in _APPLY_PHRASES),
                          *(("fee", kw) for kw in _FEE_PHRASES)], 1)
        self._reader = _Reader(index.words("topic", "spam", "anchor", "ask", "status"),
                               base | frozenset(abbreviations) | _FILLER,
                               typo_min_length=rules.typo_min_length,
                               typo_two_edit_length=rules.typo_two_edit_length)
        self._reader.first_words = index.first_words()
        # Ordinary words: a kecamatan of that name counts only after "kec"/"desa" ("di taman" is a park).
        self._ordinary = frozenset(_sastrawi().words | _lexicon_words() | set(abbreviations) | _FILLER
                                   | {w for v in abbreviations.values() for w in v.split()}
                                   | self._index.words("topic", "spam"))

    # -- public API ----------------------------------------------------------

    @property
    def model(self) -> RoutingModel | None:
        """The learned model beside the rules, or None."""
        return self._model

    def with_model(self, model: RoutingModel | None) -> Classifier:
        """This classifier (compiled rules and word caches shared) with another model, or none."""
        other = copy.copy(self)
        other._model = model
        return other

    def model_features(self, text: str, *, normalized: bool = False) -> dict[str, str]:
        """The learned model's features of ``text`` (``laporgub.routing_model.features``).

        Args:
            text: an SMS text, or with ``normalized`` a text already normalised.
            normalized: whether ``text`` is already normalised (by this or another classifier).
        """
        tokens = (text if normalized else self._normalize(text)).split()
        return features(tokens, [self._reader.forms(t).base for t in tokens])

    def classify(self, text: str, sender: str) -> Classification:
        """Sort one SMS.

        Order of decision: an operator sender; a status query by ticket number; spam (spam
        evidence with no sign of a citizen reporting it); a status query in words; too
        short (unless it names an emergency); otherwise a complaint, routed by keyword and
        regency.

        Args:
            text: the whole SMS text (multipart SMS joined).
            sender: the originating address as received.

        Returns:
            The classification.
        """
        return self._read(text, sender).classification

    def route(self, text: str) -> Classification:
        """Route a text already known to be a complaint, skipping the choice of kind.

        For re-routing a registered ticket (after a config reload, or by hand): its text
        may read like a status query today, but it still needs groups.

        Args:
            text: the complaint's text.

        Returns:
            A ``complaint`` classification, with at least one group.
        """
        return self._read(text, None).classification

    def explain(self, text: str, sender: str) -> Explanation:
        """``classify``, with the evidence behind it.

        Args:
            text: the whole SMS text.
            sender: the originating address.

        Returns:
            The classification, typo corrections, every group's evidence, the
            negative keywords that cancelled matches, and what the model says.
        """
        r = self._read(text, sender)
        corrections = {t: f.correction for t, f in zip(r.tokens, r.forms) if f.correction}
        opinion = None
        if self._model is not None and r.classification.kind == "complaint":
            opinion = self._model.opinion(features(r.tokens, [f.base for f in r.forms]))
        return Explanation(r.classification, MappingProxyType(corrections), MappingProxyType(dict(r.scores)),
                           MappingProxyType(dict(r.candidates)), MappingProxyType(dict(r.cancelled)),
                           r.spam_score, r.topic_score, opinion, r.model_added, r.model_vetoed)

    # -- the decision --------------------------------------------------------

    def _read(self, text: str, sender: str | None) -> _Reading:
        norm = self._normalize(text)
        tokens = tuple(norm.split())

        def other(kind: str, ticket_ref: str | None = None, matched: Mapping[str, tuple[str, ...]] | None = None,
                  **extra: Any) -> _Reading:
            return _Reading(Classification(kind, (), None, MappingProxyType(dict(matched or {})), ticket_ref, norm),
                            **extra)

        if sender is not None and is_operator_sender(sender):
            return other("operator")
        forms = tuple(self._reader.forms(t) for t in tokens)
        found = self._index.find(forms)
        topic_tokens, topic_forms, topic_found, topic_text = tokens, forms, found, text
        if _URL.search(text):
            # Words inside a link ("banpres-umkm.info") are bait, not topic.
            linkless = " ".join(w for w in text.split() if not _URL.search(w))
            topic_text = linkless
            topic_tokens = tuple(self._normalize(linkless).split())
            topic_forms = tuple(self._reader.forms(t) for t in topic_tokens)
            topic_found = self._index.find(topic_forms)
        topic_hits, cancelled = self._topic_hits(topic_tokens, topic_forms, topic_found, topic_text)
        spam_hits = found.get("spam", [])
        context: dict[str, Any] = {"forms": forms, "tokens": tokens, "cancelled": cancelled}
        if sender is None:
            reported = [dataclasses.replace(h, label=_FRAUD_GROUP, weak=False) for h in spam_hits
                        ] if _weight(spam_hits) >= 2 else []
            return self._complaint(text, norm, [*topic_hits, *reported], context, found, topic_tokens, topic_forms,
                                   frozenset({_FRAUD_GROUP}) if reported else frozenset())

        ticket = parse_ticket_number(text)
        if ticket is not None and not self._new_fact(text, tokens, found, topic_hits if topic_tokens is tokens
                                                     else self._topic_hits(tokens, forms, found, text)[0]):
            return other("status_query", ticket, **context)
        spam_score, topic_score, verdict, scam = self._spam_verdict(text, tokens, found, spam_hits, topic_hits)
        context |= {"spam_score": spam_score, "topic_score": topic_score}
        if verdict == "spam":
            signs = tuple(dict.fromkeys([*scam, *_spam_signs(text, tokens)]))
            return other("spam", matched={_SPAM: (*_first_seen(spam_hits), *signs)}, **context)
        if ticket is None and (self._short_status(tokens) or self._is_status_query(norm, tokens, found)):
            if not self._new_fact(text, tokens, found, topic_hits if topic_tokens is tokens
                                  else self._topic_hits(tokens, forms, found, text)[0]):
                return other("status_query", **context)
        if self._meaningful_words(tokens) < self.rules.min_words:
            # A careful human pages on "kebakaran!!" alone.
            if not any(h.label == _EMERGENCY_GROUP and not h.weak for h in topic_hits):
                return other("too_short", **context)
        # Fraud and gambling are the law group's, whatever else the report mentions.
        reported = [dataclasses.replace(h, label=_FRAUD_GROUP, weak=False) for h in spam_hits
                    ] if verdict == "reported" else []
        if verdict == "reported" and scam:
            reported.append(_Hit(_FRAUD_GROUP, scam[0], 0, 0))
        fraud = verdict == "reported" or (bool(found.get("against")) and bool(_MONEY.intersection(tokens)))
        if fraud:
            # "dapat sms, bilang anak saya kecelakaan, disuruh transfer": the accident is the swindler's story.
            told = [h for h in topic_hits if h.label == _EMERGENCY_GROUP
                    and (scam or _TOLD.intersection(tokens[max(0, h.start - 4): h.start]))]
            if told:
                topic_hits = [h for h in topic_hits if h not in told]
                cancelled[_EMERGENCY_GROUP] = (*cancelled.get(_EMERGENCY_GROUP, ()), "(cerita penipu)")
        return self._complaint(text, norm, [*topic_hits, *reported], context, found, topic_tokens, topic_forms,
                                   frozenset({_FRAUD_GROUP}) if reported else frozenset())

    def _complaint(self, text: str, norm: str, hits: list[_Hit], context: dict[str, Any],
                   found: Mapping[str, list[_Hit]], topic_tokens: Sequence[str], topic_forms: Sequence[_Forms],
                   reported: frozenset[str] = frozenset()) -> _Reading:
        by_group: dict[str, list[_Hit]] = {}
        for h in hits:
            by_group.setdefault(h.label, []).append(h)
        scores = {g: self._score(g, hs) for g, hs in by_group.items()}
        strong = {g for g, hs in by_group.items() if any(not h.weak for h in hs)}
        # Weak keywords are what stands in passing ("anak sy batuk" in a smoke complaint): beside a
        # group with a strong keyword they add their group only when the admin weighted it up.
        passed = {g for g, s in scores.items() if s >= self.rules.min_score
                  and (not strong or g in strong or self.rules.group_weights.get(g, 1.0) > 1.0)}
        if not passed:
            # Nothing stands out: every topic with some evidence, as a careful reader would.
            passed = {g for g in scores if g != _FALLBACK_GROUP}
        matched = {g: _first_seen(by_group[g]) for g in passed}
        added: tuple[str, ...] = ()
        vetoed: tuple[str, ...] = ()
        if self._model is not None:
            added, vetoed = self._ask_model(self._model, passed, by_group, scores, matched, context, found,
                                            (topic_tokens, topic_forms), reported)
        groups = set(passed)
        place: RegencyMatch | None = find_regency_match(text, self._reader.known, self._ordinary.__contains__)
        if place is not None and not place.place:
            # A kecamatan or village alone sets the regency (its leaders see the complaint), not kabkota.
            groups.add(_REGENCY_GROUP)
            matched.setdefault(_REGENCY_GROUP, (place.alias,))
        if not groups - {_REGENCY_GROUP, _FALLBACK_GROUP}:
            groups.add(_FALLBACK_GROUP)
        ordered = tuple(sorted(groups, key=lambda g: self._order.get(g, len(self._order))))
        matched = {g: matched[g] for g in ordered if g in matched}
        classification = Classification(
            "complaint", ordered, place.regency if place else None, MappingProxyType(matched), None, norm)
        candidates = {g: _first_seen(by_group[g], mark_weak=True)
                      for g in sorted(by_group, key=lambda g: self._order.get(g, len(self._order)))}
        return _Reading(classification, scores=scores, candidates=candidates, model_added=added, model_vetoed=vetoed,
                        **context)

    def _ask_model(self, model: RoutingModel, passed: set[str], by_group: Mapping[str, list[_Hit]],
                   scores: Mapping[str, float], matched: dict[str, tuple[str, ...]], context: Mapping[str, Any],
                   found: Mapping[str, list[_Hit]], topic: tuple[Sequence[str], Sequence[_Forms]],
                   reported: frozenset[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The model's two uses (``laporgub.routing_model``), changing ``passed`` and ``matched`` in place.

        ``reported``: groups a reported fraud or gambling gave the complaint (never dropped).

        Returns:
            (groups added instead of the catch-all, groups vetoed).
        """
        if not passed:
            # No topic evidence: the model's groups instead of the pelayanan_publik catch-all, except those
            # the rules cancelled in this text or an admin's negative keyword stands against.
            refused = set(context.get("cancelled", {})) | {n.label for n in found.get("negative", ())}
            asked = [g for g in MODEL_GROUPS if g not in refused and g in self.rules.keywords]
            if not asked:
                return (), ()
            opinion = model.opinion(self._features(context), asked)
            added = tuple(g for g in asked if opinion.probabilities[g] >= model.add_threshold)
            for g in added:
                passed.add(g)
                matched[g] = (opinion.reason(g),)
            return added, ()
        # A group resting on one shipped keyword beside another group: dropped when the model finds it
        # unlikely, and knows a word of that keyword in the text ("lstrik" it never saw says nothing).
        tokens, forms = topic

        def known(h: _Hit) -> bool:
            return any(model.knows(tokens[i], forms[i].base) for i in range(h.start, min(h.end + 1, len(tokens))))

        weak = [g for g in passed if g != _EMERGENCY_GROUP and g not in reported and g in MODEL_GROUPS
                and scores.get(g, 0.0) <= 1.0
                and all(h.keyword.lower() in self._model_may_veto.get(g, _BUILT_IN_NAMES) and known(h)
                        for h in by_group[g])]
        if not weak or len(passed) < 2:
            return (), ()
        opinion = model.opinion(self._features(context), weak, reasons=False)
        vetoed = tuple(g for g in weak if opinion.probabilities[g] < model.veto_threshold)
        if not vetoed or not passed - set(vetoed):
            return (), ()
        for g in vetoed:
            passed.discard(g)
            matched.pop(g, None)
        return (), vetoed

    @staticmethod
    def _features(context: Mapping[str, Any]) -> dict[str, str]:
        return features(context["tokens"], [f.base for f in context["forms"]])

    def _score(self, group: str, hits: list[_Hit]) -> float:
        strong = _outermost(h for h in hits if not h.weak)
        # Distinct weak keywords: "batuk2" (batuk batuk) is one cough, not two pieces of evidence.
        weak = {h.keyword for h in _outermost(h for h in hits if h.weak and not any(h.overlaps(s) for s in strong))}
        weight = self.rules.group_weights.get(group, 1.0)
        return weight * (len(strong) + self.rules.weak_weight * len(weak))

    def _topic_hits(self, tokens: Sequence[str], forms: Sequence[_Forms], found: Mapping[str, list[_Hit]],
                    source: str | None = None
                    ) -> tuple[list[_Hit], dict[str, tuple[str, ...]]]:
        # What the built-in evidence refused ("jalannya sudah diperbaiki") counts as cancelled: the learned
        # model must not give the group back.
        cancelled: dict[str, list[str]] = {}
        hits = [*found.get("topic", []), *self._built_in_hits(tokens, forms, source, cancelled)]
        if not hits:
            return hits, {g: tuple(dict.fromkeys(v)) for g, v in cancelled.items()}
        negatives = found.get("negative", [])
        dropped_groups: set[str] = set()
        kept: list[_Hit] = []
        for n in negatives:
            own = [h for h in hits if h.label == n.label]
            if own and n.words == 1 and not any(n.overlaps(h) for h in own):
                dropped_groups.add(n.label)
                cancelled.setdefault(n.label, []).append(n.keyword)
        for h in hits:
            if h.label in dropped_groups:
                continue
            by = [n.keyword for n in negatives if n.label == h.label and n.overlaps(h)]
            by += [w.keyword for w in self._wildcards_around(h, forms) if w.wraps(h, forms)]
            reason = "(nama tempat)" if _in_place_name(h, tokens) else _context_reason(h, tokens)
            if reason:
                by.append(reason)
            if by:
                cancelled.setdefault(h.label, []).extend(by)
                continue
            kept.append(h)
        if _ROAD_GROUP in self.rules.keywords:
            # "alun2 Wonosobo lampunya mati semua": the lights of a public place, not a PLN outage.
            for k, h in enumerate(kept):
                if h.label != _POWER_GROUP or "lampu" not in h.keyword.split():
                    continue
                place = _PUBLIC_PLACES.intersection(tokens[max(0, h.start - _PLACE_REACH): h.start])
                if place:
                    cancelled.setdefault(h.label, []).append(f"(lampu tempat umum: {min(place)})")
                    kept[k] = _Hit(_ROAD_GROUP, _PUBLIC_LIGHTS, h.start, h.end)
        return kept, {g: tuple(dict.fromkeys(v)) for g, v in cancelled.items()}

    def _built_in_hits(self, tokens: Sequence[str], forms: Sequence[_Forms], source: str | None = None,
                       refused: dict[str, list[str]] | None = None) -> list[_Hit]:
        """Evidence no keyword list can hold: a thing and its state far apart in one clause
        (``_STATES``: a road and its damage, a river and its pollution, the ground and its
        movement), and for darurat violence going on now and a flood's depth in numbers.
        What it reads and refuses (a repair done) is added to ``refused``."""
        found = self._state_hits(tokens, forms, source, refused)
        if _EMERGENCY_GROUP not in self.rules.keywords:
            return found
        n = len(tokens)
        violent = [i for i, t in enumerate(tokens) if t in _VIOLENCE or not _VIOLENCE.isdisjoint(forms[i].long)
                   or (i + 1 < n and f"{t} {tokens[i + 1]}" in _VIOLENCE)]
        violent = [i for i in violent if not _animal_before(tokens, i)]
        for i in violent:
            window = tokens[max(0, i - _NOW_REACH): i + _NOW_REACH]
            if _HABITUAL.intersection(window):
                continue
            now = bool(_NOW_MARKERS.intersection(window)) or (i > 0 and tokens[i - 1] == "lagi")
            now = now or any(_has_phrase(window, p) for p in _NOW_PHRASES)
            if now:
                found.append(_Hit(_EMERGENCY_GROUP, "kekerasan sedang terjadi", i, i))
                break
        for i, t in enumerate(tokens):
            threshold = _DEPTH_UNITS.get(t)
            if threshold is None or i == 0 or not tokens[i - 1].isdigit() or int(tokens[i - 1]) < threshold:
                continue
            if _WATER_WORDS.intersection(tokens[max(0, i - 5): i - 1]):
                found.append(_Hit(_EMERGENCY_GROUP, "ketinggian air", i - 1, i))
                break
        return found

    def _state_hits(self, tokens: Sequence[str], forms: Sequence[_Forms], source: str | None,
                    refused: dict[str, list[str]] | None = None) -> list[_Hit]:
        """"jalan di dusun kami tetap saja hancur", "sungai di desa kami keruh coklat", "tanah di belakang
        rumah retak": a thing, then its state further on in the same clause (a keyword phrase allows
        only two words between), for each of ``_STATES`` whose group the rules have."""
        found: list[_Hit] = []
        if _STATE_THINGS.isdisjoint(tokens):
            return found
        n = len(tokens)
        clause: list[int] | None = None
        for state in _STATES:
            if state.group not in self.rules.keywords:
                continue
            for i, t in enumerate(tokens):
                if t not in state.things or (i > 0 and (tokens[i - 1] in state.not_before
                                                         or tokens[i - 1].isdigit())):
                    continue
                if clause is None:  # punctuation ends a clause: read only when a thing is named
                    clause = _clause_index(source, n, self._normalize) if source is not None else [0] * n
                for j in range(i + 1, min(n, i + 1 + _STATE_REACH)):
                    if tokens[j] in _CLAUSE_WORDS or tokens[j] in state.things or clause[j] != clause[i]:
                        break
                    if state.states.isdisjoint(forms[j].long) and tokens[j] not in state.states:
                        continue
                    if (_DONE.intersection(tokens[max(i + 1, j - 2): j]) and not _NOT_DONE.intersection(tokens[i: j])
                            and not _REPAIRS.isdisjoint(forms[j].long | {tokens[j]})):
                        # "jalannya sudah diperbaiki": thanks, not a complaint about the road
                        if refused is not None:
                            refused.setdefault(state.group, []).append("(sudah diperbaiki)")
                        break
                    found.append(_Hit(state.group, state.name, i, j))
                    break
                else:
                    continue
                break  # one piece of such evidence per group
        return found

    def _wildcards_around(self, hit: _Hit, forms: Sequence[_Forms]) -> list[_Wildcard]:
        """The wildcard negatives of the hit's group whose word next to the ``*`` stands there."""
        by_word = self._wildcard_index.get(hit.label)
        if not by_word:
            return []
        near = set()
        if hit.start > 0:
            near |= {("before", w) for w in forms[hit.start - 1].every}
        if hit.end + 1 < len(forms):
            near |= {("after", w) for w in forms[hit.end + 1].every}
        return [w for key in near.intersection(by_word) for w in by_word[key]]

    def _spam_verdict(self, text: str, tokens: Sequence[str], found: Mapping[str, list[_Hit]], spam_hits: list[_Hit],
                      topic_hits: list[_Hit]) -> tuple[float, float, str | None, tuple[str, ...]]:
        """(spam evidence, topic evidence, ``"spam"``, ``"reported"`` or None, scam signs)."""
        scam = self._scam_signs(text, tokens, found)
        phrases = _outermost(spam_hits)
        signs = _spam_signs(text, tokens)
        weight = sum(min(2, h.words) for h in phrases)
        score = weight + len(signs)
        topic = _weight(h for h in topic_hits if not h.weak)
        if scam:
            # A scam borrows official words ("BLT", "PLN", "KTP"): they do not weigh against it,
            # only a citizen saying it happened to them does.
            against = [m for m in found.get("against", ())
                       if not any(m.overlaps(s) for s in (*spam_hits, *found.get("scam", ()), *found.get("ad", ())))]
            return score + 2 * len(scam), topic, "reported" if against else "spam", scam
        if score < 2 or not (weight or "[huruf hias]" in signs):
            return score, topic, None, ()
        # A citizen reporting fraud or gambling: when in doubt, a complaint.
        for m in found.get("marker", ()):
            if not any(m.overlaps(s) for s in spam_hits):
                return score, topic, "reported" if weight >= 2 else None, ()
        # Topic words and a citizen's voice ("saya", "warga") weigh against: a phrase in both
        # lists ("judi online") cancels out, while the official words of phishing ("PLN",
        # "bansos") are outweighed. One piece of evidence alone ("24 jam", "hp rusak") is
        # spam only in a message with nothing else to it ("mama minta pulsa ...").
        voice = min(2, len(_COMPLAINT_VOICE.intersection(tokens)))
        pieces = len(phrases) + len(signs)
        alone = topic == 0 and voice == 0 and weight >= 2
        spam = score > topic + voice and (pieces >= 2 or alone)
        return score, topic, "spam" if spam else None, ()

    def _scam_signs(self, text: str, tokens: Sequence[str], found: Mapping[str, list[_Hit]]) -> tuple[str, ...]:
        """The signs of a scam in ``text`` (see ``_SCAM_PHRASES``), in a stable order."""
        signs = [h.keyword for h in _outermost(found.get("scam", ()))]
        ads = [h.keyword for h in _outermost(found.get("ad", ()))]
        if len(ads) >= 2 or (ads and _CONTACT_NUMBER.search(text)):
            signs.extend(ads)
        links = [w for w in text.split() if _URL.search(w)]
        if links and not all(_OFFICIAL_LINK.search(w) for w in links):
            linkless = {t for w in text.split() if not _URL.search(w) for t in self._normalize(w).split()}
            if _BAIT_WORDS.intersection(linkless) or (_BAIT_WEAK.intersection(linkless)
                                                      and not (_COMPLAINT_VOICE | _CITIZEN_TONE) & linkless):
                signs.append("[tautan + ajakan]")
        job = {h.label for h in found.get("job", ())}
        if "job" in job and ("apply" in job or "fee" in job or _CONTACT_NUMBER.search(text)):
            signs.append("[iklan lowongan]")
        if (_ACCOUNT.intersection(tokens) and _TROUBLE.intersection(tokens)
                and _READER_RELATIVE.search(" ".join(tokens))):
            signs.append("[kabar keluarga + transfer]")
        if _APK.search(text):
            signs.append("[file apk]")
        if _DONATION.intersection(tokens) and _ACCOUNT.intersection(tokens):
            signs.append("[donasi ke rekening]")
        return tuple(dict.fromkeys(signs))

    def _meaningful_words(self, tokens: Sequence[str]) -> int:
        return sum(1 for t in tokens if len(t) >= 2 and not t.isdigit() and t not in _FILLER)

    def _is_status_query(self, norm: str, tokens: Sequence[str], found: Mapping[str, list[_Hit]]) -> bool:
        if not tokens:
            return False
        if norm in _STATUS_ALONE or found.get("status"):
            return True
        anchors = [a for a in found.get("anchor", ()) if not self._reported_elsewhere(tokens, a)]
        if not anchors:
            return False
        asks = [q for q in found.get("ask", ()) if q.label != "reply" or self._asked(tokens, q)]
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
    def _short_status(tokens: Sequence[str]) -> bool:
        """"CEK 240311", "Status LG-2024-001234", "cek#55621 mksh": a query word, an identifier, courtesy."""
        first = next((i for i, t in enumerate(tokens) if t in _QUERY_WORDS), None)
        if first is None:
            return False
        digits = [i for i, t in enumerate(tokens) if t.isdigit()]
        if not any(len(tokens[i]) >= 3 for i in digits) or min(digits) < first:
            return False
        ident = set(digits)
        for i in digits:  # letter codes beside the digits ("lg", "adu", "jtg")
            for j in (i - 1, i + 1):
                if 0 <= j < len(tokens) and tokens[j].isalpha() and len(tokens[j]) <= _REF_CODE_LETTERS \
                        and tokens[j] not in _QUERY_WORDS and tokens[j] not in _FILLER:
                    ident.add(j)
        rest = [t for i, t in enumerate(tokens) if i != first and i not in ident]
        return all(t in _FILLER or t in _REF_COURTESY or t in _QUERY_WORDS for t in rest)

    def _new_fact(self, text: str, tokens: Sequence[str], found: Mapping[str, list[_Hit]],
                  topic_hits: Sequence[_Hit]) -> bool:
        """Whether a message that names an earlier report also reports something new.

        The text is cut into clauses (punctuation, "tapi", "sekarang"...); a clause that neither
        names nor asks about the report (a status phrase, "laporan saya", a ticket number, "cek")
        but holds a topic keyword, or tells a fresh event ("tadi", "hari ini", "makin"), is a
        new fact. So is a message starting with "update" that has more to it than the query.
        """
        clause = _clause_index(text, len(tokens), self._normalize)
        # A ticket number or identifier has four digits or more ("100rb" is money).
        query_clauses = {clause[i] for i, t in enumerate(tokens)
                         if t in _QUERY_WORDS or (t.isdigit() and len(t) >= _REF_MIN_DIGITS)}
        for name in ("status", "anchor", "ask"):
            for h in found.get(name, ()):
                query_clauses.update(clause[h.start: h.end + 1])
        meaningful_outside = 0
        for i, t in enumerate(tokens):
            if clause[i] in query_clauses:
                continue
            if t not in _FILLER and len(t) >= 2 and not t.isdigit():
                meaningful_outside += 1
            if t in _FRESH_WORDS or any(tuple(tokens[i: i + len(p)]) == p for p in _FRESH_PHRASES):
                if _REPORTING.intersection(tokens[max(0, i - 2): i + 4]):
                    continue  # "saya yang tadi pagi lapor": when the earlier report was made
                return True
            if t in _NOW_WORDS and not (i > 0 and tokens[i - 1] in _UNTIL):
                return True
        if any(not h.weak and clause[h.start] not in query_clauses for h in topic_hits):
            return True
        first = next((t for t in tokens if t not in _FILLER), None)
        return first in _UPDATE_WORDS and meaningful_outside >= 3

    @staticmethod
    def _asked(tokens: Sequence[str], q: _Hit) -> bool:
        """Whether a reply word stands in a question or a negation ("kok belum dibalas", "diproses belum?")."""
        around = [*tokens[max(0, q.start - _REPLY_BEFORE): q.start], *tokens[q.end + 1: q.end + 1 + _REPLY_AFTER]]
        return bool(_QUESTION_WORDS.intersection(around))

    @staticmethod
    def _reported_elsewhere(tokens: Sequence[str], anchor: _Hit) -> bool:
        after = tokens[anchor.end + 1: anchor.end + 5]
        if after and after[0] in _OTHER_OFFICES:  # "sudah lapor RT"
            return True
        if not after or after[0] not in _ELSEWHERE_PREPS:
            return False
        if any(t in _OTHER_OFFICES for t in after[1:]):
            return True
        return len(after) < 2 or after[1] not in _HERE


# --------------------------------------------------------------------------
# Package defaults.


def rules_from_toml(data: Mapping[str, object]) -> RoutingRules:
    """Build rules from a parsed TOML document shaped like ``data/keywords.toml`` or config.toml.

    Args:
        data: ``{"groups": {key: {"keywords": [...], "negative_keywords": [...], "weight": 1.0}},
            "spam": {"keywords": [...]}, "abbreviations": {token: expansion},
            "intake": {"min_words": 2, "typo_min_length": 6, "typo_two_edit_length": 9},
            "routing": {"model": true}}``; every part but ``groups`` optional, other keys
            ignored. The thresholds may also stand in the ``[routing]`` table; ``[intake]``
            wins, as in config.toml.

    Returns:
        The rules.
    """
    tables = {key: data.get(key, {}) for key in ("groups", "spam", "routing", "intake", "abbreviations")}
    if not all(isinstance(t, Mapping) for t in tables.values()):
        raise TypeError("groups, spam, routing, intake and abbreviations must be TOML tables")
    groups, spam, abbreviations = tables["groups"], tables["spam"], tables["abbreviations"]
    routing, intake = tables["routing"], tables["intake"]
    assert isinstance(groups, Mapping) and isinstance(spam, Mapping) and isinstance(abbreviations, Mapping)
    assert isinstance(routing, Mapping) and isinstance(intake, Mapping)
    thresholds: dict[str, Any] = {**routing, **intake}
    defaults = RoutingRules(keywords={})
    return RoutingRules(
        keywords={k: tuple(g.get("keywords", ())) for k, g in groups.items() if k != "channel"},
        negative_keywords={k: tuple(g["negative_keywords"]) for k, g in groups.items() if g.get("negative_keywords")},
        spam_keywords=tuple(spam.get("keywords", ())),
        min_words=int(thresholds.get("min_words", defaults.min_words)),
        group_weights={k: float(g["weight"]) for k, g in groups.items() if "weight" in g},
        abbreviations={str(k): str(v) for k, v in abbreviations.items()},
        typo_min_length=int(thresholds.get("typo_min_length", defaults.typo_min_length)),
        typo_two_edit_length=int(thresholds.get("typo_two_edit_length", defaults.typo_two_edit_length)),
        model=bool(routing.get("model", defaults.model)),
    )


def load_default_rules() -> RoutingRules:
    """The package's default keyword lists (``laporgub/data/keywords.toml``), for tests and tools.

    The service itself takes its lists from config.toml.
    """
    return rules_from_toml(tomllib.loads(_data_text("keywords.toml")))
