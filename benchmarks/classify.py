"""Benchmark of the keyword filter: classifications per second on one core, latency, compile time.

Run from the repository root::

    python benchmarks/classify.py [--rules laporgub/data/keywords.toml] [--rounds 20] [--no-model]

The workload is every text of the labelled corpora in ``tests/data`` (``corpus_dev.jsonl``,
``corpus_holdout.jsonl``, the outside corpus ``corpus_external.jsonl`` and ``corpus_extra.jsonl``:
real-looking SMS, all five kinds, long ones too), classified with the full default keyword
lists, on one core (one thread; the kecamatan and village map loaded):

* ``warm``: the corpus over and over, as a running service sees familiar words (the rate
  of the fastest pass, as ``timeit`` does: other load on the machine only slows passes
  down; the median pass is shown beside it);
* ``cold``: one pass with a fresh classifier, every word read (stemmed, checked for
  typos) for the first time;
* ``unseen words``: every text with two random words never seen before, the worst case
  for the per-word reading (Sastrawi stemming and typo search on each).

The learned model beside the rules (``laporgub/routing_model.py``) is on, as in the
default config; ``--no-model`` measures the rules alone.

The target of issue 5 is >= 5,000 classifications/s on one core (warm); issue 17 requires
>= 2,000/s in every scenario, unseen words included.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import random
import statistics
import string
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from laporgub.routing import Classifier, load_default_rules, rules_from_toml  # noqa: E402

CORPORA = tuple(ROOT / "tests" / "data" / f"corpus_{name}.jsonl" for name in ("dev", "holdout", "external", "extra"))
TARGET = 5_000
FLOOR = 2_000


def _load(paths: tuple[Path, ...]) -> list[tuple[str, str]]:
    rows = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                rows.append((row["text"], row.get("sender") or "+628000000000"))
    return rows


def _run(classifier: Classifier, rows: list[tuple[str, str]]) -> list[float]:
    timings = []
    clock = time.perf_counter
    for text, sender in rows:
        start = clock()
        classifier.classify(text, sender)
        timings.append(clock() - start)
    return timings


def _row(name: str, timings: list[float], per_second: float | None = None) -> str:
    per_second = per_second or len(timings) / sum(timings)
    ordered = sorted(timings)
    p50 = statistics.median(ordered) * 1e6
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e6
    return f"{name:<16}{per_second:>20,.0f}{p50:>10.0f}{p99:>10.0f}{len(timings):>10}"


def main() -> int:
    """Print the benchmark table; exit 1 when the warm rate misses the target."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rules", type=Path, help="a TOML file shaped like laporgub/data/keywords.toml")
    parser.add_argument("--rounds", type=int, default=20, help="passes over the corpus for the warm figure")
    parser.add_argument("--no-model", action="store_true", help="the rules alone ([routing] model = false)")
    args = parser.parse_args()

    start = time.perf_counter()
    if args.rules:
        rules = rules_from_toml(tomllib.loads(args.rules.read_text(encoding="utf-8")))
    else:
        rules = load_default_rules()
    if args.no_model:
        rules = dataclasses.replace(rules, model=False)
    Classifier(rules)
    first_compile = time.perf_counter() - start
    start = time.perf_counter()
    classifier = Classifier(rules)
    compile_time = time.perf_counter() - start

    rows = _load(CORPORA)
    rng = random.Random(5)

    def word() -> str:
        return "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(5, 9)))

    unseen = [(f"{text} {word()} {word()}", sender) for text, sender in rows]

    gc.disable()
    try:
        cold = _run(classifier, rows)
        warm: list[float] = []
        passes: list[float] = []
        for _ in range(args.rounds):
            timings = _run(classifier, rows)
            warm += timings
            passes.append(sum(timings))
        fresh = _run(classifier, unseen)
    finally:
        gc.enable()

    keywords = sum(len(v) for v in rules.keywords.values()) + len(rules.spam_keywords)
    print(f"rules: {keywords} keywords and spam phrases, "
          f"{sum(len(v) for v in rules.negative_keywords.values())} negative keywords")
    model = classifier.model
    print(f"learned model beside the rules: {f'on ({len(model.weights):,} features)' if model else 'off'}")
    loads = "the dictionaries and the model" if model else "the dictionaries"
    print(f"compile: {first_compile * 1000:.0f} ms the first time in a process (loads {loads}), "
          f"{compile_time * 1000:.0f} ms after")
    print(f"\n{'scenario':<16}{'classifications/s':>20}{'p50 µs':>10}{'p99 µs':>10}{'texts':>10}")
    rate = len(rows) / min(passes)
    print(_row("warm", warm, rate))
    print(_row("warm, median", warm, len(rows) / statistics.median(passes)))
    print(_row("cold", cold))
    print(_row("unseen words", fresh))
    slowest = len(fresh) / sum(fresh)
    print(f"\ntarget >= {TARGET:,}/s on one core (warm): {'met' if rate >= TARGET else 'MISSED'}")
    print(f"floor >= {FLOOR:,}/s in every scenario (slowest: unseen words, {slowest:,.0f}/s): "
          f"{'met' if slowest >= FLOOR else 'MISSED'}")
    return 0 if rate >= TARGET and slowest >= FLOOR else 1


if __name__ == "__main__":
    raise SystemExit(main())
