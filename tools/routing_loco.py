"""Leave-one-corpus-out: does a learned model beside the routing rules generalise better?

An experiment, not part of the service (docs/routing.md reports it). For each corpus C of
the outside-written ones (``external``, ``extra``, ``blind``, ``blind2``; with ``--all`` also
the team's ``dev`` and ``holdout``), a model is trained on every other labelled corpus in
``tests/data`` and C is routed beside the rules. Everything is scored as ``laporgub
eval-routing`` scores (``laporgub.evaluation.score_routing``: lenient micro-F1 over the nine
topic groups and kabkota, darurat precision and recall, status queries recognised,
complaints lost to another kind, non-complaints leaked into groups, complaints marked spam).

Rows: the rules alone, and the hybrid as shipped (``laporgub/routing_model.py``, trained by
``tools/train_routing_model.py``'s own functions, its two thresholds chosen by that tool's
leave-one-out among the training corpora only: nested, C never seen). ``--explore`` adds
the models and combinations tried before choosing it (model alone, instead of the catch-all,
adding, dropping, both, stacked; models with and without 3-5 letter pieces, C = 1 or 10,
balanced classes), each with nested thresholds on pooled micro-F1.

Two sources of rules::

    python tools/routing_loco.py [--all]         # the rules of this tree (config.toml, model off)
    python tools/routing_loco.py --time-travel   # for each C, the rules as they were before C was studied

The rules of this tree were tuned while reading every one of these corpora, so their own
figure on C is no blind test, and a model can only add where they still fail. With
``--time-travel`` each corpus is classified by the rules of the commit before anyone
changed a rule for it (``TIME_TRAVEL``: the outside corpus and our own other-styles corpus by
the rules before issue 17, the first blind corpus by the rules before the blind round, the
second by the rules after its first pass), extracted with ``git archive`` into a temporary
directory and run in a subprocess: those rules and the model are both blind to C. The
hybrid is then simulated on those rules' output (the model's features read from their
normalised text).

``--show shipped`` lists every line the hybrid changed (+ right, - wrong, ~ neither).
Needs scikit-learn (``pip install -e '.[model]'``); run from the repository root of a git
checkout. The old rules' output is cached in the temporary directory (``laporgub-loco``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
TEAM = ("dev", "holdout")
OUTSIDE = ("external", "extra", "blind", "blind2")
CORPORA = (*TEAM, *OUTSIDE)
#: The commit whose rules had not yet been changed for each corpus (their parents' rules
#: are the ones each corpus was first measured with: 0.84, 0.70, 0.835 and 0.872).
TIME_TRAVEL = {"external": "e2f322f", "extra": "e2f322f", "blind": "aff3b50", "blind2": "be68393",
               "dev": "be68393", "holdout": "be68393"}

# --------------------------------------------------------------------------
# The rules' output, from this tree or from an old commit (in a subprocess).

_DUMP = r"""
import json, sys
sys.path.insert(0, ".")
import dataclasses
from laporgub.config import load_config
from laporgub.intake import routing_rules
from laporgub.routing import Classifier
rules = routing_rules(load_config("config.toml"))
if any(f.name == "model" for f in dataclasses.fields(rules)):
    rules = dataclasses.replace(rules, model=False)  # the rules alone
classifier = Classifier(rules)
for line in sys.stdin:
    row = json.loads(line)
    e = classifier.explain(row["text"], row["sender"])
    c = e.classification
    print(json.dumps({"kind": c.kind, "groups": list(c.groups), "regency": c.regency,
                      "matched": {k: list(v) for k, v in c.matched.items()}, "normalized": c.normalized,
                      "scores": dict(e.scores), "candidates": {k: list(v) for k, v in e.candidates.items()},
                      "cancelled": {k: list(v) for k, v in e.cancelled.items()}}))
