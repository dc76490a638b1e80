"""``laporgub classify`` and ``laporgub eval-routing``: try and measure the keyword filter.

``classify_main`` shows an admin how one text is read (normalised text, typo corrections,
the keywords each group matched, negative keywords that cancelled matches, kind, groups,
regency, and the learned model's probabilities, reasons and what it added or dropped) so a
keyword change can be tried before a reload.

``eval_routing_main`` runs the classifier over a labelled corpus (JSON lines with
``sender``, ``text``, ``expected_groups`` without ``channel``, and ``kind``) and prints
precision, recall and F1 per group and micro-averaged over the nine topic groups and
``kabkota`` (``pelayanan_publik`` included), the confusion for the worst groups, and the
checks that matter more than an average: complaints lost to another kind, non-complaints
leaked into a group, darurat complaints missed, status queries recognised, complaints
marked spam. Scoring is lenient: a line may say that some of its groups are only
acceptable (``notes`` starting ``AMBIGUOUS core=[...] acceptable=[...]``, or an
``also_acceptable`` list); such a group is neither required nor wrong (docs/routing.md
has the labelling rules). With a
predictions path it also writes, for every input line in order, the input's fields plus
``predicted_groups``, ``predicted_kind`` and ``regency``, so any other tool can score the
same run. It works on any corpus: lines that are not JSON objects are reported and
skipped, and a corpus without labels gets predictions but no scores.

Both functions are pure apart from reading the corpus, writing predictions and printing
to ``out``; the CLI wires them (``laporgub/cli/routing.py``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from laporgub.routing import CATEGORY_GROUPS, KINDS, Classification, Classifier, Explanation, RoutingRules

logger = logging.getLogger(__name__)

__all__ = [
    "SCORED_GROUPS",
    "CorpusLine",
    "GroupScore",
    "RoutingScores",
    "Correction",
    "Suggestion",
    "classify_main",
    "eval_routing_main",
    "load_corrections",
    "suggest_keywords",
    "suggest_keywords_main",
    "read_corpus",
    "score_routing",
]

#: The groups micro-F1 is computed over: the nine topic groups (``pelayanan_publik`` too) and kabkota.
SCORED_GROUPS: tuple[str, ...] = (*CATEGORY_GROUPS, "pelayanan_publik", "kabkota")
_REPORTED_GROUPS: tuple[str, ...] = SCORED_GROUPS
# "AMBIGUOUS core=['a', 'b'] acceptable=['c']" at the start of a line's notes.
_AMBIGUOUS = re.compile(r"^\s*AMBIGUOUS\s+core=\[(?P<core>[^\]]*)\]\s+acceptable=\[(?P<acceptable>[^\]]*)\]")
_QUOTED = re.compile(r"[\"']([^\"']+)[\"']")

#: Sender used for corpus lines without one: an ordinary subscriber (an empty sender would be an operator).
DEFAULT_SENDER = "+628000000000"
_WORST = 3
_EXAMPLES = 3
_EXAMPLE_CHARS = 90


@dataclass(frozen=True, slots=True)
class CorpusLine:
    """One usable line of a corpus.

    Attributes:
        number: its line number in the file (1-based).
        fields: the JSON object as read (passed through to the predictions).
        text: the SMS text.
        sender: the sender, ``DEFAULT_SENDER`` when the line has none.
        expected_groups: the labelled groups without ``channel``, or None when unlabelled.
        kind: the labelled kind, or None when unlabelled.
        acceptable: groups that are neither required nor wrong on this line (the
            ``acceptable`` part of an ``AMBIGUOUS`` note and ``also_acceptable``).
    """

    number: int
    fields: Mapping[str, Any]
    text: str
    sender: str
    expected_groups: frozenset[str] | None
    kind: str | None
    acceptable: frozenset[str] = frozenset()

    @property
    def required(self) -> frozenset[str] | None:
        """The groups a router must give: ``expected_groups`` less the acceptable ones."""
        return None if self.expected_groups is None else self.expected_groups - self.acceptable


@dataclass(frozen=True, slots=True)
class GroupScore:
    """Precision, recall and F1 of one group (or of a micro-average), from its counts."""

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        """2TP / (2TP + FP + FN): 0 for a group that was expected but never given; None with no evidence at all."""
        total = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / total if total else None


@dataclass(frozen=True, slots=True)
class RoutingScores:
    """Everything ``eval-routing`` reports about one run.

    Attributes:
        groups: group -> its score, for the scored groups.
        micro: micro-average over ``SCORED_GROUPS`` (lenient: acceptable groups ignored).
        labelled_groups: lines with ``expected_groups``.
        labelled_kinds: lines with a ``kind``.
        kind_correct: of those, how many got their kind.
        kind_confusion: (expected kind, predicted kind) -> lines.
        darurat_missed: complaints requiring darurat that did not get it.
        noncomplaints_in_category: lines labelled not-a-complaint that reached a category group.
        complaints: lines labelled complaint.
        complaints_as_spam_or_operator: of those, classified spam or operator.
        regency_correct: lines with an ``expected_regency`` (or ``regency``) label that got it.
        regency_labelled: lines with such a label.
        missed: group -> Counter of the groups predicted on the lines that expected it and missed it.
        extra: group -> Counter of the groups expected on the lines that got it wrongly.
        examples: group -> a few texts it missed or got wrongly.
        complaints_lost: complaints classified as another kind (any of them): (kind given, text).
        complaints_as_spam: complaints classified spam.
        noncomplaints_in_groups: lines labelled spam or operator that reached any group, or
            labelled status/too short and answered as a complaint: (labelled kind, text).
        status_queries: lines labelled status_query.
        status_recognised: of those, classified status_query.
    """

    groups: Mapping[str, GroupScore]
    micro: GroupScore
    labelled_groups: int
    labelled_kinds: int
    kind_correct: int
    kind_confusion: Mapping[tuple[str, str], int]
    darurat_missed: tuple[str, ...]
    noncomplaints_in_category: tuple[str, ...]
    complaints: int
    complaints_as_spam_or_operator: tuple[str, ...]
    regency_correct: int
    regency_labelled: int
    missed: Mapping[str, Counter[str]] = field(default_factory=dict)
    extra: Mapping[str, Counter[str]] = field(default_factory=dict)
    examples: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    complaints_lost: tuple[tuple[str, str], ...] = ()
    complaints_as_spam: tuple[str, ...] = ()
    noncomplaints_in_groups: tuple[tuple[str, str], ...] = ()
    status_queries: int = 0
    status_recognised: int = 0

    @property
    def has_labels(self) -> bool:
        return self.labelled_groups > 0 or self.labelled_kinds > 0

    def group(self, name: str) -> GroupScore:
        """The score of one group (zero counts for a group never seen)."""
        return self.groups.get(name, GroupScore(0, 0, 0))


# --------------------------------------------------------------------------
# classify


def classify_main(config_rules: RoutingRules, text: str, sender: str, out: TextIO) -> int:
    """``laporgub classify --config FILE "teks" [--sender S]``: how one text is read.

    Args:
        config_rules: the rules built from the config file.
        text: the SMS text to try.
        sender: the sender to pretend (the CLI defaults to an ordinary subscriber).
        out: where to print.

    Returns:
        The exit status: 0.
    """
    classifier = Classifier(config_rules)
    e = classifier.explain(text, sender)
    c = e.classification
    print(f"text:        {text}", file=out)
    print(f"normalised:  {c.normalized}", file=out)
    if e.corrections:
        fixes = ", ".join(f"{word} -> {fixed}" for word, fixed in e.corrections.items())
        print(f"read as:     {fixes}", file=out)
    print(f"kind:        {c.kind}", file=out)
    print(f"groups:      {', '.join(c.groups) or '-'} (and channel)" if c.kind == "complaint"
          else f"groups:      - ({_KIND_ROUTE.get(c.kind, '')})", file=out)
    print(f"regency:     {c.regency or '-'}", file=out)
    if c.ticket_ref:
        print(f"ticket:      {c.ticket_ref}", file=out)
    if e.candidates or c.matched:
        print("matched:", file=out)
        for group, keywords in e.candidates.items():
            routed = "routed" if group in c.groups else "not routed"
            score = e.scores.get(group)
            weight = f", evidence {score:g}" if score is not None else ""
            print(f"  {group:<17} {', '.join(keywords)}  ({routed}{weight})", file=out)
        for group in ("kabkota", "spam"):
            if group in c.matched:
                print(f"  {group:<17} {', '.join(c.matched[group])}", file=out)
    if e.cancelled:
        print("cancelled by negative keywords or context:", file=out)
        for group, negatives in e.cancelled.items():
            print(f"  {group:<17} {', '.join(negatives)}", file=out)
    if e.spam_score:
        print(f"spam evidence {e.spam_score:g} against topic evidence {e.topic_score:g}", file=out)
    if c.kind == "complaint" and c.groups and "pelayanan_publik" in c.groups and "pelayanan_publik" not in c.matched:
        print("pelayanan_publik: no topic group matched (the fallback)", file=out)
    if e.model is not None:
        _print_model(classifier, e, out)
    print("weak keywords (~) route only when no group has a strong keyword.", file=out)
    return 0


_MODEL_SHOWN = 0.1


def _print_model(classifier: Classifier, e: Explanation, out: TextIO) -> None:
    """The learned model's opinion, and what it changed (``laporgub.routing_model``)."""
    model = classifier.model
    assert model is not None and e.model is not None
    probabilities = e.model.probabilities
    shown = sorted((g for g, p in probabilities.items() if p >= _MODEL_SHOWN), key=lambda g: -probabilities[g])
    print("model:       " + ("; ".join(
        f"{g} {probabilities[g]:.2f} ({', '.join(f'{w} {s:.1f}' for w, s in e.model.reasons.get(g, ())) or '-'})"
        for g in shown) or f"no group reaches {_MODEL_SHOWN:g}"), file=out)
    for g in e.model_added:
        print(f"  added {g}: no keyword routed the complaint, and the model gives it {probabilities[g]:.2f}"
              f" (>= {model.add_threshold:g})", file=out)
    for g in e.model_vetoed:
        print(f"  dropped {g}: it rested on one keyword, and the model gives it {probabilities[g]:.2f}"
              f" (< {model.veto_threshold:g})", file=out)
    if not e.model_added and not e.model_vetoed:
        print("  (the rules decided: the model adds groups only where no keyword routes a complaint, and drops"
              " only a group resting on one keyword)", file=out)


