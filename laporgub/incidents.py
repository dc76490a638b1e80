"""Incidents: many complaints about one event, linked into one, answered once.

When a river breaks its bank, the centre gets forty SMS from forty numbers in
forty wordings. Each still becomes its own ticket with its own acknowledgement
and reaches the channel, but the category groups and the leaders see one
incident: the first report's message, edited as reports join (count, places,
the newest texts), plus a short new message when the count reaches a
threshold. A PIC's answer to the incident goes to every reporter.

Plain functions over the database with the time passed in, no threads: the
KeywordFilter calls :func:`link_report` inside the transaction that routes a
ticket (so a crash links a report once or not at all, and the retry after the
restart decides again), the dispatchers render and send the edits
(:func:`edit_plan`), the ResponseDesk calls :func:`answer`, :func:`close`,
:func:`merge` and :func:`split`.

When is a report about the same event (docs/incidents.md measures it)?

* an overlapping **topic group** (the keyword groups it matched, ``kabkota``
  aside), and the groups with the most keywords in common: "jalan rusak
  akibat banjir" is a road report, not a flood report;
* the **same place**: the same regency (a report naming none must share a
  place name with the incident), and where both name a village (``desa``,
  ``kelurahan``, ``kampung``, ``dusun``, ``dukuh``) or a kecamatan, the same one:
  two fires in two villages of one regency are two incidents;
* within the **window** (``[incidents] window_hours`` after the incident's
  latest report);
* **similar words**: ``0.5 x`` the weighted overlap of their content words
  (stems; matched keywords count twice) ``+ 0.4 x`` whether they name the same
  village-like place (1 same, 0 different, 0.5 when one names none) ``+ 0.1 x``
  the overlap of their topic groups, against the most alike report of the
  incident, at least ``[incidents] similarity``.

The second report that links opens the incident (with the first as its
anchor). An incident takes reports until the window passes without one
(``expired``) or a PIC closes it.
"""

from __future__ import annotations

import logging
import re
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import peewee
from rapidfuzz import fuzz

from laporgub import db
from laporgub.config import Config, IncidentsConfig
from laporgub.gazetteer import ALIASES, REGENCIES
from laporgub.render import IncidentReport, IncidentView
from laporgub.routing import Classification, Classifier, load_abbreviations

logger = logging.getLogger(__name__)

#: Statuses in which an incident still answers for its reports (a reply reaches them all).
LIVE = ("open", "expired", "closed")
#: Notification kinds of an incident: its own message, a threshold notice, an edit of its message(s).
OWN, NOTICE, EDIT = "incident", "threshold", "edit"
#: Ticket notification kinds whose message may be an incident's (its first report's).
TICKET_KINDS = ("ticket", "spam")
#: Weights of the pair score (docs/incidents.md).
W_TEXT, W_PLACE, W_GROUPS = 0.5, 0.4, 0.1
#: The place term when only a kecamatan, town or street is shared (a village shared: 1).
PLACE_NEAR = 0.8
#: Profiles compared per report at most (the most recent in the window).
MAX_CANDIDATES = 2000
#: Newest reports quoted in an incident's message.
QUOTED = 3

_STOPWORDS = frozenset("""
    di ke dari dan yang ini itu sudah belum tidak bisa ada akan untuk dengan pada karena sejak oleh atau juga lagi
    masih sangat sekali mohon tolong bapak ibu pak bu gubernur gub kami warga kita saya sudah telah jam hari pagi sore
    malam kemarin tadi sekarang agar segera minta bantuan bantu lapor laporan assalamualaikum terima kasih makin semakin
    banyak lebih para se sampai hingga baru mau buat dapat jadi parah banget sekali bikin kena akibat setelah dekat
    yth mas mbak sdr admin tim kok nih dong ya kah pun tapi tetapi namun apa gimana bagaimana
""".split())
_VILLAGE_WORDS = frozenset({"desa", "ds", "dsa", "kelurahan", "kel", "kampung", "kp", "kmp", "kpg", "kmpung", "dusun",
                            "dsn", "dukuh", "dk", "dkh"})
_DISTRICT_WORDS = frozenset({"kecamatan", "kec", "kcmt", "kcm"})
_NOT_NAMES = frozenset({"rt", "rw", "kab", "kabupaten", "kota", "kodya", "provinsi", "jalan", "jl", "jln", "gang",
                        "gg", "no", "nomor", "blok"})
_REGENCY_WORDS = frozenset(w.lower() for r in REGENCIES for w in r.split())
#: Keywords that are place words ("kelurahan" reads as "lurah"): no evidence of a topic.
_PLACE_KEYWORDS = frozenset({"lurah", "kelurahan", "camat", "kecamatan", "desa", "kampung", "dusun", "dukuh",
                             "kades", "kepala desa", "rt", "rw"})
_VERB_PREFIXES = ("di", "ter", "me", "ber", "ke", "se", "ng")
_TOKEN = re.compile(r"[^\W\d_]+|\d+|[.,;:!?()/]")
_REPEATS = re.compile(r"(.)\1{2,}")
_LABEL = re.compile(r"#?[kK](\d{1,9})")


def label(incident_id: int) -> str:
    """What PICs read and type for an incident: ``K12``."""
    return f"K{incident_id}"


def parse_label(text: str) -> int | None:
    """``K12``, ``k12`` or ``#K12`` -> 12; None for anything else."""
    m = _LABEL.fullmatch(text.strip())
    return int(m.group(1)) if m else None