"""


@dataclass(frozen=True)
class RuleOut:
    """What the rules said about one line."""

    kind: str
    groups: tuple[str, ...]
    regency: str | None
    matched: Mapping[str, tuple[str, ...]]
    normalized: str
    scores: Mapping[str, float]
    candidates: Mapping[str, tuple[str, ...]]
    cancelled: Mapping[str, tuple[str, ...]]

    @property
    def fallback(self) -> bool:
        """No topic group had evidence: pelayanan_publik is the catch-all."""
        return "pelayanan_publik" in self.groups and "pelayanan_publik" not in self.matched


def _rows(name: str) -> list[Any]:
    from laporgub.evaluation import read_corpus

    rows, problems = read_corpus((DATA / f"corpus_{name}.jsonl").read_text(encoding="utf-8").splitlines())
    assert not problems, problems
    return rows


def _dump_tree(tree: Path, rows: Sequence[Any]) -> list[RuleOut]:
    payload = "".join(json.dumps({"text": r.text, "sender": r.sender}) + "\n" for r in rows)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", _DUMP], input=payload, capture_output=True, text=True, cwd=tree,
                          env=env, check=True)
    return [_rule_out(json.loads(line)) for line in done.stdout.splitlines()]


_TREE: dict[str, dict[str, list[RuleOut]]] = {}


def _rule_out(d: Mapping[str, Any]) -> RuleOut:
    return RuleOut(d["kind"], tuple(d["groups"]), d["regency"],
                   MappingProxyType({k: tuple(v) for k, v in d["matched"].items()}), d["normalized"],
                   MappingProxyType(dict(d["scores"])),
                   MappingProxyType({k: tuple(v) for k, v in d["candidates"].items()}),
                   MappingProxyType({k: tuple(v) for k, v in d.get("cancelled", {}).items()}))


def rules_outputs(commit: str | None, corpora: Mapping[str, Sequence[Any]], cache: Path) -> dict[str, list[RuleOut]]:
    """Every line of ``corpora`` through the rules of ``commit`` (None: this working tree)."""
    if commit is None:
        if "tree" not in _TREE:
            _TREE["tree"] = {name: _dump_tree(ROOT, rows) for name, rows in corpora.items()}
        return _TREE["tree"]
    cached = cache / f"rules-{commit}.json"
    if cached.exists():
        stored = json.loads(cached.read_text(encoding="utf-8"))
        if all(name in stored and len(stored[name]) == len(rows) for name, rows in corpora.items()):
            return {name: [_rule_out(d) for d in stored[name]] for name in corpora}
    with tempfile.TemporaryDirectory(prefix=f"loco-{commit}-") as tmp:
        archive = subprocess.run(["git", "archive", commit, "laporgub", "config.toml"], cwd=ROOT,
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        payload = "".join(json.dumps({"text": r.text, "sender": r.sender}) + "\n"
                          for rows in corpora.values() for r in rows)
        env = {**os.environ, "PYTHONPATH": tmp}
        done = subprocess.run([sys.executable, "-c", _DUMP], input=payload, capture_output=True, text=True,
                              cwd=tmp, env=env, check=True)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    out: dict[str, list[Any]] = {}
    at = 0
    for name, rows in corpora.items():
        out[name] = lines[at: at + len(rows)]
        at += len(rows)
    cache.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(out), encoding="utf-8")
    return {name: [_rule_out(d) for d in v] for name, v in out.items()}


# --------------------------------------------------------------------------
# Features and the model.

def _features_factory(char_ngrams: bool = True) -> Callable[[str, RuleOut | None], dict[str, float]]:
    from laporgub.routing import _affix_roots, _sastrawi

    sastrawi = _sastrawi()
    cache: dict[str, tuple[str, ...]] = {}

    def word_features(t: str) -> tuple[str, ...]:
        found = cache.get(t)
        if found is None:
            feats = [f"w:{t}"]
            if t.isalpha():
                roots = set(_affix_roots(t)[0])
                stem = sastrawi.stem(t) if len(t) > 4 else None
                if stem:
                    roots.add(stem)
                feats += [f"r:{r}" for r in sorted(roots) if r != t]
                if char_ngrams and len(t) >= 4:
                    padded = f"<{t}>"
                    feats += [f"c:{padded[j: j + n]}" for n in (3, 4, 5) for j in range(len(padded) - n + 1)]
            found = cache[t] = tuple(feats)
        return found

    def features(norm: str, rules: RuleOut | None = None) -> dict[str, float]:
        tokens = ["<n>" if t.isdigit() else t for t in norm.split()]
        feats: dict[str, float] = {}
        for i, t in enumerate(tokens):
            for f in word_features(t):
                feats[f] = 1.0
            if i:
                feats[f"b:{tokens[i - 1]} {t}"] = 1.0
        if rules is not None:
            for g, kws in rules.candidates.items():
                strong = any(not k.startswith("~") for k in kws)
                feats[f"R:{g}" if strong else f"Rw:{g}"] = 1.0
            if rules.fallback:
                feats["R:fallback"] = 1.0
        return feats

    return features


MODEL_GROUPS = ("sosial_hukum", "kesehatan", "ekonomi_industri", "darurat", "esdm_lh", "pertanian", "infrastruktur",
                "energi", "pelayanan_publik")


@dataclass
class Model:
    """One logistic regression per topic group over the features."""

    vectorizer: Any
    heads: dict[str, Any]
    kind: str

    def probabilities(self, feats: Sequence[dict[str, float]]) -> list[dict[str, float]]:
        x = self.vectorizer.transform(feats)
        from sklearn.preprocessing import normalize

        x = normalize(x)
        out: list[dict[str, float]] = [{} for _ in feats]
        for g, head in self.heads.items():
            if isinstance(head, float):
                for o in out:
                    o[g] = head
                continue
            p = head.predict_proba(x)[:, 1] if hasattr(head, "predict_proba") else _sigmoid(head.decision_function(x))
            for o, v in zip(out, p):
                o[g] = float(v)
        return out


def _sigmoid(z: Any) -> Any:
    import numpy as np

    return 1 / (1 + np.exp(-z))


def train(feats: Sequence[dict[str, float]], labels: Sequence[tuple[frozenset[str], frozenset[str]]],
          kind: str) -> Model:
    """``labels``: per line (required groups, acceptable groups); an acceptable group's line is left out of its head."""
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import normalize

    vec = DictVectorizer()
    x = normalize(vec.fit_transform(feats))
    heads: dict[str, Any] = {}
    for g in MODEL_GROUPS:
        keep = [i for i, (_, acceptable) in enumerate(labels) if g not in acceptable]
        y = [1 if g in labels[i][0] else 0 for i in keep]
        if len(set(y)) < 2:
            heads[g] = float(y[0]) if y else 0.0
            continue
        c = 1.0 if kind == "lr-c1" else 100.0 if kind == "lr-c100" else 10.0
        weight = "balanced" if kind == "lr-balanced" else None
        if not kind.startswith("lr"):
            raise ValueError(kind)
        head = LogisticRegression(C=c, max_iter=5000, class_weight=weight)
        head.fit(x[keep], y)
        heads[g] = head
    return Model(vec, heads, kind)


