"""``laporgub classify`` and ``laporgub eval-routing``: try and measure the keyword filter.

``classify_main`` shows an admin how one text is read (normalised text, typo corrections,
the keywords each group matched, negative keywords that cancelled matches, kind, groups,
regency) so a keyword change can be tried before a reload.

``eval_routing_main`` runs the classifier over a labelled corpus (JSON lines with
``sender``, ``text``, ``expected_groups`` without ``channel``, and ``kind``) and prints
precision, recall and F1 per group and micro-averaged over the category groups and
``kabkota`` (``pelayanan_publik`` reported beside them), the confusion for the worst
groups, and the outside checks of issue 5: darurat complaints missed, non-complaints
routed to a category group, real complaints classified spam or operator. With a
predictions path it also writes, for every input line in order, the input's fields plus
``predicted_groups``, ``predicted_kind`` and ``regency``, so any other tool can score the
same run. It works on any corpus: lines that are not JSON objects are reported and
skipped, and a corpus without labels gets predictions but no scores.

Both functions are pure apart from reading the corpus, writing predictions and printing
to ``out``; the CLI wires them (``laporgub/cli.py``).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from laporgub.routing import CATEGORY_GROUPS, KINDS, Classification, Classifier, RoutingRules

logger = logging.getLogger(__name__)

__all__ = [
    "SCORED_GROUPS",
    "CorpusLine",
    "GroupScore",
    "RoutingScores",
    "classify_main",
    "eval_routing_main",
    "read_corpus",
    "score_routing",
]

#: The groups micro-F1 is computed over (issue 5): the category groups and kabkota.
SCORED_GROUPS: tuple[str, ...] = (*CATEGORY_GROUPS, "kabkota")
_REPORTED_GROUPS: tuple[str, ...] = (*SCORED_GROUPS, "pelayanan_publik")

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
    """

    number: int
    fields: Mapping[str, Any]
    text: str
    sender: str
    expected_groups: frozenset[str] | None
    kind: str | None


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
        groups: group -> its score, for the scored groups and ``pelayanan_publik``.
        micro: micro-average over ``SCORED_GROUPS``.
        labelled_groups: lines with ``expected_groups``.
        labelled_kinds: lines with a ``kind``.
        kind_correct: of those, how many got their kind.
        kind_confusion: (expected kind, predicted kind) -> lines.
        darurat_missed: complaints expecting darurat that did not get it.
        noncomplaints_in_category: lines labelled not-a-complaint that reached a category group.
        complaints: lines labelled complaint.
        complaints_as_spam_or_operator: of those, classified spam or operator.
        regency_correct: lines with an ``expected_regency`` (or ``regency``) label that got it.
        regency_labelled: lines with such a label.
        missed: group -> Counter of the groups predicted on the lines that expected it and missed it.
        extra: group -> Counter of the groups expected on the lines that got it wrongly.
        examples: group -> a few texts it missed or got wrongly.
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

    @property
    def has_labels(self) -> bool:
        return self.labelled_groups > 0 or self.labelled_kinds > 0


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
        print("cancelled by negative keywords:", file=out)
        for group, negatives in e.cancelled.items():
            print(f"  {group:<17} {', '.join(negatives)}", file=out)
    if e.spam_score:
        print(f"spam evidence {e.spam_score:g} against topic evidence {e.topic_score:g}", file=out)
    if c.kind == "complaint" and c.groups and "pelayanan_publik" in c.groups and "pelayanan_publik" not in c.matched:
        print("pelayanan_publik: no topic group matched (the fallback)", file=out)
    print("weak keywords (~) route alone only when no group has a strong keyword.", file=out)
    return 0


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
        rows.append(CorpusLine(
            number=number,
            fields=data,
            text=text,
            sender=str(sender) if sender not in (None, "") else DEFAULT_SENDER,
            expected_groups=(frozenset(str(g) for g in groups) - {"channel"}) if isinstance(groups, list) else None,
            kind=kind if isinstance(kind, str) and kind else None,
        ))
    return rows, problems


def _expected_regency(row: CorpusLine) -> tuple[bool, str | None]:
    for key in ("expected_regency", "regency"):
        if key in row.fields:
            value = row.fields[key]
            return True, value if isinstance(value, str) and value else None
    return False, None


def score_routing(rows: Sequence[CorpusLine], predictions: Sequence[Classification]) -> RoutingScores:
    """Compare predictions with the labels of ``rows`` (same order).

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
    complaints_as_spam: list[str] = []
    labelled_groups = labelled_kinds = kind_correct = complaints = regency_labelled = regency_correct = 0
    for row, c in zip(rows, predictions, strict=True):
        got = set(c.groups) - {"channel"}
        if row.kind is not None:
            labelled_kinds += 1
            kind_correct += row.kind == c.kind
            kind_confusion[(row.kind, c.kind)] += 1
            if row.kind != "complaint" and got & set(CATEGORY_GROUPS):
                noncomplaints.append(row.text)
            if row.kind == "complaint":
                complaints += 1
                if c.kind in ("spam", "operator"):
                    complaints_as_spam.append(row.text)
        if row.expected_groups is None:
            continue
        labelled_groups += 1
        expected = set(row.expected_groups)
        if "darurat" in expected and "darurat" not in got and row.kind in (None, "complaint"):
            darurat_missed.append(row.text)
        for g in _REPORTED_GROUPS:
            if g in expected and g in got:
                tp[g] += 1
            elif g in got:
                fp[g] += 1
                extra[g].update(sorted(expected) or ["(no group)"])
                examples[g].append(f"+ {row.text}")
            elif g in expected:
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
        complaints_as_spam_or_operator=tuple(complaints_as_spam), regency_correct=regency_correct,
        regency_labelled=regency_labelled, missed=missed, extra=extra,
        examples={g: tuple(v[:_EXAMPLES]) for g, v in examples.items()},
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
        if g == SCORED_GROUPS[-1]:
            m = s.micro
            print(f"{'micro (scored)':<18}{_fmt(m.precision):>10}{_fmt(m.recall):>8}{_fmt(m.f1):>8}"
                  f"{m.tp + m.fn:>9}{m.tp + m.fp:>11}", file=out)
    print("(micro-average over the category groups and kabkota; pelayanan_publik reported, not in it)", file=out)

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
            print(f"    when wrongly given, the line expected: {came}", file=out)
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
    print("\nchecks of issue 5:", file=out)
    print(f"  darurat complaints missed: {len(s.darurat_missed)}", file=out)
    for text in s.darurat_missed[:_EXAMPLES]:
        print(f"    {_short(text)}", file=out)
    print(f"  spam/operator/status/too-short lines in a category group: {len(s.noncomplaints_in_category)}",
          file=out)
    for text in s.noncomplaints_in_category[:_EXAMPLES]:
        print(f"    {_short(text)}", file=out)
    rate = len(s.complaints_as_spam_or_operator) / s.complaints if s.complaints else 0.0
    print(f"  complaints classified spam or operator: {len(s.complaints_as_spam_or_operator)}/{s.complaints}"
          f" ({rate:.1%})", file=out)
    for text in s.complaints_as_spam_or_operator[:_EXAMPLES]:
        print(f"    {_short(text)}", file=out)
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
    try:
        with open(corpus_path, encoding="utf-8-sig", errors="replace") as f:
            rows, problems = read_corpus(f)
    except OSError as exc:
        print(f"eval-routing: cannot read {corpus_path}: {exc.strerror or exc}", file=out)
        return 2
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
