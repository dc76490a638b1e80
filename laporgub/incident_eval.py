"""``laporgub eval-incidents``: how well complaints are linked into incidents, on labelled bursts.

A burst file is JSON Lines, one SMS a line, in the order they arrive:

    {"burst": "demak", "minute": 12.5, "sender": "+62812...", "text": "...", "event": "demak-banjir-bedono"}

``event`` names the real event the SMS is about (``null``: it stands alone);
``minute`` is when it arrived, from any origin. Every line is registered and
routed through the service's own code (``Intake.register_web``,
``outbox.route_ticket``: the linking decided in the routing transaction), on a
database of its own in memory, with the clock at each line's minute. Then
every pair of reports is judged: linked into one incident by the service, and
about one event by the label.

* **precision**: of the pairs the service put in one incident, the share about one event;
* **recall**: of the pairs about one event, the share the service put in one incident;
* **wrong links**: reports in an incident most of whose reports are about another event;
* per event: the incidents it was spread over and the largest share in one.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TextIO

import peewee

from laporgub import db
from laporgub.config import Config

#: Where the minutes of a burst file start (any fixed moment: only differences matter).
ORIGIN = 1_795_000_000.0


@dataclass(frozen=True, slots=True)
class BurstLine:
    burst: str
    minute: float
    sender: str
    text: str
    event: str | None


@dataclass(frozen=True, slots=True)
class EventResult:
    """How one labelled event came out."""

    event: str
    reports: int
    incidents: int  # incidents its reports were spread over
    largest: int  # its reports in the incident holding most of them
    alone: int  # its reports left unlinked


@dataclass(frozen=True, slots=True)
class IncidentEvaluation:
    reports: int
    events: int
    standalone: int  # lines labelled as no event
    standalone_linked: int  # of those, linked to something
    pairs_predicted: int
    pairs_true: int
    pairs_correct: int
    wrong_links: int
    incidents: int
    per_event: tuple[EventResult, ...]

    @property
    def precision(self) -> float:
        return self.pairs_correct / self.pairs_predicted if self.pairs_predicted else 1.0

    @property
    def recall(self) -> float:
        return self.pairs_correct / self.pairs_true if self.pairs_true else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def read_bursts(lines: Iterable[str]) -> list[BurstLine]:
    """Parse a burst file (blank lines and ``#`` comments skipped); ValueError names the line."""
    result = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            data = json.loads(line)
            result.append(BurstLine(str(data.get("burst", "")), float(data["minute"]), str(data["sender"]),
                                    str(data["text"]), data.get("event") or None))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"line {number}: {exc}") from None
    return result


def evaluate(config: Config, lines: Sequence[BurstLine], *, similarity: float | None = None) -> IncidentEvaluation:
    """Register and route every line on a fresh in-memory database; judge the incidents formed."""
    from laporgub.intake import Intake, build_classifier
    from laporgub.outbox import route_ticket
    from laporgub.render import Renderer

    if similarity is not None:
        config = replace(config, incidents=replace(config.incidents, similarity=similarity))
    config = replace(config, incidents=replace(config.incidents, enabled=True))
    classifier = build_classifier(config)
    intake = Intake(config, classifier, Renderer(config))
    database = peewee.SqliteDatabase(":memory:", pragmas={"foreign_keys": 1})
    previous = db.database.obj
    db.database.initialize(database)
    try:
        with database.connection_context():
            db.migrate(database)
            ticket_of: list[int] = []
            for line in sorted(lines, key=lambda line: line.minute):
                now = ORIGIN + line.minute * 60
                with database.atomic():
                    registered = intake.register_web(line.text, line.sender, now)
                route_ticket(config, classifier, registered.ticket_id, now=now)
                ticket_of.append(registered.ticket_id)
            incident_of: dict[int, int | None] = dict(db.tuples(db.Ticket.select(db.Ticket.id, db.Ticket.incident)))
    finally:
        db.database.initialize(previous)
    ordered = sorted(lines, key=lambda line: line.minute)
    assigned = [incident_of.get(t) for t in ticket_of]
    return _judge(ordered, assigned)


def _judge(lines: Sequence[BurstLine], assigned: Sequence[int | None]) -> IncidentEvaluation:
    predicted = true = correct = 0
    for a, b in itertools.combinations(range(len(lines)), 2):
        same_incident = assigned[a] is not None and assigned[a] == assigned[b]
        same_event = lines[a].event is not None and lines[a].event == lines[b].event
        predicted += same_incident
        true += same_event
        correct += same_incident and same_event
    by_incident: dict[int, list[int]] = {}
    for i, incident in enumerate(assigned):
        if incident is not None:
            by_incident.setdefault(incident, []).append(i)
    wrong = 0
    for members in by_incident.values():
        labels = Counter(lines[i].event or f"#{i}" for i in members)
        majority, _ = labels.most_common(1)[0]
        wrong += sum(1 for i in members if (lines[i].event or f"#{i}") != majority)
    per_event = []
    events = sorted({line.event for line in lines if line.event})
    for event in events:
        idx = [i for i, line in enumerate(lines) if line.event == event]
        spread = Counter(assigned[i] for i in idx if assigned[i] is not None)
        per_event.append(EventResult(event, len(idx), len(spread), max(spread.values(), default=0),
                                     sum(1 for i in idx if assigned[i] is None)))
    standalone = [i for i, line in enumerate(lines) if not line.event]
    return IncidentEvaluation(
        reports=len(lines), events=len(events), standalone=len(standalone),
        standalone_linked=sum(1 for i in standalone if assigned[i] is not None), pairs_predicted=predicted,
        pairs_true=true, pairs_correct=correct, wrong_links=wrong, incidents=len(by_incident),
        per_event=tuple(per_event),
    )


def print_evaluation(result: IncidentEvaluation, out: TextIO, *, title: str = "") -> None:
    """The figures as Markdown (docs/incidents.md quotes this output)."""
    if title:
        print(f"### {title}\n", file=out)
    print(f"{result.reports} reports, {result.events} events, {result.standalone} standing alone; "
          f"{result.incidents} incidents formed.\n", file=out)
    print("| measure | value |", file=out)
    print("|---|---:|", file=out)
    print(f"| pairwise precision | {result.precision:.3f} ({result.pairs_correct}/{result.pairs_predicted}) |",
          file=out)
    print(f"| pairwise recall | {result.recall:.3f} ({result.pairs_correct}/{result.pairs_true}) |", file=out)
    print(f"| F1 | {result.f1:.3f} |", file=out)
    print(f"| reports linked to another event's incident | {result.wrong_links} |", file=out)
    print(f"| standalone reports linked to anything | {result.standalone_linked} of {result.standalone} |", file=out)
    print("\n| event | reports | incidents | largest | left alone |", file=out)
    print("|---|---:|---:|---:|---:|", file=out)
    for e in result.per_event:
        print(f"| {e.event} | {e.reports} | {e.incidents} | {e.largest} | {e.alone} |", file=out)


def eval_incidents_main(config: Config, path: str, similarity: float | None, out: TextIO) -> int:
    """``laporgub eval-incidents``: 0 after printing, 2 when the file cannot be read."""
    import sys

    try:
        with open(path, encoding="utf-8") as handle:
            lines = read_bursts(handle)
    except (OSError, ValueError) as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 2
    result = evaluate(config, lines, similarity=similarity)
    threshold = similarity if similarity is not None else config.incidents.similarity
    print_evaluation(result, out, title=f"{path} (similarity {threshold:g})")
    return 0