# --------------------------------------------------------------------------
# Combinations: rules' groups and the model's probabilities -> groups.

Policy = Callable[[RuleOut, Mapping[str, float], tuple[float, ...]], set[str]]
_TOPIC = frozenset(MODEL_GROUPS) - {"pelayanan_publik"}


def _topic(groups: Sequence[str]) -> set[str]:
    return {g for g in groups if g in MODEL_GROUPS}


def p_rules(r: RuleOut, p: Mapping[str, float], t: tuple[float, ...]) -> set[str]:
    return _topic(r.groups)


def p_model(r: RuleOut, p: Mapping[str, float], t: tuple[float, ...]) -> set[str]:
    """The model alone (kinds and kabkota still the rules')."""
    chosen = {g for g, v in p.items() if v >= t[0]}
    return chosen or {max(p, key=lambda g: p[g])}


def _addable(r: RuleOut, p: Mapping[str, float], t: float, groups: frozenset[str] = frozenset(MODEL_GROUPS)
             ) -> set[str]:
    """Groups the model is sure of, except those whose keywords the rules cancelled (a negative keyword,
    or a context: "hampir tabrakan" is no accident, and the model must not say it is)."""
    return {g for g in groups if p[g] >= t and g not in r.cancelled}


def p_fallback(r: RuleOut, p: Mapping[str, float], t: tuple[float, ...]) -> set[str]:
    """Where the rules found no topic evidence (the pelayanan_publik catch-all), the model's groups above t."""
    if not r.fallback:
        return _topic(r.groups)
    return _addable(r, p, t[0]) or {"pelayanan_publik"}