# --------------------------------------------------------------------------
# What is compared: a report's profile.


@dataclass(frozen=True, slots=True)
class Profile:
    """What linking compares of one complaint (stored as a ``LinkProfile`` row).

    Attributes:
        regency: the regency or city named, or None.
        groups: the topic groups it matched by keyword (``kabkota`` aside).
        primary: those with the most keywords.
        villages: names written after desa/kelurahan/kampung/dusun/dukuh (lowercase, words joined).
        districts: names after kecamatan, and towns the gazetteer knows (Sayung, Tlogosari).
        names: village-like names: the villages and other words no dictionary knows (Bedono, Sijeruk).
        words: stems of the other content words.
        keywords: stems of the words of the keywords it matched.
    """

    regency: str | None
    groups: frozenset[str]
    primary: frozenset[str]
    weights: Mapping[str, int] = field(default_factory=dict)  # keywords matched per topic group
    villages: frozenset[str] = frozenset()
    districts: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()
    words: frozenset[str] = frozenset()
    keywords: frozenset[str] = frozenset()
    by_group: Mapping[str, frozenset[str]] = field(default_factory=dict)  # keyword stems per topic group

    @property
    def places(self) -> frozenset[str]:
        return self.villages | self.districts | self.names

    def row(self) -> dict[str, object]:
        """The ``LinkProfile`` columns."""
        def csv(values: Iterable[str]) -> str:
            return ",".join(sorted(values))

        groups = ",".join(f"{g}:{self.weights.get(g, 1)}" for g in sorted(self.groups))
        return {"regency": self.regency, "groups": groups, "primary": csv(self.primary),
                "villages": csv(self.villages), "districts": csv(self.districts), "names": csv(self.names),
                "words": " ".join(sorted(self.words)),
                "keywords": ";".join(f"{g}:{' '.join(sorted(ks))}" for g, ks in sorted(self.by_group.items()))}

    @classmethod
    def from_row(cls, row: db.LinkProfile) -> Profile:
        def parts(text: str, sep: str = ",") -> frozenset[str]:
            return frozenset(p for p in (text or "").split(sep) if p)

        by_group: dict[str, frozenset[str]] = {}
        for part in (row.keywords or "").split(";"):
            group, _, stems = part.partition(":")
            if group:
                by_group[group] = frozenset(stems.split())
        weights = {}
        for part in parts(row.groups):
            group, _, count = part.partition(":")
            weights[group] = int(count) if count.isdigit() else 1
        return cls(regency=row.regency, groups=frozenset(weights), primary=parts(row.primary), weights=weights,
                   villages=parts(row.villages), districts=parts(row.districts), names=parts(row.names),
                   words=parts(row.words, " "), by_group=by_group,
                   keywords=frozenset().union(*by_group.values()) if by_group else frozenset())


@lru_cache(maxsize=1)
def _dictionary() -> tuple[frozenset[str], Callable[[str], str]]:
    """PySastrawi's root words with the shipped lexicon, and its stemmer (loaded once)."""
    from Sastrawi.Stemmer.StemmerFactory import StemmerFactory  # type: ignore[import-untyped]  # no type information

    factory = StemmerFactory()
    lexicon = resources.files("laporgub").joinpath("data/lexicon.txt").read_text(encoding="utf-8")
    words = set(factory.get_words()) | {
        line.strip().lower() for line in lexicon.splitlines() if line.strip() and not line.startswith("#")}
    return frozenset(words), factory.create_stemmer().stem