_KIND_ROUTE = {
    "spam": "ticket marked as suspected spam, channel only",
    "operator": "no ticket, admin chat only",
    "status_query": "answered with the ticket's status",
    "too_short": "answered with the help SMS",
}


# --------------------------------------------------------------------------
# eval-routing


def read_corpus(lines: Iterable[str]) -> tuple[list[CorpusLine], list[str]]:
    """Parse corpus lines; every line that is not a usable JSON object is reported, not raised.

    Args:
        lines: the file's lines.

    Returns:
        (usable lines in order, one problem message per skipped line). Blank lines are
        neither.
    """
    rows: list[CorpusLine] = []
    problems: list[str] = []
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except ValueError as exc:
            problems.append(f"line {number}: not valid JSON ({exc.__class__.__name__}: {exc}), skipped")
            continue
        if not isinstance(data, dict):
            problems.append(f"line {number}: not a JSON object, skipped")
            continue
        text = data.get("text")
        if not isinstance(text, str):
            problems.append(f"line {number}: no \"text\" string, skipped")
            continue
        sender = data.get("sender")
        groups = data.get("expected_groups")
        kind = data.get("kind")
        expected = (frozenset(str(g) for g in groups) - {"channel"}) if isinstance(groups, list) else None
        acceptable, required = _leniency(data)
        if expected is not None and required is not None:
            # An AMBIGUOUS note names the required groups; the rest of the line's groups are acceptable.
            acceptable |= expected - required
            expected |= required
        rows.append(CorpusLine(
            number=number,
            fields=data,
            text=text,
            sender=str(sender) if sender not in (None, "") else DEFAULT_SENDER,
            expected_groups=expected,
            kind=kind if isinstance(kind, str) and kind else None,
            acceptable=acceptable - (required or frozenset()),
        ))
    return rows, problems