def p_add(r: RuleOut, p: Mapping[str, float], t: tuple[float, ...]) -> set[str]:
    """The rules' groups, plus any topic group the model is sure of (replacing the catch-all)."""
    base = _topic(r.groups)
    added = _addable(r, p, t[0], _TOPIC)
    if added and r.fallback:
        base.discard("pelayanan_publik")
    return base | added


def _vetoed(r: RuleOut, p: Mapping[str, float], low: float) -> set[str]:
    base = _topic(r.groups)
    weak = {g for g in base if g != "darurat" and g in r.scores and r.scores[g] <= 1.0 and p[g] < low}
    if weak and base - weak:
        return base - weak
    return base


def p_veto(r: RuleOut, p: Mapping[str, float], t: tuple[float, ...]) -> set[str]:
    """The rules' groups less those resting on one keyword that the model finds unlikely (never darurat,
    never the last group)."""
    return _vetoed(r, p, t[0])


def p_fallback_veto(r: RuleOut, p: Mapping[str, float], t: tuple[float, ...]) -> set[str]:
    return p_fallback(r, p, t[:1]) if r.fallback else _vetoed(r, p, t[1])


def p_add_veto(r: RuleOut, p: Mapping[str, float], t: tuple[float, ...]) -> set[str]:
    base = _vetoed(r, p, t[1])
    added = _addable(r, p, t[0], _TOPIC)
    if added and r.fallback:
        base.discard("pelayanan_publik")
    return base | added


def p_stack(r: RuleOut, p: Mapping[str, float], t: tuple[float, ...]) -> set[str]:
    """A model that reads the rules' evidence as features decides; darurat from the rules is kept."""
    chosen = {g for g, v in p.items() if v >= t[0]}
    if "darurat" in r.groups:
        chosen.add("darurat")
    return chosen or {max(p, key=lambda g: p[g])}


AUTO_FROM = ("rules", "fallback", "add", "veto", "fallback+veto", "add+veto")
_T = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
_LOW = (0.02, 0.05, 0.1, 0.2, 0.3)
POLICIES: dict[str, tuple[Policy, list[tuple[float, ...]], bool]] = {
    # name: (policy, parameter grid, model reads the rules' evidence)
    "rules": (p_rules, [()], False),
    "model only": (p_model, [(t,) for t in _T], False),
    "fallback": (p_fallback, [(t,) for t in _T], False),
    "add": (p_add, [(t,) for t in _T], False),
    "veto": (p_veto, [(t,) for t in _LOW], False),
    "fallback+veto": (p_fallback_veto, [(a, b) for a in _T for b in _LOW], False),
    "add+veto": (p_add_veto, [(a, b) for a in _T for b in _LOW], False),
    "auto": (p_rules, [], False),
    "stacked": (p_stack, [(t,) for t in _T], True),
    "stacked fallback": (p_fallback, [(t,) for t in _T], True),
    "stacked add": (p_add, [(t,) for t in _T], True),
}


# --------------------------------------------------------------------------
# The hybrid as shipped (laporgub.routing_model, trained by tools/train_routing_model.py).

def _tool() -> Any:
    sys.path.insert(0, str(ROOT / "tools"))
    import train_routing_model

    return train_routing_model