class Profiler:
    """Builds profiles with one configuration's keywords. Build once per config load; use from one thread.

    Args:
        classifier: the keyword classifier of the configuration (its rules' keywords are known words).
    """

    def __init__(self, classifier: Classifier) -> None:
        self.dictionary, self._stemmer = _dictionary()
        self.abbreviations = load_abbreviations()
        keywords = {*classifier.rules.keywords.values(), classifier.rules.spam_keywords}
        self.keyword_words = frozenset(w for kws in keywords for kw in kws
                                       for w in re.sub(r"[^\w ]", " ", kw.lower().lstrip("~")).split())
        self._stems: dict[str, str] = {}

    def stem(self, word: str) -> str:
        stem = self._stems.get(word)
        if stem is None:
            if len(self._stems) > 50_000:
                self._stems.clear()
            stem = self._stems[word] = self._stemmer(word) or word
        return stem

    def known(self, word: str) -> bool:
        """A word of the language (dictionary, lexicon, abbreviation, keyword), not a name."""
        word = _REPEATS.sub(r"\1", word)
        return self.listed(word) or self.stem(word) in self.dictionary

    def listed(self, word: str) -> bool:
        """In a word list as written (not only its stem: "Pejagoan" stems to "jago" and is a village)."""
        return (word in self.dictionary or word in self.abbreviations or word in self.keyword_words
                or word in _STOPWORDS)

    def _inflected(self, word: str) -> bool:
        """An affixed form of a known root as verbs and adjectives take them ("tertutup", "kekurangan")."""
        return word.startswith(_VERB_PREFIXES) and self.stem(word) in self.dictionary

    def profile(self, text: str, result: Classification) -> Profile | None:
        """The profile of a complaint; None when it matched no topic group (nothing to link on)."""
        if result.kind != "complaint":
            return None
        by_group: dict[str, frozenset[str]] = {}
        counts: dict[str, int] = {}
        for group, kws in result.matched.items():
            if group == "kabkota" or group not in result.groups:
                continue
            # "kelurahan" holds "lurah" (a public-service keyword): place words are no topic.
            topical = [kw for kw in kws if not set(kw.split()) <= _PLACE_KEYWORDS]
            if topical:
                counts[group] = len(topical)
                by_group[group] = frozenset(self.stem(w) for kw in topical for w in kw.split() if w not in _STOPWORDS)
        if not counts:
            return None
        top = max(counts.values())
        villages, districts, names = self._places(text)
        every = villages | districts | names
        words = set()
        for token in result.normalized.split():
            if (token in _STOPWORDS or token.isdigit() or len(token) < 3 or token in _REGENCY_WORDS
                    or token in _VILLAGE_WORDS or token in _DISTRICT_WORDS or token in ALIASES
                    or token in _PLACE_KEYWORDS or any(same_place(token, n) for n in every)):
                continue
            words.add(self.stem(token))
        keywords = set().union(*by_group.values())
        return Profile(
            regency=result.regency, groups=frozenset(counts), weights=counts,
            primary=frozenset(g for g, n in counts.items() if n == top),
            villages=frozenset(villages), districts=frozenset(districts), names=frozenset(names),
            words=frozenset(words - keywords), keywords=frozenset(keywords), by_group=by_group,
        )

    def _places(self, text: str) -> tuple[set[str], set[str], set[str]]:
        """Villages, districts and other village-like names in ``text`` (lowercase, multi-word names spaced).

        A word is a name when no word list has it; a dictionary word only when written as a
        name (Capitalised inside a sentence of a text in ordinary case: "Desa Jati", "warga
        Semanggi"), and after a village word also a root with a noun's affixes ("Pejagoan").
        """
        tokens = _TOKEN.findall(text)
        alpha = [t for t in tokens if t.isalpha()]
        capitals = sum(1 for t in alpha if t[:1].isupper() and t[1:].islower())
        # Capitals say "name" only in ordinary writing: not in ALL CAPS, all lower case or Every Word Capitalised.
        cased = text != text.upper() and text != text.lower() and capitals <= 0.75 * len(alpha)

        def written_as_name(i: int) -> bool:
            token = tokens[i]
            return (cased and token[:1].isupper() and token[1:].islower() and i > 0
                    and tokens[i - 1] not in (".", "!", "?", ":"))

        villages: set[str] = set()
        districts: set[str] = set()
        i = 0
        while i < len(tokens):
            word = tokens[i].lower()
            if word not in _VILLAGE_WORDS and word not in _DISTRICT_WORDS:
                i += 1
                continue
            j = i + 1
            if j < len(tokens) and tokens[j] == ".":
                j += 1
            name: list[str] = []
            while j < len(tokens) and len(name) < 2:
                token = tokens[j]
                low = token.lower()
                if (not token.isalpha() or low in _VILLAGE_WORDS or low in _DISTRICT_WORDS or low in _STOPWORDS
                        or low in _REGENCY_WORDS or low in _NOT_NAMES or low in _PLACE_KEYWORDS
                        or (name and low in ALIASES)):
                    break
                # "desa tertutup" is no village; "Desa Jati", "ds pejagoan" are.
                if (self.listed(low) or self._inflected(low)) and not written_as_name(j):
                    break
                name.append(low)
                j += 1
            if name:
                (villages if word in _VILLAGE_WORDS else districts).add(" ".join(name))
            i = j
        names = set(villages)
        for i, token in enumerate(tokens):
            low = _REPEATS.sub(r"\1", token.lower())
            if not token.isalpha() or low in _REGENCY_WORDS:
                continue
            if low in ALIASES:
                districts.add(low)
            elif len(low) >= 5 and low not in _STOPWORDS and low not in self.keyword_words and (
                    not self.known(low) or (written_as_name(i) and low not in self.abbreviations)):
                names.add(low)
        return villages, districts, names


def same_place(a: str, b: str) -> bool:
    """Two written place names are one place: equal, one the other's start ("tlogosari" in
    "tlogosari kulon"), or one typing slip apart; spaces do not count ("karang tengah")."""
    a, b = a.replace(" ", ""), b.replace(" ", "")
    if a == b:
        return True
    if min(len(a), len(b)) >= 5 and (a.startswith(b) or b.startswith(a)):
        return True
    return min(len(a), len(b)) >= 4 and fuzz.ratio(a, b) >= 88


def _meet(a: Iterable[str], b: Iterable[str]) -> bool:
    b = tuple(b)
    return any(same_place(x, y) for x in a for y in b)


def place_conflict(villages: frozenset[str], districts: frozenset[str], other_villages: Iterable[str],
                   other_districts: Iterable[str]) -> bool:
    """Both name a village and not the same one, or (naming no village) both a kecamatan, not the same one."""
    other_villages, other_districts = frozenset(other_villages), frozenset(other_districts)
    if villages and other_villages:
        return not _meet(villages, other_villages)
    if districts and other_districts:
        return not _meet(districts, other_districts)
    return False