def _read_corpus_file(path: str, command: str, out: TextIO) -> tuple[list[CorpusLine], list[str]] | None:
    """``read_corpus`` of a file (any BOM, undecodable bytes replaced); None, said on ``out``, if unreadable."""
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            return read_corpus(f)
    except OSError as exc:
        print(f"{command}: cannot read {path}: {exc.strerror or exc}", file=out)
        return None


def _leniency(data: Mapping[str, Any]) -> tuple[frozenset[str], frozenset[str] | None]:
    """(acceptable groups, required groups or None) from a line's ``notes`` and ``also_acceptable``."""
    also = data.get("also_acceptable")
    acceptable = {str(g) for g in also} if isinstance(also, list) else set()
    notes = data.get("notes")
    m = _AMBIGUOUS.match(notes) if isinstance(notes, str) else None
    if m is None:
        return frozenset(acceptable - {"channel"}), None
    acceptable |= set(_QUOTED.findall(m.group("acceptable")))
    return frozenset(acceptable - {"channel"}), frozenset(_QUOTED.findall(m.group("core"))) - {"channel"}


def _expected_regency(row: CorpusLine) -> tuple[bool, str | None]:
    for key in ("expected_regency", "regency"):
        if key in row.fields:
            value = row.fields[key]
            return True, value if isinstance(value, str) and value else None
    return False, None