def shipped_this_tree(test: str, corpora: Mapping[str, Sequence[Any]]) -> tuple[list[Any], tuple[float, float]]:
    """The shipped hybrid with the model trained without ``test``, thresholds chosen without it too
    (``choose_thresholds`` over the training corpora), through the real classifier."""
    from laporgub.routing import Classifier, load_default_rules

    tool = _tool()
    base = Classifier(load_default_rules(), model=None)
    train = {n: corpora[n] for n in CORPORA if n != test}
    add, veto, _ = tool.choose_thresholds(base, train)
    feats: list[list[str]] = []
    labels: list[Any] = []
    for rows in train.values():
        f, lab = tool.training_lines(base, rows)
        feats += f
        labels += lab
    model = tool.fit(feats, labels, add, veto)
    hybrid = base.with_model(model)
    return [hybrid.classify(r.text, r.sender) for r in corpora[test]], (add, veto)


def _simulate(r: RuleOut, model: Any, feats: Mapping[str, str]) -> set[str]:
    """The shipped combination on the dumped output of older rules (approximately: the dump has no word
    positions, so "the model knows the keyword" is asked of the keyword's words, and older rules never
    refuse a repaired road)."""
    passed = set() if r.fallback else _topic(r.groups)
    if not passed:
        asked = [g for g in MODEL_GROUPS if g not in r.cancelled]
        p = model.opinion(feats, asked, reasons=False).probabilities
        return {g for g in asked if p[g] >= model.add_threshold} or {"pelayanan_publik"}
    weak = [g for g in passed if g != "darurat" and r.scores.get(g, 0.0) <= 1.0
            and all(any(model.knows(w) for w in k.lstrip("~").split()) for k in r.candidates.get(g, ()))]
    if not weak or len(passed) < 2:
        return passed
    p = model.opinion(feats, weak, reasons=False).probabilities
    kept = passed - {g for g in weak if p[g] < model.veto_threshold}
    return kept or passed


def _simulated(rows: Sequence[Any], outs: Sequence[RuleOut], feats: Sequence[Mapping[str, str]], model: Any
               ) -> list[Any]:
    return predictions(outs, feats, lambda r, f, _: _simulate(r, model, f), ())


def shipped_time_travel(test: str, corpora: Mapping[str, Sequence[Any]], outs: Mapping[str, Sequence[RuleOut]]
                        ) -> tuple[list[Any], tuple[float, float]]:
    """The shipped hybrid beside older rules (their dumped output), model and thresholds chosen without ``test``."""
    from laporgub.routing import Classifier, load_default_rules

    tool = _tool()
    reader = Classifier(load_default_rules(), model=None)
    # Features of the old rules' normalised text, read with roots that no keyword list changes.
    feats = {n: [reader.model_features(r.normalized, normalized=True) for r in outs[n]] for n in CORPORA}

    def fit(names: Sequence[str], add: float, veto: float) -> Any:
        x: list[list[str]] = []
        y: list[Any] = []
        for n in names:
            for row, f in zip(corpora[n], feats[n]):
                if row.kind == "complaint" and row.required is not None:
                    x.append(list(f))
                    y.append((row.required, row.acceptable))
        return tool.fit(x, y, add, veto)

    train = [n for n in CORPORA if n != test]
    inner = [(held, fit([n for n in train if n != held], 1.0, 0.0)) for held in train]
    best: tuple[float, float, float] | None = None
    for add in tool.ADD_GRID:
        for veto in tool.VETO_GRID:
            scores = [figures(corpora[held], _simulated(corpora[held], outs[held], feats[held],
                                                        model.with_thresholds(add, veto))).micro
                      for held, model in inner]
            mean = sum(scores) / len(scores)
            if best is None or mean > best[2] + 1e-12:
                best = (add, veto, mean)
    assert best is not None
    model = fit(train, best[0], best[1])
    return _simulated(corpora[test], outs[test], feats[test], model), (best[0], best[1])


# --------------------------------------------------------------------------
# Scoring.