def pair_score(a: Profile, b: Profile) -> float | None:
    """How alike two reports are, 0..1; None when they cannot be about one event (topic or place)."""
    # What each is mostly about must be the same, and they must share a keyword of it: "jalan rusak
    # akibat banjir" is a road report mentioning a flood, not a flood report.
    main = a.primary & b.primary
    if not main or not any(a.by_group.get(g, frozenset()) & b.by_group.get(g, frozenset()) for g in main):
        return None
    # An emergency and what is not one are two events however alike their words: the flood and the
    # road it broke, the market fire and the market's prices.
    if ("darurat" in a.groups) != ("darurat" in b.groups):
        return None
    if a.regency and b.regency and a.regency != b.regency:
        return None
    if place_conflict(a.villages, a.districts, b.villages, b.districts):
        return None
    weights = {w: 1.0 for w in a.words} | {w: 2.0 for w in a.keywords}
    other = {w: 1.0 for w in b.words} | {w: 2.0 for w in b.keywords}
    shared = sum(min(v, other[k]) for k, v in weights.items() if k in other)
    smaller = min(sum(weights.values()), sum(other.values()))
    text = shared / smaller if smaller else 0.0
    if a.names and b.names:
        place = 1.0 if _meet(a.names, b.names) else 0.0
    elif _meet(a.places, b.places):
        place = PLACE_NEAR  # the same kecamatan, town or street (Tlogosari, Kaligawe)
    else:
        place = 0.5
    groups = len(a.groups & b.groups) / len(a.groups | b.groups)
    return round(W_TEXT * text + W_PLACE * place + W_GROUPS * groups, 4)


_PROFILERS: weakref.WeakKeyDictionary[Classifier, Profiler] = weakref.WeakKeyDictionary()


def profiler_for(classifier: Classifier) -> Profiler:
    """The profiler of this classifier's keywords (built on first use, kept as long as the classifier)."""
    profiler = _PROFILERS.get(classifier)
    if profiler is None:
        profiler = _PROFILERS[classifier] = Profiler(classifier)
    return profiler


# --------------------------------------------------------------------------
# Finding the incident a report belongs to.


@dataclass(frozen=True, slots=True)
class Match:
    """The best incident (or single earlier report) for a report.

    Attributes:
        incident_id: the open incident it joins, or None: it opens one with ``ticket_id``.
        ticket_id / number: the most alike earlier report.
        score: the pair score with it.
    """

    incident_id: int | None
    ticket_id: int
    number: str
    score: float


@dataclass
class _Candidate:
    incident_id: int | None
    members: list[tuple[int, str, Profile]] = field(default_factory=list)
    regencies: set[str] = field(default_factory=set)


def find_match(settings: IncidentsConfig, prof: Profile, now: float, *, exclude: int | None = None) -> Match | None:
    """The open incident, or the single recent report, ``prof`` is most alike (at least ``similarity``).

    Reads only: the caller links (inside its transaction).
    """
    start = now - settings.window_hours * 3600
    P, T = db.LinkProfile, db.Ticket
    query = (
        P.select(P, T.id, T.number, T.incident, T.status)
        .join(T, on=(P.ticket == T.id))
        .where((P.at >= start) & (T.kind == "complaint"))
        .order_by(P.at.desc())
        .limit(MAX_CANDIDATES)
    )
    if exclude is not None:
        query = query.where(T.id != exclude)
    if prof.regency is not None:
        query = query.where((P.regency == prof.regency) | P.regency.is_null())
    groups: dict[object, _Candidate] = {}
    incident_ids: set[int] = set()
    for row in query:
        ticket = row.ticket
        if ticket.incident_id is None and ticket.status == "closed":
            continue  # answered and closed on its own: that event is over
        key: object = ("incident", ticket.incident_id) if ticket.incident_id else ("ticket", ticket.id)
        candidate = groups.setdefault(key, _Candidate(ticket.incident_id))
        member = Profile.from_row(row)
        candidate.members.append((ticket.id, ticket.number, member))
        if member.regency:
            candidate.regencies.add(member.regency)
        if ticket.incident_id:
            incident_ids.add(ticket.incident_id)
    live = {}
    if incident_ids:
        Inc = db.Incident
        live = {i.id: i for i in Inc.select().where(Inc.id.in_(list(incident_ids)) & (Inc.status == "open")
                                                    & (Inc.last_report_at >= start))}
    best: Match | None = None
    for candidate in groups.values():
        if candidate.incident_id is not None:
            incident = live.get(candidate.incident_id)
            if incident is None:
                continue
            if incident.regency:
                candidate.regencies.add(incident.regency)
        if prof.regency is not None and candidate.regencies and prof.regency not in candidate.regencies:
            continue
        places = set().union(*(m.places for _, _, m in candidate.members))
        if (prof.regency is None or not candidate.regencies) and not _meet(prof.places, places):
            continue  # no regency to compare: a place name must be shared
        villages = set().union(*(m.villages for _, _, m in candidate.members))
        districts = set().union(*(m.districts for _, _, m in candidate.members))
        if place_conflict(prof.villages, prof.districts, villages, districts):
            continue
        for ticket_id, number, member in candidate.members:
            score = pair_score(prof, member)
            if score is None or score < settings.similarity:
                continue
            if best is None or score > best.score or (score == best.score and candidate.incident_id
                                                        and best.incident_id is None):
                best = Match(candidate.incident_id, ticket_id, number, score)
    return best


# --------------------------------------------------------------------------
# Linking, inside the routing transaction.


@dataclass(frozen=True, slots=True)
class Linked:
    """What linking one report committed (with the routing).

    Attributes:
        incident_id / label: the incident it joined.
        opened: it opened the incident (the second report).
        reports: the incident's reports now.
        notify: the destinations that still get this report's own notification (the channel).
        saved: notifications not posted thanks to the incident (one per category group or leader).
        wake: destinations with incident rows to send now (new messages, edits due now, a notice).
        score: how alike it was to its nearest report.
    """

    incident_id: int
    label: str
    opened: bool
    reports: int
    notify: tuple[str, ...]
    saved: int
    wake: tuple[str, ...]
    score: float


