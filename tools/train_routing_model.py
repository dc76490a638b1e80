"""Train the learned model beside the routing rules: ``laporgub/data/routing_model.tsv``.

The model (``laporgub.routing_model``) is one logistic regression per topic group over the
words, roots and word pairs of the normalised text, trained on every complaint of the
labelled corpora in ``tests/data``; a group a line lists as only acceptable is left out of
that group's training. Its two thresholds (from which probability it chooses the groups of a
complaint no keyword routes; under which it drops a group resting on one keyword) are chosen
by leaving each corpus out in turn: a model trained on the other corpora routes it beside
the rules, and the pair with the best mean micro-F1 over the corpora wins (ties: the more
cautious pair). Run from the repository root::

    pip install -e '.[model]'
    python tools/train_routing_model.py            # choose the thresholds, train on all, write the file
    python tools/train_routing_model.py --check    # retrain with the file's thresholds; exit 1 if it differs

scikit-learn is needed here only: the service reads the weights from the data file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from laporgub.evaluation import CorpusLine, read_corpus, score_routing  # noqa: E402
from laporgub.routing import Classifier, load_default_rules  # noqa: E402
from laporgub.routing_model import MODEL_GROUPS, RoutingModel  # noqa: E402

OUT = ROOT / "laporgub" / "data" / "routing_model.tsv"
CORPORA = ("dev", "holdout", "external", "extra", "blind", "blind2")
#: Inverse regularisation strength of each group's logistic regression.
C = 10.0
#: A feature must occur in this many training complaints to be kept.
MIN_DF = 2
# Most cautious first: a tie keeps the model's hand lighter.
ADD_GRID = (0.9, 0.8, 0.7, 0.6, 0.5)
VETO_GRID = (0.02, 0.05, 0.1, 0.2)
#: --check: weights may differ this much from a retraining (other scikit-learn or BLAS builds).
TOLERANCE = 0.02

Labels = tuple[frozenset[str], frozenset[str]]  # (required groups, acceptable groups)


def load_corpora(names: Sequence[str] = CORPORA) -> dict[str, list[CorpusLine]]:
    """The labelled corpora of ``tests/data``, by short name."""
    corpora: dict[str, list[CorpusLine]] = {}
    for name in names:
        path = ROOT / "tests" / "data" / f"corpus_{name}.jsonl"
        rows, problems = read_corpus(path.read_text(encoding="utf-8").splitlines())
        if problems:
            raise SystemExit(f"{path}: {problems[0]}")
        corpora[name] = rows
    return corpora


def training_lines(classifier: Classifier, rows: Sequence[CorpusLine]) -> tuple[list[list[str]], list[Labels]]:
    """Features and labels of the labelled complaints among ``rows``."""
    feats: list[list[str]] = []
    labels: list[Labels] = []
    for row in rows:
        if row.kind == "complaint" and row.required is not None:
            feats.append(list(classifier.model_features(row.text)))
            labels.append((row.required, row.acceptable))
    return feats, labels


def fit(feats: Sequence[Sequence[str]], labels: Sequence[Labels], add_threshold: float, veto_threshold: float,
        header: Sequence[str] = ()) -> RoutingModel:
    """One logistic regression per group of ``MODEL_GROUPS`` (scikit-learn), as a ``RoutingModel``."""
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import normalize

    df: dict[str, int] = {}
    for doc in feats:
        for f in set(doc):
            df[f] = df.get(f, 0) + 1
    vocabulary = {f for f, n in df.items() if n >= MIN_DF}
    vectorizer = DictVectorizer(sort=True)
    x = normalize(vectorizer.fit_transform([{f: 1.0 for f in doc if f in vocabulary} for doc in feats]))
    names = list(vectorizer.get_feature_names_out())
    columns: list[Any] = []
    intercepts: list[float] = []
    for g in MODEL_GROUPS:
        keep = [i for i, (_, acceptable) in enumerate(labels) if g not in acceptable]
        y = [int(g in labels[i][0]) for i in keep]
        if len(set(y)) < 2:  # a group never (or always) seen: a constant
            columns.append([0.0] * len(names))
            intercepts.append(10.0 if y and y[0] else -10.0)
            continue
        head = LogisticRegression(C=C, max_iter=10000, tol=1e-6)
        head.fit(x[keep], y)
        columns.append(head.coef_[0])
        intercepts.append(float(head.intercept_[0]))
    weights = {f: tuple(float(col[j]) for col in columns) for j, f in enumerate(names)}
    return RoutingModel(MODEL_GROUPS, intercepts, weights, add_threshold, veto_threshold, header)


def corpus_f1(classifier: Classifier, rows: Sequence[CorpusLine]) -> float:
    """Lenient micro-F1 of ``classifier`` on ``rows`` (as ``laporgub eval-routing``)."""
    return score_routing(rows, [classifier.classify(r.text, r.sender) for r in rows]).micro.f1 or 0.0


def choose_thresholds(classifier: Classifier, corpora: Mapping[str, Sequence[CorpusLine]],
                      log: Any = None) -> tuple[float, float, float]:
    """Leave each corpus out in turn; the (add, veto) thresholds with the best mean micro-F1.

    Returns:
        (add threshold, veto threshold, that mean micro-F1).
    """
    held_out: list[tuple[Sequence[CorpusLine], RoutingModel]] = []
    for name, rows in corpora.items():
        feats: list[list[str]] = []
        labels: list[Labels] = []
        for other, other_rows in corpora.items():
            if other != name:
                f, lab = training_lines(classifier, other_rows)
                feats += f
                labels += lab
        held_out.append((rows, fit(feats, labels, 1.0, 0.0)))
    best: tuple[float, float, float] | None = None
    for add in ADD_GRID:
        for veto in VETO_GRID:
            scores = [corpus_f1(classifier.with_model(model.with_thresholds(add, veto)), rows)
                      for rows, model in held_out]
            mean = sum(scores) / len(scores)
            if log is not None:
                print(f"  add {add:g} veto {veto:g}: " + " ".join(f"{s:.4f}" for s in scores) + f"  mean {mean:.4f}",
                      file=log)
            if best is None or mean > best[2] + 1e-12:
                best = (add, veto, mean)
    assert best is not None
    return best


def train(corpora: Mapping[str, Sequence[CorpusLine]], add: float, veto: float) -> RoutingModel:
    """The model on every corpus, with the given thresholds."""
    classifier = Classifier(load_default_rules(), model=None)
    feats: list[list[str]] = []
    labels: list[Labels] = []
    for rows in corpora.values():
        f, lab = training_lines(classifier, rows)
        feats += f
        labels += lab
    header = (
        "LaporGub routing model: one logistic regression per group over words, roots and word pairs",
        "(laporgub/routing_model.py). Generated by tools/train_routing_model.py; do not edit by hand.",
        f"Trained on {len(feats)} labelled complaints of tests/data/corpus_{{{','.join(corpora)}}}.jsonl",
        f"with scikit-learn {metadata.version('scikit-learn')}, C={C:g}, features in at least {MIN_DF} complaints.",
        "Thresholds chosen by leaving each corpus out in turn (best mean lenient micro-F1).",
    )
    return fit(feats, labels, add, veto, header)


def _differences(shipped: RoutingModel, fresh: RoutingModel) -> list[str]:
    problems: list[str] = []
    if set(shipped.weights) != set(fresh.weights):
        gone, new = set(shipped.weights) - set(fresh.weights), set(fresh.weights) - set(shipped.weights)
        problems.append(f"features differ: {len(gone)} only in the file, {len(new)} only in a retraining")
        return problems
    if shipped.groups != fresh.groups:
        problems.append(f"groups differ: {shipped.groups} against {fresh.groups}")
        return problems
    worst = max((abs(a - b), f) for f in fresh.weights for a, b in zip(shipped.weights[f], fresh.weights[f]))
    worst_b = max(abs(a - b) for a, b in zip(shipped.intercepts, fresh.intercepts))
    if worst[0] > TOLERANCE or worst_b > TOLERANCE:
        problems.append(f"weights differ by up to {max(worst[0], worst_b):.4f} ({worst[1]})")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="retrain with the file's thresholds and compare; exit 1 when the file is out of date")
    parser.add_argument("--verbose", action="store_true", help="print every threshold pair's figures")
    args = parser.parse_args()
    corpora = load_corpora()
    if args.check:
        shipped = RoutingModel.parse(OUT.read_text(encoding="utf-8"))
        fresh = train(corpora, shipped.add_threshold, shipped.veto_threshold)
        problems = _differences(shipped, RoutingModel.parse(fresh.dump()))
        for problem in problems:
            print(f"{OUT.relative_to(ROOT)}: {problem}; run python tools/train_routing_model.py")
        if not problems:
            print(f"{OUT.relative_to(ROOT)}: up to date ({len(shipped.weights)} features)")
        return 1 if problems else 0
    add, veto, mean = choose_thresholds(Classifier(load_default_rules(), model=None), corpora,
                                        sys.stdout if args.verbose else None)
    print(f"thresholds: add {add:g}, veto {veto:g} (mean micro-F1 {mean:.4f} with each corpus left out)")
    model = train(corpora, add, veto)
    OUT.write_text(model.dump(), encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(model.weights)} features, {OUT.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