_ORDER = (*MODEL_GROUPS[:8], "kabkota", "pelayanan_publik")


def predictions(outs: Sequence[RuleOut], probs: Sequence[Any], policy: Callable[..., set[str]],
                params: tuple[float, ...]) -> list[Any]:
    """The rules' classifications with the groups of each complaint as ``policy`` combines them
    (``probs``: per line, what the policy reads beside the rules' output)."""
    from laporgub.routing import Classification

    result = []
    for r, p in zip(outs, probs):
        if r.kind != "complaint":
            groups: tuple[str, ...] = r.groups
        else:
            chosen = policy(r, p, params)
            if "kabkota" in r.groups:
                chosen.add("kabkota")
            groups = tuple(g for g in _ORDER if g in chosen)
        result.append(Classification(r.kind, groups, r.regency, r.matched, None, r.normalized))
    return result


@dataclass
class Figures:
    micro: float
    darurat_p: float | None
    darurat_r: float | None
    status: str
    lost: int
    leaked: int
    spam: str
    tp: int
    fp: int
    fn: int


def figures(rows: Sequence[Any], preds: Sequence[Any]) -> Figures:
    from laporgub.evaluation import score_routing

    s = score_routing(rows, preds)
    d = s.group("darurat")
    return Figures(s.micro.f1 or 0.0, d.precision, d.recall, f"{s.status_recognised}/{s.status_queries}",
                   len(s.complaints_lost), len(s.noncomplaints_in_groups),
                   f"{len(s.complaints_as_spam)}/{s.complaints}", s.micro.tp, s.micro.fp, s.micro.fn)


# --------------------------------------------------------------------------
# The experiment.

def _labels(rows: Sequence[Any]) -> list[tuple[frozenset[str], frozenset[str]]]:
    return [(r.required or frozenset(), r.acceptable) for r in rows]


def _complaints(name: str, rows: Sequence[Any], outs: Sequence[RuleOut]) -> list[int]:
    return [i for i, r in enumerate(rows) if r.kind == "complaint" and r.required is not None]


def _fit(train_names: Sequence[str], corpora: Mapping[str, Sequence[Any]], outs: Mapping[str, Sequence[RuleOut]],
         feats: Mapping[str, Sequence[dict[str, float]]], kind: str) -> Model:
    x: list[dict[str, float]] = []
    y: list[tuple[frozenset[str], frozenset[str]]] = []
    for name in train_names:
        idx = _complaints(name, corpora[name], outs[name])
        x += [feats[name][i] for i in idx]
        y += [_labels(corpora[name])[i] for i in idx]
    return train(x, y, kind)


def _score_micro(rows: Sequence[Any], preds: Sequence[Any]) -> tuple[int, int, int]:
    f = figures(rows, preds)
    return f.tp, f.fp, f.fn