def score_routing(rows: Sequence[CorpusLine], predictions: Sequence[Classification]) -> RoutingScores:
    """Compare predictions with the labels of ``rows`` (same order), leniently.

    A predicted group is a true positive when the line requires it, ignored when the line
    lists it as acceptable, a false positive otherwise; a required group not predicted is
    a false negative.

    Args:
        rows: the corpus lines.
        predictions: one classification per line.

    Returns:
        The scores; lines without labels count in no score.
    """
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    missed: dict[str, Counter[str]] = {g: Counter() for g in _REPORTED_GROUPS}
    extra: dict[str, Counter[str]] = {g: Counter() for g in _REPORTED_GROUPS}
    examples: dict[str, list[str]] = {g: [] for g in _REPORTED_GROUPS}
    kind_confusion: Counter[tuple[str, str]] = Counter()
    darurat_missed: list[str] = []
    noncomplaints: list[str] = []
    complaints_as_spam_or_operator: list[str] = []
    complaints_as_spam: list[str] = []
    lost: list[tuple[str, str]] = []
    leaked: list[tuple[str, str]] = []
    labelled_groups = labelled_kinds = kind_correct = complaints = regency_labelled = regency_correct = 0
    status_queries = status_recognised = 0
    for row, c in zip(rows, predictions, strict=True):
        got = set(c.groups) - {"channel"}
        if row.kind is not None:
            labelled_kinds += 1
            kind_correct += row.kind == c.kind
            kind_confusion[(row.kind, c.kind)] += 1
            if row.kind != "complaint" and got & set(CATEGORY_GROUPS):
                noncomplaints.append(row.text)
            if row.kind in ("spam", "operator") and got:
                leaked.append((row.kind, row.text))
            elif row.kind in ("status_query", "too_short") and c.kind == "complaint":
                leaked.append((row.kind, row.text))
            if row.kind == "status_query":
                status_queries += 1
                status_recognised += c.kind == "status_query"
            if row.kind == "complaint":
                complaints += 1
                if c.kind in ("spam", "operator"):
                    complaints_as_spam_or_operator.append(row.text)
                if c.kind == "spam":
                    complaints_as_spam.append(row.text)
                if c.kind != "complaint":
                    lost.append((c.kind, row.text))
        required = row.required
        if required is None:
            continue
        labelled_groups += 1
        if "darurat" in required and "darurat" not in got and row.kind in (None, "complaint"):
            darurat_missed.append(row.text)
        for g in _REPORTED_GROUPS:
            if g in required and g in got:
                tp[g] += 1
            elif g in got and g not in row.acceptable:
                fp[g] += 1
                extra[g].update(sorted(required) or ["(no group)"])
                examples[g].append(f"+ {row.text}")
            elif g in required and g not in got:
                fn[g] += 1
                missed[g].update(sorted(got) or [f"(no group: {c.kind})"])
                examples[g].append(f"- {row.text}")
        labelled, found = _expected_regency(row)
        if labelled and row.kind in (None, "complaint"):
            regency_labelled += 1
            regency_correct += found == c.regency
    groups = {g: GroupScore(tp[g], fp[g], fn[g]) for g in _REPORTED_GROUPS}
    micro = GroupScore(*(sum(counter[g] for g in SCORED_GROUPS) for counter in (tp, fp, fn)))
    return RoutingScores(
        groups=groups, micro=micro, labelled_groups=labelled_groups, labelled_kinds=labelled_kinds,
        kind_correct=kind_correct, kind_confusion=dict(kind_confusion), darurat_missed=tuple(darurat_missed),
        noncomplaints_in_category=tuple(noncomplaints), complaints=complaints,
        complaints_as_spam_or_operator=tuple(complaints_as_spam_or_operator), regency_correct=regency_correct,
        regency_labelled=regency_labelled, missed=missed, extra=extra,
        examples={g: tuple(v[:_EXAMPLES]) for g, v in examples.items()},
        complaints_lost=tuple(lost), complaints_as_spam=tuple(complaints_as_spam),
        noncomplaints_in_groups=tuple(leaked), status_queries=status_queries, status_recognised=status_recognised,
    )