def link_report(config: Config, classifier: Classifier, ticket: db.Ticket, result: Classification,
                destinations: Sequence[str], chat_ids: Mapping[str, int], now: float) -> Linked | None:
    """Store a routed complaint's profile and link it to its incident, if it has one.

    Call inside the transaction that commits the ticket's routing: either both commit or
    neither, so a crash never links a report twice or half. Returns None when the report
    stands alone (it is then notified as any ticket).

    Args:
        config: for ``[incidents]`` and the texts of a late reporter's SMS.
        classifier: the configuration's keywords (what counts as a word, not a name).
        ticket: the ticket being routed (a complaint).
        result: its routing.
        destinations: where it would be notified on its own (channel, groups, leaders).
        chat_ids: every destination's chat.
        now: the routing time.
    """
    settings = config.incidents
    profiler = profiler_for(classifier)
    prof = profiler.profile(ticket.text, result)
    if prof is None:
        return None
    if not db.is_sqlite():
        # Two instances routing two reports of one event at once would each open an incident:
        # link one report per regency at a time (SQLite's BEGIN IMMEDIATE serialises writers already).
        db.database.execute_sql("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"incident:{prof.regency or '-'}",))
    db.LinkProfile.insert(ticket=ticket.id, at=now, **prof.row()).on_conflict_ignore().execute()
    match = find_match(settings, prof, now, exclude=ticket.id)
    if match is None:
        return None
    opened = match.incident_id is None
    if opened:
        anchor = db.Ticket.get_by_id(match.ticket_id)
        incident = db.Incident.create(anchor=anchor.id, status="open", regency=prof.regency or anchor.regency,
                                      groups="", opened_at=now, last_report_at=now, updated_at=now)
        db.Ticket.update(incident=incident.id, updated_at=now).where(db.Ticket.id == anchor.id).execute()
        _event(incident.id, anchor.id, "open", "service", f"first={anchor.number}", now)
    else:
        incident = db.Incident.get_by_id(match.incident_id)
    ticket.incident_id = incident.id
    db.Ticket.update(incident=incident.id).where(db.Ticket.id == ticket.id).execute()  # counted below
    _event(incident.id, ticket.id, "link", "service", f"score={match.score:.2f} nearest={match.number}", now)
    groups = set(filter(None, incident.groups.split(","))) | prof.groups
    if opened:
        anchor_profile = db.LinkProfile.get_or_none(db.LinkProfile.ticket == match.ticket_id)
        if anchor_profile is not None:
            groups |= Profile.from_row(anchor_profile).groups
    incident.groups = ",".join(sorted(groups))
    incident.regency = incident.regency or prof.regency
    incident.last_report_at = now
    incident.updated_at = now

    covered = incident_destinations(incident.id)
    notify = [d for d in destinations if d == "channel"]
    saved = 0
    wake: list[str] = []
    fresh: list[str] = []
    for dest in destinations:
        if dest == "channel" or dest not in chat_ids:
            continue
        if dest in covered:
            saved += 1
            continue
        # A group or leader that has no message of this incident yet gets one (once).
        db.Notification.create(incident=incident.id, destination=dest, chat_id=chat_ids[dest], kind=OWN,
                               queued_at=now)
        fresh.append(dest)
        wake.append(dest)
    for dest in covered:
        due = ensure_edit(incident.id, dest, chat_ids.get(dest), now, settings.edit_interval_seconds)
        if due is not None and due <= now:
            wake.append(dest)
    reports = report_count(incident.id)
    crossed = [t for t in settings.thresholds if incident.threshold < t <= reports]
    if crossed:
        incident.threshold = crossed[-1]
        # A notice still waiting (the chat is at its flood limit) is replaced: one notice, the latest count.
        db.Notification.delete().where((db.Notification.incident == incident.id) & (db.Notification.kind == NOTICE)
                                       & (db.Notification.status == "pending")).execute()
        for dest in [*covered, *fresh]:
            if dest in chat_ids:
                db.Notification.create(incident=incident.id, destination=dest, chat_id=chat_ids[dest], kind=NOTICE,
                                       queued_at=now)
                wake.append(dest)
    db.save_changes(incident)
    late = _answer_late_reporter(config, incident.id, ticket, now)
    logger.info("event=incident_linked incident=%s ticket=%s opened=%s reports=%s score=%.2f nearest=%s saved=%s%s",
                label(incident.id), ticket.number, opened, reports, match.score, match.number, saved,
                " late_answer=true" if late else "")
    return Linked(incident.id, label(incident.id), opened, reports, tuple(notify), saved,
                  tuple(dict.fromkeys(wake)), match.score)


def report_count(incident_id: int) -> int:
    return int(db.Ticket.select().where(db.Ticket.incident == incident_id).count())


def incident_destinations(incident_id: int) -> list[str]:
    """Where the incident has a message (or one queued): its first report's groups and leaders, and its own rows."""
    incident = db.Incident.get_by_id(incident_id)
    N = db.Notification
    dests: list[str] = []
    if incident.anchor:
        dests += [r.destination for r in N.select(N.destination).where(
            (N.ticket == incident.anchor) & N.kind.in_(TICKET_KINDS) & (N.destination != "channel")
            & (N.status != "failed")).order_by(N.id)]
    dests += [r.destination for r in N.select(N.destination).where(
        (N.incident == incident_id) & (N.kind == OWN)).order_by(N.id)]
    return list(dict.fromkeys(dests))


def ensure_edit(incident_id: int, destination: str, chat_id: int | None, now: float, interval: float,
                *, edit_of: int | None = None) -> float | None:
    """Queue one edit of the incident's message in ``destination`` (at most one waiting; paced by ``interval``).

    The edit renders the incident as it is when sent, so one waiting edit carries every
    change queued after it. Returns when it is due, or None when one was waiting already.
    """
    if chat_id is None:
        return None
    N = db.Notification
    waiting = ((N.incident == incident_id) & (N.destination == destination) & (N.kind == EDIT)
               & (N.status == "pending") & (N.edit_of.is_null() if edit_of is None else (N.edit_of == edit_of)))
    # The waiting edit carries this change too; it remembers when the latest one was.
    if N.update(queued_at=now).where(waiting).execute():
        return None
    last = N.select(peewee.fn.MAX(N.sent_at)).where(
        (N.incident == incident_id) & (N.destination == destination) & (N.kind == EDIT)).scalar()
    due = max(now, (last or 0.0) + interval)
    N.create(incident=incident_id, destination=destination, chat_id=chat_id, kind=EDIT, queued_at=now,
             next_attempt_at=due, edit_of=edit_of)
    return due


def _event(incident_id: int, ticket_id: int | None, action: str, actor: str, detail: str, now: float) -> None:
    db.IncidentEvent.create(incident=incident_id, ticket=ticket_id, action=action, actor=actor, detail=detail, at=now)


def _answer_late_reporter(config: Config, incident_id: int, ticket: db.Ticket, now: float) -> bool:
    """A report joining an incident already answered gets that answer too (recorded on its ticket, sent by SMS)."""
    T, R = db.Ticket, db.PicResponse
    last = (R.select().join(T, on=(R.ticket == T.id))
            .where((T.incident == incident_id) & R.action.in_(["response", "close"]))
            .order_by(R.created_at.desc(), R.id.desc()).first())
    if last is None or last.action == "close":
        return False
    R.create(ticket=ticket.id, pic_telegram_id=last.pic_telegram_id, pic_name=last.pic_name, agency=last.agency,
             text=last.text, action="response", chat_id=last.chat_id, message_id=last.message_id, created_at=now)
    db.Ticket.update(status="responded").where((T.id == ticket.id) & (T.status == "open")).execute()
    ticket.status = "responded" if ticket.status == "open" else ticket.status
    if ticket.kind == "complaint" and ticket.sender:
        from laporgub.desk import Texts

        body = Texts(config).sms("response_sms", ticket=ticket.number, agency=last.agency or "", response=last.text)
        db.OutboundSms.create(destination=ticket.sender, text=body, purpose="response", ticket=ticket.id,
                              created_at=now)
    return True


def expire(settings: IncidentsConfig, now: float) -> int:
    """End the open incidents whose window passed without a new report; returns how many."""
    Inc = db.Incident
    cutoff = now - settings.window_hours * 3600
    ended = list(Inc.select(Inc.id, Inc.last_report_at).where((Inc.status == "open") & (Inc.last_report_at < cutoff)))
    for incident in ended:
        with db.database.atomic():
            changed = Inc.update(status="expired", closed_at=incident.last_report_at + settings.window_hours * 3600,
                               closed_by="window", updated_at=now).where(
                (Inc.id == incident.id) & (Inc.status == "open")).execute()
            if changed:
                _event(incident.id, None, "expire", "service", "", now)
    if ended:
        logger.info("event=incidents_expired count=%s", len(ended))
    return len(ended)


def open_count(settings: IncidentsConfig, now: float) -> int:
    """Incidents that still take reports."""
    Inc = db.Incident
    return int(Inc.select().where((Inc.status == "open")
                                & (Inc.last_report_at >= now - settings.window_hours * 3600)).count())


# --------------------------------------------------------------------------
# What the messages show.


def view(incident_id: int) -> IncidentView | None:
    """A snapshot of an incident for its messages."""
    incident = db.Incident.get_or_none(db.Incident.id == incident_id)
    if incident is None:
        return None
    T = db.Ticket
    tickets = list(T.select(T.id, T.number, T.sender, T.text, T.received_at)
                   .where(T.incident == incident_id).order_by(T.received_at.desc(), T.id.desc()))
    if not tickets and incident.anchor:
        tickets = list(T.select(T.id, T.number, T.sender, T.text, T.received_at).where(T.id == incident.anchor))
    P = db.LinkProfile
    villages: list[str] = []
    districts: list[str] = []
    for row in P.select(P.villages, P.districts).where(P.ticket.in_([t.id for t in tickets] or [0])):
        villages += [v for v in row.villages.split(",") if v]
        districts += [d for d in row.districts.split(",") if d and d not in ALIASES]
    places = [f"Desa {v.title()}" for v in _most_named(villages)] + \
             [f"Kec. {d.title()}" for d in _most_named(districts)]
    R = db.PicResponse
    last = (R.select().join(T, on=(R.ticket == T.id))
            .where((T.incident == incident_id) & R.action.in_(["response", "close"]))
            .order_by(R.created_at.desc(), R.id.desc()).first())
    times = [t.received_at for t in tickets] or [incident.opened_at]
    return IncidentView(
        label=label(incident.id), status=incident.status, reports=len(tickets),
        senders=len({t.sender or f"#{t.id}" for t in tickets}), regency=incident.regency, places=tuple(places[:3]),
        first_at=min(times), last_at=max(times),
        newest=tuple(IncidentReport(t.number, t.received_at, t.text) for t in tickets[:QUOTED]),
        response=last.text if last else None,
        response_by=(f"{last.pic_name}, {last.agency}" if last.agency else last.pic_name) if last else None,
        merged_into=label(incident.merged_into) if incident.merged_into else None,
    )


def _most_named(names: list[str], limit: int = 2) -> list[str]:
    """The place names most reports wrote, spellings of one place counted together."""
    counts: dict[str, int] = {}
    for name in names:
        key = next((k for k in counts if same_place(k, name)), name)
        counts[key] = counts.get(key, 0) + 1
    return [n for n, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]


def anchor_of(ticket_id: int) -> int | None:
    """The incident whose message this ticket's notifications are (it is its first report), if any.

    A merged incident keeps its message (it says where it went); a dissolved one, or one whose
    first report was taken out (``anchor`` cleared), shows the ticket alone again.
    """
    incident = (db.Incident.select(db.Incident.id)
                .where((db.Incident.anchor == ticket_id) & db.Incident.status.in_([*LIVE, "merged"])).first())
    return int(incident.id) if incident is not None else None


@dataclass(frozen=True, slots=True)
class EditPlan:
    """What an ``edit`` row does when sent.

    Attributes:
        targets: ``(message_id, new text)`` per message to edit (empty: nothing to edit yet).
        fallback: the message cannot carry the incident (split, too long, gone): post the incident's own.
    """

    targets: tuple[tuple[int, str], ...] = ()
    fallback: bool = False


def edit_targets(edit: db.Notification) -> list[tuple[int, list[db.Notification]]]:
    """The sent messages an edit rewrites, each with the rows it carries (in order).

    An edit of one message (``edit_of``) rewrites that one. Otherwise the incident's own
    messages in the chat when it has any, else its first report's messages there.
    """
    N = db.Notification
    if edit.edit_of_id is not None:
        target = N.get_or_none(N.id == edit.edit_of_id)
        ids = [target.message_id] if target is not None and target.status == "sent" and target.message_id else []
    else:
        own = list(N.select(N.message_id, N.status).where(
            (N.incident == edit.incident_id) & (N.destination == edit.destination) & (N.kind == OWN)))
        if own:
            ids = [r.message_id for r in own if r.status == "sent" and r.message_id]
        else:
            incident = db.Incident.get_by_id(edit.incident_id)
            ids = [r.message_id for r in N.select(N.message_id).where(
                (N.ticket == incident.anchor) & (N.destination == edit.destination) & N.kind.in_(TICKET_KINDS)
                & (N.status == "sent") & N.message_id.is_null(False)
            ) if r.message_id is not None] if incident.anchor else []
    result = []
    for message_id in dict.fromkeys(ids):
        rows = list(N.select().where((N.destination == edit.destination) & (N.chat_id == edit.chat_id)
                                     & (N.message_id == message_id) & (N.status == "sent")
                                     & (N.kind != EDIT)).order_by(N.id))
        # Rendered (claimed) after the latest change the edit carries: it shows it already.
        if rows and not all(r.claimed_at is not None and r.claimed_at >= edit.queued_at for r in rows):
            result.append((message_id, rows))
    return result


def own_message(incident_id: int, destination: str, chat_id: int, now: float) -> bool:
    """Queue the incident's own message in ``destination`` unless it has one; True when queued."""
    N = db.Notification
    if N.select().where((N.incident == incident_id) & (N.destination == destination) & (N.kind == OWN)).exists():
        return False
    N.create(incident=incident_id, destination=destination, chat_id=chat_id, kind=OWN, queued_at=now)
    return True


# --------------------------------------------------------------------------
# What PICs do: one answer for all, close, merge, split.


def members(incident_id: int) -> list[db.Ticket]:
    """The incident's tickets, oldest first."""
    return list(db.Ticket.select().where(db.Ticket.incident == incident_id)
                .order_by(db.Ticket.received_at, db.Ticket.id))


def resolve(incident_id: int | None) -> db.Incident | None:
    """The incident, or the one it was merged into (followed to the end); None for a ticket linked to none."""
    seen = set()
    incident = db.Incident.get_or_none(db.Incident.id == incident_id)
    while incident is not None and incident.status == "merged" and incident.merged_into and incident.id not in seen:
        seen.add(incident.id)
        incident = db.Incident.get_or_none(db.Incident.id == incident.merged_into)
    return incident


def reporters(tickets: Sequence[db.Ticket]) -> list[db.Ticket]:
    """One ticket per citizen who can get an SMS (the latest of theirs): each is answered once."""
    by_sender: dict[str, db.Ticket] = {}
    for t in tickets:
        if t.kind == "complaint" and t.sender:
            by_sender[t.sender] = t
    return list(by_sender.values())


def queue_edits(config: Config, incident_id: int, chat_ids: Mapping[str, int], now: float) -> list[str]:
    """An edit of the incident's messages in every chat that has one (paced); returns the destinations due now."""
    due_now = []
    for dest in incident_destinations(incident_id):
        due = ensure_edit(incident_id, dest, chat_ids.get(dest), now, config.incidents.edit_interval_seconds)
        if due is not None and due <= now:
            due_now.append(dest)
    return due_now


def record(incident_id: int, action: str, actor: str, detail: str, now: float, ticket_id: int | None = None) -> None:
    """Audit an action on an incident (who, what, when)."""
    _event(incident_id, ticket_id, action, actor, detail, now)


@dataclass(frozen=True, slots=True)
class MergeResult:
    """What ``/gabung`` did: the incident the tickets are in now, and the tickets that moved."""

    incident_id: int
    moved: tuple[str, ...]
    opened: bool
    absorbed: int | None  # the incident merged into it, if one was


def merge(target: db.Ticket, source: db.Ticket, actor: str, now: float) -> MergeResult:
    """Put ``source`` (and its incident's reports) into ``target``'s incident (opened with ``target`` if none)."""
    T, Inc = db.Ticket, db.Incident
    opened = False
    incident = resolve(target.incident_id) if target.incident_id else None
    if incident is None:
        incident = Inc.create(anchor=target.id, status="open", regency=target.regency, groups="", opened_at=now,
                            last_report_at=now, updated_at=now)
        T.update(incident=incident.id, updated_at=now).where(T.id == target.id).execute()
        _event(incident.id, target.id, "open", actor, f"merge first={target.number}", now)
        opened = True
    absorbed = None
    other = resolve(source.incident_id) if source.incident_id else None
    if other is not None and other.id != incident.id:
        moving = members(other.id)
        absorbed = other.id
        Inc.update(status="merged", merged_into=incident.id, closed_at=now, closed_by="merged", updated_at=now).where(
            Inc.id == other.id).execute()
        _event(other.id, None, "merge", actor, f"into={label(incident.id)}", now)
        groups = set(filter(None, other.groups.split(",")))
    else:
        moving = [source]
        groups = set()
    moved = []
    for t in moving:
        if t.incident_id != incident.id:
            T.update(incident=incident.id, updated_at=now).where(T.id == t.id).execute()
            _event(incident.id, t.id, "merge", actor, f"from={label(t.incident_id) if t.incident_id else t.number}",
                   now)
            moved.append(t.number)
    groups |= set(filter(None, incident.groups.split(",")))
    Inc.update(groups=",".join(sorted(groups)), updated_at=now,
             last_report_at=peewee.fn.MAX(Inc.last_report_at, now) if db.is_sqlite() else peewee.fn.GREATEST(
                 Inc.last_report_at, now)).where(Inc.id == incident.id).execute()
    logger.info("event=incident_merged incident=%s moved=%s absorbed=%s actor=%s", label(incident.id),
                ",".join(moved) or "-", label(absorbed) if absorbed else "-", actor)
    return MergeResult(incident.id, tuple(moved), opened, absorbed)


@dataclass(frozen=True, slots=True)
class SplitResult:
    """What ``/pisah`` did to a linked ticket.

    Attributes:
        incident_id: the incident it left.
        was_anchor: its notifications were the incident's messages (they show it alone again).
        dissolved: fewer than two reports were left: the incident ended and its last report stands alone.
        left_alone: the ticket ids that stand alone because the incident dissolved.
    """

    incident_id: int
    was_anchor: bool
    dissolved: bool
    left_alone: tuple[int, ...] = ()


def split(ticket: db.Ticket, actor: str, now: float) -> SplitResult:
    """Take ``ticket`` out of its incident (it becomes a report of its own again)."""
    T, Inc = db.Ticket, db.Incident
    incident = Inc.get_by_id(ticket.incident_id)
    T.update(incident=None, updated_at=now).where(T.id == ticket.id).execute()
    _event(incident.id, ticket.id, "split", actor, f"ticket={ticket.number}", now)
    was_anchor = incident.anchor == ticket.id
    left = members(incident.id)
    dissolved = len(left) < 2
    if dissolved:
        for t in left:
            T.update(incident=None, updated_at=now).where(T.id == t.id).execute()
        Inc.update(status="dissolved", closed_at=now, closed_by=actor, updated_at=now).where(
            Inc.id == incident.id).execute()
        _event(incident.id, None, "dissolve", actor, f"left={','.join(t.number for t in left) or '-'}", now)
    elif was_anchor:
        # The next report carries the incident's name; its messages are the incident's own from now on.
        Inc.update(anchor=None, updated_at=now).where(Inc.id == incident.id).execute()
    logger.info("event=incident_split incident=%s ticket=%s anchor=%s dissolved=%s actor=%s", label(incident.id),
                ticket.number, was_anchor, dissolved, actor)
    return SplitResult(incident.id, was_anchor, dissolved, tuple(t.id for t in left) if dissolved else ())


# --------------------------------------------------------------------------
# `laporgub classify` (laporgub/cli/routing.py): which open incident a text would join.


def preview(config: Config, classifier: Classifier, text: str, now: float) -> str:
    """One line for ``laporgub classify``: the incident (or report) the text would join, read from the database."""
    if not config.incidents.enabled:
        return "incidents are off ([incidents] enabled = false)"
    result = classifier.route(text)
    prof = profiler_for(classifier).profile(text, result)
    if prof is None:
        return "no topic group matched: it would not be linked"
    places = ", ".join(sorted(prof.villages | prof.districts)) or "-"
    match = find_match(config.incidents, prof, now)
    if match is None:
        return f"no open incident or recent report alike (places: {places}; threshold {config.incidents.similarity:g})"
    if match.incident_id is None:
        return (f"would open an incident with {match.number} (similarity {match.score:.2f}; places: {places})")
    incident = db.Incident.get_by_id(match.incident_id)
    return (f"would join incident #{label(match.incident_id)}: {report_count(match.incident_id)} reports, "
            f"{incident.regency or '-'}, nearest {match.number} (similarity {match.score:.2f}; places: {places})")