def run(args: argparse.Namespace) -> None:
    corpora = {name: _rows(name) for name in CORPORA}
    tests = CORPORA if args.all else OUTSIDE
    cache = Path(tempfile.gettempdir()) / "laporgub-loco"
    factories = {True: _features_factory(True), False: _features_factory(False)}
    out_lines: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        out_lines.append(line)

    kinds = args.models.split(",")
    policies = [p for p in POLICIES if not args.policies or p in args.policies.split(",")]
    explored = (f"; explored: models {', '.join(kinds)}, thresholds "
                f"{'fixed ' + args.fixed if args.fixed else 'nested leave-one-out'}") if args.explore else ""
    say(f"rules: {'as each corpus first met them (--time-travel)' if args.time_travel else 'this tree'}; "
        f"hybrid as shipped: thresholds nested leave-one-out (params: add:veto){explored}")
    summary: dict[tuple[str, str], list[Figures]] = {}
    for test in tests:
        commit = TIME_TRAVEL[test] if args.time_travel else None
        outs = rules_outputs(commit, corpora, cache)
        train_names = [n for n in CORPORA if n != test]
        say(f"\n== test {test} ({len(corpora[test])} SMS), rules {commit or 'of this tree'}, "
            f"trained on {', '.join(train_names)}")
        say(f"{'combination':<26}{'params':>24}{'micro-F1':>9}{'dar P':>7}{'dar R':>7}{'status':>8}{'lost':>6}"
            f"{'leak':>6}{'spam':>8}")
        rules_f = figures(corpora[test], predictions(outs[test], [{} for _ in corpora[test]], p_rules, ()))
        summary.setdefault(("rules", test), []).append(rules_f)
        _say_row(say, "rules", "-", rules_f)
        if args.time_travel:
            preds, chosen = shipped_time_travel(test, corpora, outs)
        else:
            preds, chosen = shipped_this_tree(test, corpora)
        f = figures(corpora[test], preds)
        summary.setdefault(("hybrid as shipped", test), []).append(f)
        _say_row(say, "hybrid as shipped", ":".join(f"{v:g}" for v in chosen), f)
        if "shipped" in args.show.split(","):
            _show_changes(corpora[test], outs[test], preds, say)
        if not args.explore:
            continue
        for kind in kinds:
            features = factories[kind != "lr-words"]
            feats = {name: [features(r.normalized, None) for r in outs[name]] for name in CORPORA}
            sfeats = {name: [features(r.normalized, r) for r in outs[name]] for name in CORPORA}
            models: dict[bool, Model] = {}
            for name in policies:
                if name == "rules":
                    continue
                policy, grid, stacked = POLICIES[name]
                fs = sfeats if stacked else feats
                if name != "rules" and stacked not in models:
                    models[stacked] = _fit(train_names, corpora, outs, fs, kind)
                shown = ""
                if name == "auto":
                    chosen, params = _nested(train_names, corpora, outs, fs, kind, [
                        (n, POLICIES[n][0], q) for n in AUTO_FROM for q in POLICIES[n][1]])
                    policy, shown = POLICIES[chosen][0], chosen + " "
                elif args.fixed and name != "rules":
                    params = tuple(float(v) for v in args.fixed.split(":"))[: len(grid[0])]
                elif len(grid) > 1:
                    params = _nested(train_names, corpora, outs, fs, kind, [(name, policy, q) for q in grid])[1]
                else:
                    params = grid[0]
                probs = (models[stacked].probabilities(fs[test]) if name != "rules"
                         else [{} for _ in corpora[test]])
                preds = predictions(outs[test], probs, policy, params)
                f = figures(corpora[test], preds)
                if name in args.show.split(","):
                    _show(corpora[test], outs[test], probs, preds, say)
                label = name if name == "rules" else f"{name} [{kind}]"
                summary.setdefault((label, test), []).append(f)
                _say_row(say, label, shown + ":".join(f"{v:g}" for v in params), f)
    say("\n== mean micro-F1 over the test corpora")
    labels = list(dict.fromkeys(label for label, _ in summary))
    say(f"{'combination':<26}" + "".join(f"{t:>10}" for t in tests) + f"{'mean':>10}{'dar R min':>10}")
    for label in labels:
        vals = [summary[(label, t)][0] for t in tests if (label, t) in summary]
        mean = sum(v.micro for v in vals) / len(vals)
        rmin = min((v.darurat_r for v in vals if v.darurat_r is not None), default=None)
        say(f"{label:<26}" + "".join(f"{v.micro:>10.4f}" for v in vals) + f"{mean:>10.4f}{_pct(rmin):>10}")
    if args.out:
        Path(args.out).write_text("\n".join(out_lines) + "\n", encoding="utf-8")


def _say_row(say: Callable[[str], None], label: str, params: str, f: Figures) -> None:
    say(f"{label:<26}{params or '-':>24}{f.micro:>9.4f}{_pct(f.darurat_p):>7}{_pct(f.darurat_r):>7}{f.status:>8}"
        f"{f.lost:>6}{f.leaked:>6}{f.spam:>8}")