def _prediction(row: CorpusLine, c: Classification) -> dict[str, Any]:
    record = dict(row.fields)
    if "regency" in record and "expected_regency" not in record:
        # The output's "regency" is the prediction; keep the input's value beside it.
        record["expected_regency"] = record["regency"]
    record["predicted_groups"] = [g for g in c.groups if g != "channel"]
    record["predicted_kind"] = c.kind
    record["regency"] = c.regency
    return record


def _fmt(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:.3f}"


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _EXAMPLE_CHARS else text[: _EXAMPLE_CHARS - 1] + "…"


def _print_scores(s: RoutingScores, out: TextIO) -> None:
    print(f"\n{'group':<18}{'precision':>10}{'recall':>8}{'f1':>8}{'support':>9}{'predicted':>11}", file=out)
    for g in _REPORTED_GROUPS:
        score = s.groups[g]
        print(f"{g:<18}{_fmt(score.precision):>10}{_fmt(score.recall):>8}{_fmt(score.f1):>8}"
              f"{score.tp + score.fn:>9}{score.tp + score.fp:>11}", file=out)
    m = s.micro
    print(f"{'micro (scored)':<18}{_fmt(m.precision):>10}{_fmt(m.recall):>8}{_fmt(m.f1):>8}"
          f"{m.tp + m.fn:>9}{m.tp + m.fp:>11}", file=out)
    print("(lenient: a group a line lists as acceptable counts neither way; micro-average over the nine topic"
          " groups, pelayanan_publik included, and kabkota)", file=out)

    scored = [g for g in SCORED_GROUPS if s.groups[g].fp or s.groups[g].fn]
    worst = sorted(scored, key=lambda g: (s.groups[g].f1 or 0.0, g))[:_WORST]
    if worst:
        print("\nconfusion for the worst groups:", file=out)
    for g in worst:
        score = s.groups[g]
        print(f"  {g} (f1 {_fmt(score.f1).strip()}): missed {score.fn}, wrongly given {score.fp}", file=out)
        if s.missed[g]:
            went = ", ".join(f"{k} {n}" for k, n in s.missed[g].most_common())
            print(f"    when missed, the line got: {went}", file=out)
        if s.extra[g]:
            came = ", ".join(f"{k} {n}" for k, n in s.extra[g].most_common())
            print(f"    when wrongly given, the line required: {came}", file=out)
        for example in s.examples[g]:
            print(f"    {_short(example)}", file=out)

    if s.labelled_kinds:
        print(f"\nkind accuracy: {s.kind_correct / s.labelled_kinds:.3f} ({s.kind_correct}/{s.labelled_kinds})",
              file=out)
        kinds = [k for k in KINDS if any(k in pair for pair in s.kind_confusion)]
        header = "expected \\ got"
        print(f"  {header:<16}" + "".join(f"{k[:12]:>13}" for k in kinds), file=out)
        for k in kinds:
            counts = "".join(f"{s.kind_confusion.get((k, p), 0):>13}" for p in kinds)
            print(f"  {k:<16}{counts}", file=out)
    print("\nchecks:", file=out)
    print(f"  complaints lost to another kind: {len(s.complaints_lost)}/{s.complaints}", file=out)
    for kind, text in s.complaints_lost[:_EXAMPLES]:
        print(f"    ({kind}) {_short(text)}", file=out)
    print(f"  non-complaints leaked into groups: {len(s.noncomplaints_in_groups)}"
          " (spam/operator given a group, status/too-short answered as a complaint)", file=out)
    for kind, text in s.noncomplaints_in_groups[:_EXAMPLES]:
        print(f"    ({kind}) {_short(text)}", file=out)
    print(f"  spam/operator/status/too-short lines in a category group: {len(s.noncomplaints_in_category)}",
          file=out)
    for text in s.noncomplaints_in_category[:_EXAMPLES]:
        print(f"    {_short(text)}", file=out)
    print(f"  darurat complaints missed: {len(s.darurat_missed)}", file=out)
    for text in s.darurat_missed[:_EXAMPLES]:
        print(f"    {_short(text)}", file=out)
    if s.status_queries:
        print(f"  status queries recognised: {s.status_recognised}/{s.status_queries}"
              f" ({s.status_recognised / s.status_queries:.1%})", file=out)
    rate = len(s.complaints_as_spam) / s.complaints if s.complaints else 0.0
    print(f"  complaints marked spam: {len(s.complaints_as_spam)}/{s.complaints} ({rate:.1%})", file=out)
    for text in s.complaints_as_spam[:_EXAMPLES]:
        print(f"    {_short(text)}", file=out)
    rate = len(s.complaints_as_spam_or_operator) / s.complaints if s.complaints else 0.0
    print(f"  complaints classified spam or operator: {len(s.complaints_as_spam_or_operator)}/{s.complaints}"
          f" ({rate:.1%})", file=out)
    if s.regency_labelled:
        print(f"  regency accuracy: {s.regency_correct / s.regency_labelled:.3f}"
              f" ({s.regency_correct}/{s.regency_labelled})", file=out)