def _show_changes(rows: Sequence[Any], outs: Sequence[RuleOut], preds: Sequence[Any],
                  say: Callable[[str], None]) -> None:
    """Every line whose groups the hybrid changed: + right, - wrong, ~ neither (lenient)."""
    for row, r, c in zip(rows, outs, preds):
        if set(c.groups) == set(r.groups) or row.required is None:
            continue
        gained, lost = set(c.groups) - set(r.groups), set(r.groups) - set(c.groups)
        marks = [("+" if g in row.required else "~" if g in row.acceptable else "-") + g for g in sorted(gained)]
        marks += [("-" if g in row.required else "~" if g in row.acceptable else "+") + "no " + g for g in sorted(lost)]
        say(f"    {' '.join(marks):<40} {row.text[:100]}")


def _show(rows: Sequence[Any], outs: Sequence[RuleOut], probs: Sequence[Mapping[str, float]], preds: Sequence[Any],
          say: Callable[[str], None]) -> None:
    """Every line whose groups the combination changed: + right, - wrong, ~ neither (lenient)."""
    for row, r, p, c in zip(rows, outs, probs, preds):
        if set(c.groups) == set(r.groups) or row.required is None:
            continue
        gained, lost = set(c.groups) - set(r.groups), set(r.groups) - set(c.groups)
        marks = [("+" if g in row.required else "~" if g in row.acceptable else "-") + g for g in sorted(gained)]
        marks += [("-" if g in row.required else "~" if g in row.acceptable else "+") + "no " + g for g in sorted(lost)]
        top = ", ".join(f"{g} {v:.2f}" for g, v in sorted(p.items(), key=lambda kv: -kv[1])[:3])
        say(f"    {' '.join(marks):<40} {row.text[:100]}  [{top}; rules {','.join(r.groups)}]")


def _nested(train_names: Sequence[str], corpora: Mapping[str, Sequence[Any]], outs: Mapping[str, Sequence[RuleOut]],
            feats: Mapping[str, Sequence[dict[str, float]]], kind: str,
            candidates: Sequence[tuple[str, Policy, tuple[float, ...]]]) -> tuple[str, tuple[float, ...]]:
    """The (combination, parameters) with the best pooled micro-F1 when each training corpus in turn is
    left out of the training and scored (ties: the first candidate, the most conservative)."""
    key = (tuple(train_names), kind, id(feats))
    inner = _INNER.get(key)
    if inner is None:
        inner = []
        for held in train_names:
            rest = [n for n in train_names if n != held]
            model = _fit(rest, corpora, outs, feats, kind)
            inner.append((held, model.probabilities(feats[held])))
        _INNER[key] = inner
    best: tuple[float, str, tuple[float, ...]] | None = None
    for name, policy, params in candidates:
        tp = fp = fn = 0
        for held, probs in inner:
            a, b, c = _score_micro(corpora[held], predictions(outs[held], probs, policy, params))
            tp, fp, fn = tp + a, fp + b, fn + c
        f1 = 2 * tp / (2 * tp + fp + fn)
        if best is None or f1 > best[0] + 1e-12:
            best = (f1, name, params)
    assert best is not None
    return best[1], best[2]


_INNER: dict[Any, list[tuple[str, list[dict[str, float]]]]] = {}


def _pct(v: float | None) -> str:
    return "  n/a" if v is None else f"{v:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time-travel", action="store_true", help="rules as each test corpus first met them")
    parser.add_argument("--all", action="store_true", help="also leave out the team's corpora")
    parser.add_argument("--models", default="lr", help="comma-separated: lr, lr-balanced")
    parser.add_argument("--policies", default="", help="comma-separated names of combinations (default: all)")
    parser.add_argument("--fixed", default="", help="fixed thresholds a[:b] instead of nested selection")
    parser.add_argument("--explore", action="store_true",
                        help="also the combinations and models tried before choosing (scikit-learn, slower)")
    parser.add_argument("--show", default="", help="list the lines these combinations changed ('shipped': the hybrid)")
    parser.add_argument("--out", help="also write the report to this file")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