def eval_routing_main(rules: RoutingRules, corpus_path: str, predictions_path: str | None, out: TextIO) -> int:
    """``laporgub eval-routing --config FILE CORPUS.jsonl [--predictions OUT.jsonl]``.

    Args:
        rules: the rules built from the config file.
        corpus_path: JSON lines with ``sender``, ``text``, ``expected_groups``, ``kind``
            (labels optional; other fields passed through).
        predictions_path: where to write one JSON object per usable input line, in order,
            or None.
        out: where to print the report.

    Returns:
        The exit status: 0, or 2 when the corpus cannot be read or the predictions
        cannot be written.
    """
    read = _read_corpus_file(corpus_path, "eval-routing", out)
    if read is None:
        return 2
    rows, problems = read
    classifier = Classifier(rules)
    predictions = [classifier.classify(row.text, row.sender) for row in rows]
    for problem in problems:
        print(problem, file=out)
    if predictions_path is not None:
        try:
            with open(predictions_path, "w", encoding="utf-8") as f:
                for row, c in zip(rows, predictions, strict=True):
                    f.write(json.dumps(_prediction(row, c), ensure_ascii=False) + "\n")
        except OSError as exc:
            print(f"eval-routing: cannot write {predictions_path}: {exc.strerror or exc}", file=out)
            return 2
    no_sender = sum(1 for row in rows if row.fields.get("sender") in (None, ""))
    print(f"corpus: {corpus_path}: {len(rows)} lines classified, {len(problems)} skipped", file=out)
    if no_sender:
        print(f"  {no_sender} lines without a sender were classified as from a subscriber", file=out)
    if predictions_path is not None:
        print(f"predictions: {predictions_path} ({len(rows)} lines)", file=out)
    scores = score_routing(rows, predictions)
    if not scores.has_labels or not _any_label(rows):
        print("no labels (expected_groups, kind) in the corpus: predictions only, no scores", file=out)
        kinds = Counter(c.kind for c in predictions)
        print("predicted kinds: " + ", ".join(f"{k} {kinds[k]}" for k in KINDS if kinds[k]), file=out)
        return 0
    _print_scores(scores, out)
    return 0


def _any_label(rows: Sequence[CorpusLine]) -> bool:
    return any(row.kind is not None or row.expected_groups for row in rows)


# --------------------------------------------------------------------------
# suggest-keywords

_SUGGEST_SKIP_GROUPS = frozenset({"channel", "kabkota"})
_MIN_WORD = 3


@dataclass(frozen=True, slots=True)
class Correction:
    """One ``/alihkan``: a ticket a PIC moved from the groups it left to the group it belongs in.

    Attributes:
        ticket: the ticket number.
        text: the complaint's text.
        to_group: the group the PIC moved it to.
        from_groups: the groups it left (empty when it left only the channel).
    """

    ticket: str
    text: str
    to_group: str
    from_groups: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A keyword (or negative keyword) that would have routed corrected tickets rightly.

    Attributes:
        group: the group whose list it would join.
        keyword: the words, as an admin would write them in config.toml.
        negative: True for a negative keyword (keeps the ticket out of ``group``).
        fixes: corrected tickets it would have routed rightly.
        of: corrected tickets concerned (moved to, or away from, ``group``).
        f1_change: micro-F1 on the labelled corpora with it, minus without (None: no corpus).
    """

    group: str
    keyword: str
    negative: bool
    fixes: int
    of: int
    f1_change: float | None


def load_corrections(since: float) -> list[Correction]:
    """Every ``/alihkan`` from ``since`` (epoch seconds) on, oldest first, from the open database.

    A re-route is stored as the ticket's category row for the new group (``source =
    "reroute"``, created at the moment of the move); the groups it left got
    ``removed_at`` at that same moment.
    """
    from laporgub import db

    rows = (db.TicketCategory.select(db.TicketCategory, db.Ticket)
            .join(db.Ticket)
            .where((db.TicketCategory.source == "reroute") & (db.TicketCategory.created_at >= since))
            .order_by(db.TicketCategory.created_at, db.TicketCategory.id))
    found: list[Correction] = []
    for row in rows:
        left = (db.TicketCategory.select(db.TicketCategory.group)
                .where((db.TicketCategory.ticket == row.ticket) & (db.TicketCategory.removed_at == row.created_at)
                       & (db.TicketCategory.group != row.group)))
        found.append(Correction(row.ticket.number, row.ticket.text, row.group,
                                tuple(sorted(r.group for r in left if r.group != "channel"))))
    return found


def _micro_f1(rows: Sequence[CorpusLine], predictions: Sequence[Classification]) -> float:
    return score_routing(rows, predictions).micro.f1 or 0.0


def _with_keyword(rules: RoutingRules, group: str, keyword: str, negative: bool) -> RoutingRules:
    lists = dict(rules.negative_keywords if negative else rules.keywords)
    lists[group] = (*lists.get(group, ()), keyword)
    if negative:
        return dataclasses.replace(rules, negative_keywords=lists)
    return dataclasses.replace(rules, keywords=lists)


def _candidate_phrases(norm: str, skip: frozenset[str]) -> list[str]:
    """Words and two-word phrases of a normalised text that could be keywords."""
    words = norm.split()
    useful = [not (w in skip or w.isdigit() or len(w) < _MIN_WORD) for w in words]
    found = [w for w, ok in zip(words, useful) if ok]
    found += [f"{a} {b}" for (a, ok_a), (b, ok_b) in zip(zip(words, useful), zip(words[1:], useful[1:]))
              if ok_a or ok_b]
    return list(dict.fromkeys(found))


def suggest_keywords(rules: RoutingRules, corrections: Sequence[Correction], rows: Sequence[CorpusLine],
                     *, top: int = 5, tried: int = 25) -> list[Suggestion]:
    """Per group, the keywords that would have routed the corrected tickets rightly, best first.

    For the group a ticket was moved to: its words and two-word phrases that are not yet
    keywords; for a group it was moved away from: the phrase of the matched keyword and
    its neighbour, as a negative keyword. Each is tried in the rules: how many of the
    corrected tickets it routes rightly, and the change in micro-F1 on ``rows`` (only the
    lines holding its words are classified again).

    Args:
        rules: the rules in force (config.toml's).
        corrections: the ``/alihkan`` corrections.
        rows: labelled corpus lines (may be empty: no F1 change then).
        top: suggestions kept per group and kind.
        tried: candidates tried per group and kind (the most frequent ones).

    Returns:
        Suggestions that fix at least one corrected ticket, sorted by group, then kind, fixes,
        F1 change.
    """
    from laporgub.routing import _FILLER, normalize

    base = Classifier(rules)
    base_predictions = [base.classify(r.text, r.sender) for r in rows]
    base_f1 = _micro_f1(rows, base_predictions) if rows else None
    row_norms = [p.normalized for p in base_predictions]
    skip = frozenset(_FILLER) | {w for kws in rules.keywords.values() for kw in kws
                                 for w in normalize(kw.lstrip("~")).split()}
    out: list[Suggestion] = []
    by_target: dict[str, list[Correction]] = {}
    by_source: dict[str, list[Correction]] = {}
    for c in corrections:
        if c.to_group not in _SUGGEST_SKIP_GROUPS:
            by_target.setdefault(c.to_group, []).append(c)
        for g in c.from_groups:
            if g not in _SUGGEST_SKIP_GROUPS:
                by_source.setdefault(g, []).append(c)

    def trial(group: str, keyword: str, negative: bool, concerned: list[Correction]) -> Suggestion | None:
        trial_rules = _with_keyword(rules, group, keyword, negative)
        classifier = Classifier(trial_rules)
        fixes = sum(1 for c in concerned if (group in classifier.route(c.text).groups) != negative)
        if not fixes:
            return None
        change = None
        if rows and base_f1 is not None:
            words = normalize(keyword).split()
            predictions = [classifier.classify(r.text, r.sender) if all(w[:4] in n for w in words) else p
                           for r, p, n in zip(rows, base_predictions, row_norms)]
            change = _micro_f1(rows, predictions) - base_f1
        return Suggestion(group, keyword, negative, fixes, len(concerned), change)

    def best(found: list[Suggestion]) -> list[Suggestion]:
        return sorted(found, key=lambda s: (-s.fixes, -(s.f1_change or 0.0), s.keyword))[:top]

    for group in sorted(by_target, key=lambda g: (-len(by_target[g]), g)):
        concerned = [c for c in by_target[group] if group not in base.route(c.text).groups]
        counts: Counter[str] = Counter()
        for c in concerned:
            counts.update(_candidate_phrases(normalize(c.text), skip))
        found = [s for kw, _ in counts.most_common(tried) if (s := trial(group, kw, False, concerned))]
        out.extend(best(found))
    for group in sorted(by_source, key=lambda g: (-len(by_source[g]), g)):
        concerned = [c for c in by_source[group] if group in base.route(c.text).groups]
        counts = Counter()
        for c in concerned:
            e = base.explain(c.text, DEFAULT_SENDER)
            words = e.classification.normalized.split()
            for kw in e.candidates.get(group, ()):
                first = normalize(kw.lstrip("~")).split()[0]
                for i, w in enumerate(words):
                    if w.startswith(first[:4]):
                        if i > 0 and words[i - 1] not in _FILLER:
                            counts[f"{words[i - 1]} {w}"] += 1
                        if i + 1 < len(words) and words[i + 1] not in _FILLER:
                            counts[f"{w} {words[i + 1]}"] += 1
        found = [s for kw, _ in counts.most_common(tried) if (s := trial(group, kw, True, concerned))]
        out.extend(best(found))
    return out


def suggest_keywords_main(rules: RoutingRules, database_url: str, since_text: str, corpus_paths: Sequence[str],
                          out: TextIO, *, now: float, tz: Any, top: int = 5) -> int:
    """``laporgub suggest-keywords --config FILE [--since 30d] [--corpus FILE ...]``.

    Args:
        rules: the rules in force.
        database_url: ``[service] database``.
        since_text: ``30d``, ``12h``, a date or an ISO time.
        corpus_paths: labelled corpora to measure the F1 change on (none: no F1 column).
        out: where to print.
        now: the current wall time (epoch seconds), from the service's clock.
        tz: the service's time zone (for dates given without one).
        top: suggestions per group.

    Returns:
        0, or 2 when an argument or file cannot be read, 1 when the database cannot be opened.
    """
    from laporgub import db
    from laporgub.clock import parse_since

    since = parse_since(since_text, now, tz)
    if since is None:
        print(f"--since: not a date, time or span (YYYY-MM-DD, ISO time, 30d, 12h): {since_text!r}", file=out)
        return 2
    rows: list[CorpusLine] = []
    for path in corpus_paths:
        read = _read_corpus_file(path, "suggest-keywords", out)
        if read is None:
            return 2
        lines, _ = read
        rows.extend(line for line in lines if line.expected_groups is not None or line.kind is not None)
    try:
        database = db.open_database(database_url)
    except Exception as exc:  # noqa: BLE001 - reported as one line
        print(f"service.database: cannot open: {type(exc).__name__}: {exc}", file=out)
        return 1
    with database.connection_context():
        corrections = load_corrections(since)
    print(f"{len(corrections)} correction(s) by /alihkan since {since_text}", file=out)
    if corpus_paths:
        print(f"F1 change: micro-F1 on {len(rows)} labelled lines of {', '.join(corpus_paths)}", file=out)
    else:
        print("no labelled corpus given (--corpus FILE): no F1 change shown", file=out)
    if not corrections:
        return 0
    suggestions = suggest_keywords(rules, corrections, rows, top=top)
    if not suggestions:
        print("no keyword would have routed these tickets rightly without other changes", file=out)
        return 0
    current: tuple[str, bool] | None = None
    for s in suggestions:
        if (s.group, s.negative) != current:
            current = (s.group, s.negative)
            what = "negative keywords (keep out of)" if s.negative else "keywords for"
            print(f"\n{what} {s.group}:", file=out)
            print(f"  {'keyword':<28}{'fixes':>8}{'F1 change':>12}", file=out)
        change = "" if s.f1_change is None else f"{s.f1_change:+.4f}"
        print(f"  {s.keyword:<28}{f'{s.fixes}/{s.of}':>8}{change:>12}", file=out)
    print("\nThe admin decides: add a line to [groups.<key>] keywords or negative_keywords in config.toml, "
          "try it with `laporgub classify`, then reload.", file=out)
    return 0
