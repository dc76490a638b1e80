"""Tests of laporgub.evaluation: ``laporgub classify`` and ``laporgub eval-routing``."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from laporgub.evaluation import (
    DEFAULT_SENDER,
    SCORED_GROUPS,
    GroupScore,
    classify_main,
    eval_routing_main,
    read_corpus,
    score_routing,
)
from laporgub.routing import CATEGORY_GROUPS, Classification, Classifier, RoutingRules, load_default_rules

SUBSCRIBER = "+6281234567890"
DEV = Path(__file__).resolve().parent / "data" / "corpus_dev.jsonl"


@pytest.fixture(scope="module")
def rules() -> RoutingRules:
    return load_default_rules()


def _write(path: Path, lines: list[object]) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for line in lines:
            f.write((line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)) + "\n")
    return path


def _run(rules: RoutingRules, corpus: Path, predictions: Path | None = None) -> tuple[int, str]:
    out = io.StringIO()
    status = eval_routing_main(rules, str(corpus), str(predictions) if predictions else None, out)
    return status, out.getvalue()


# --------------------------------------------------------------------------
# classify


def test_classify_prints_everything_an_admin_needs(rules: RoutingRules) -> None:
    out = io.StringIO()
    status = classify_main(rules, "Jln di Ungaran RUSAK PARAHHH, lstrik jg mati, rawan begal", SUBSCRIBER, out)
    text = out.getvalue()
    assert status == 0
    assert "normalised:  jalan di ungaran rusak parah" in text
    assert "lstrik -> listrik" in text
    assert "kind:        complaint" in text
    assert "groups:      infrastruktur, energi, kabkota" in text
    assert "regency:     Kabupaten Semarang" in text
    assert "infrastruktur" in text and "jalan rusak" in text
    assert "kabkota           ungaran" in text
    assert "sosial_hukum      rawan *" in text  # the negative keyword that cancelled "begal"


def test_classify_shows_other_kinds(rules: RoutingRules) -> None:
    out = io.StringIO()
    classify_main(rules, "Selamat! Anda mendapatkan hadiah, klik bit.ly/x", SUBSCRIBER, out)
    assert "kind:        spam" in out.getvalue()
    assert "[tautan]" in out.getvalue()
    out = io.StringIO()
    classify_main(rules, "Sisa kuota Anda 1GB", "TELKOMSEL", out)
    assert "kind:        operator" in out.getvalue() and "admin chat only" in out.getvalue()
    out = io.StringIO()
    classify_main(rules, "cek 261128-0200-1", SUBSCRIBER, out)
    assert "kind:        status_query" in out.getvalue() and "ticket:      261128-0200-1" in out.getvalue()


def test_classify_uses_the_rules_given() -> None:
    out = io.StringIO()
    classify_main(RoutingRules(keywords={"energi": ("~setrom",)}), "setrom mati", SUBSCRIBER, out)
    assert "groups:      energi" in out.getvalue()
    assert "~setrom" in out.getvalue()


# --------------------------------------------------------------------------
# eval-routing


def test_eval_routing_scores_and_predictions(rules: RoutingRules, tmp_path: Path) -> None:
    corpus = _write(tmp_path / "c.jsonl", [
        {"sender": SUBSCRIBER, "text": "Jalan rusak parah di Ungaran", "expected_groups": ["infrastruktur", "kabkota"],
         "kind": "complaint", "id": 7},
        {"sender": SUBSCRIBER, "text": "banjir setinggi lutut", "expected_groups": ["darurat"], "kind": "complaint"},
        {"sender": SUBSCRIBER, "text": "listrik padam", "expected_groups": ["kesehatan"], "kind": "complaint"},
        {"sender": "TELKOMSEL", "text": "Sisa kuota 1GB", "expected_groups": [], "kind": "operator"},
        {"sender": SUBSCRIBER, "text": "halo", "expected_groups": [], "kind": "too_short", "regency": None},
    ])
    predictions = tmp_path / "p.jsonl"
    status, out = _run(rules, corpus, predictions)
    assert status == 0
    assert "5 lines classified, 0 skipped" in out
    assert "micro (scored)" in out and "pelayanan_publik" in out
    assert "kind accuracy: 1.000 (5/5)" in out
    assert "darurat complaints missed: 0" in out
    assert "confusion for the worst groups" in out and "kesehatan" in out
    lines = [json.loads(line) for line in predictions.read_text(encoding="utf-8").splitlines()]
    assert [line["text"] for line in lines] == ["Jalan rusak parah di Ungaran", "banjir setinggi lutut", "listrik padam",
                                                "Sisa kuota 1GB", "halo"]
    first = lines[0]
    assert first["id"] == 7 and first["expected_groups"] == ["infrastruktur", "kabkota"]
    assert first["predicted_groups"] == ["infrastruktur", "kabkota"]
    assert first["predicted_kind"] == "complaint" and first["regency"] == "Kabupaten Semarang"
    assert lines[2]["predicted_groups"] == ["energi"]
    assert lines[3]["predicted_kind"] == "operator" and lines[3]["predicted_groups"] == []
    assert lines[3]["regency"] is None
    # An input "regency" is replaced by the prediction; its value is kept beside it.
    assert lines[4]["regency"] is None and lines[4]["expected_regency"] is None
    assert all("channel" not in line["predicted_groups"] for line in lines)


def test_eval_routing_micro_f1_by_hand(rules: RoutingRules, tmp_path: Path) -> None:
    corpus = _write(tmp_path / "c.jsonl", [
        {"sender": SUBSCRIBER, "text": "listrik padam", "expected_groups": ["energi"], "kind": "complaint"},
        {"sender": SUBSCRIBER, "text": "listrik padam", "expected_groups": ["kesehatan"], "kind": "complaint"},
    ])
    _, out = _run(rules, corpus)
    # tp=1 (energi), fp=1 (energi on line 2), fn=1 (kesehatan): P = R = F1 = 0.5.
    assert re.search(r"micro \(scored\)\s+0\.500\s+0\.500\s+0\.500\s+2\s+2\n", out), out
    assert re.search(r"kesehatan\s+n/a\s+0\.000\s+0\.000\s+1\s+0\n", out), out


def test_eval_routing_skips_bad_lines_with_their_number(rules: RoutingRules, tmp_path: Path) -> None:
    corpus = _write(tmp_path / "c.jsonl", [
        {"sender": SUBSCRIBER, "text": "jalan rusak", "expected_groups": ["infrastruktur"], "kind": "complaint"},
        "{not json",
        "",
        "[1, 2]",
        {"sender": SUBSCRIBER, "expected_groups": []},
        {"sender": SUBSCRIBER, "text": "banjir bandang", "expected_groups": ["darurat"], "kind": "complaint"},
    ])
    predictions = tmp_path / "p.jsonl"
    status, out = _run(rules, corpus, predictions)
    assert status == 0
    assert "line 2: not valid JSON" in out
    assert "line 4: not a JSON object" in out
    assert 'line 5: no "text" string' in out
    assert "2 lines classified, 3 skipped" in out
    assert "Traceback" not in out
    assert len(predictions.read_text(encoding="utf-8").splitlines()) == 2


@pytest.mark.parametrize(
    "labels",
    [
        {},  # missing
        {"expected_groups": [], "kind": ""},  # all empty
    ],
)
def test_eval_routing_without_labels_writes_predictions_only(rules: RoutingRules, tmp_path: Path,
                                                              labels: dict[str, object]) -> None:
    texts = ["jalan rusak di Klaten", "Mama minta pulsa 100rb ke nomor ini", "tes", "cek 261128-0200-1"]
    corpus = _write(tmp_path / "c.jsonl", [{"text": t, **labels} for t in texts])
    predictions = tmp_path / "p.jsonl"
    status, out = _run(rules, corpus, predictions)
    assert status == 0
    assert "no labels" in out and "micro" not in out
    assert "4 lines without a sender" in out
    lines = [json.loads(line) for line in predictions.read_text(encoding="utf-8").splitlines()]
    assert [line["predicted_kind"] for line in lines] == ["complaint", "spam", "too_short", "status_query"]
    assert lines[0]["predicted_groups"] == ["infrastruktur", "kabkota"] and lines[0]["regency"] == "Kabupaten Klaten"
    assert "sender" not in lines[0]  # the input's fields, as they were


def test_eval_routing_reports_unreadable_files(rules: RoutingRules, tmp_path: Path) -> None:
    status, out = _run(rules, tmp_path / "missing.jsonl")
    assert status == 2 and "cannot read" in out
    corpus = _write(tmp_path / "c.jsonl", [{"text": "jalan rusak"}])
    status, out = _run(rules, corpus, tmp_path / "no" / "such" / "dir" / "p.jsonl")
    assert status == 2 and "cannot write" in out


def test_eval_routing_tolerates_odd_encodings(rules: RoutingRules, tmp_path: Path) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_bytes(b'\xef\xbb\xbf{"text": "jalan rusak \xff", "kind": "complaint", "expected_groups": ["infrastruktur"]}\n')
    status, out = _run(rules, corpus)
    assert status == 0 and "1 lines classified" in out


def test_eval_routing_on_the_dev_corpus(rules: RoutingRules, tmp_path: Path) -> None:
    predictions = tmp_path / "p.jsonl"
    status, out = _run(rules, DEV, predictions)
    assert status == 0
    rows = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
    written = [json.loads(line) for line in predictions.read_text(encoding="utf-8").splitlines()]
    assert len(written) == len(rows)
    assert [w["text"] for w in written] == [r["text"] for r in rows]
    assert "complaints lost to another kind: 0/574" in out
    assert re.search(r"darurat complaints missed: [0-4]\n", out), out


# --------------------------------------------------------------------------
# The scoring itself


def test_read_corpus_defaults() -> None:
    rows, problems = read_corpus(['{"text": "a", "expected_groups": ["channel", "darurat"], "kind": "complaint"}',
                                  '{"text": "b", "sender": ""}'])
    assert not problems
    assert rows[0].expected_groups == frozenset({"darurat"}) and rows[0].kind == "complaint"
    assert rows[0].sender == DEFAULT_SENDER and rows[1].sender == DEFAULT_SENDER
    assert rows[1].expected_groups is None and rows[1].kind is None


def test_score_routing_counts_the_outside_checks() -> None:
    rows, _ = read_corpus([
        json.dumps({"text": "banjir", "expected_groups": ["darurat"], "kind": "complaint"}),
        json.dumps({"text": "promo", "expected_groups": [], "kind": "spam"}),
        json.dumps({"text": "jalan", "expected_groups": ["infrastruktur"], "kind": "complaint",
                    "expected_regency": "Kota Tegal"}),
    ])
    predictions = [
        Classification("complaint", ("pelayanan_publik",), None, {}, None, "banjir"),
        Classification("complaint", ("energi",), None, {}, None, "promo"),
        Classification("spam", (), None, {}, None, "jalan"),
    ]
    s = score_routing(rows, predictions)
    assert s.darurat_missed == ("banjir",)
    assert s.noncomplaints_in_category == ("promo",)
    assert s.complaints_as_spam_or_operator == ("jalan",)
    assert s.complaints == 2 and s.kind_correct == 1 and s.labelled_kinds == 3
    assert s.regency_labelled == 1 and s.regency_correct == 0
    # pelayanan_publik counts in the micro average: fp on line 1, energi fp on line 2.
    assert s.micro == GroupScore(tp=0, fp=2, fn=2)
    assert s.groups["pelayanan_publik"] == GroupScore(tp=0, fp=1, fn=0)
    assert s.kind_confusion[("complaint", "spam")] == 1
    assert s.complaints_lost == (("spam", "jalan"),) and s.complaints_as_spam == ("jalan",)
    assert s.noncomplaints_in_groups == (("spam", "promo"),)


def test_group_score_edges() -> None:
    assert GroupScore(0, 0, 0).f1 is None
    assert GroupScore(0, 3, 0).precision == 0.0 and GroupScore(0, 3, 0).recall is None
    assert GroupScore(0, 3, 0).f1 == 0.0 and GroupScore(0, 0, 2).f1 == 0.0
    assert GroupScore(0, 1, 1).f1 == 0.0
    assert GroupScore(3, 1, 0).f1 == pytest.approx(6 / 7)


def test_scored_groups_are_the_nine_topic_groups_and_kabkota() -> None:
    assert SCORED_GROUPS == (*CATEGORY_GROUPS, "pelayanan_publik", "kabkota")


def test_lenient_scoring_ignores_acceptable_groups() -> None:
    rows, problems = read_corpus([
        json.dumps({"text": "a", "kind": "complaint", "expected_groups": ["darurat", "pertanian"],
                    "notes": "AMBIGUOUS core=['pertanian'] acceptable=['darurat']; flood was yesterday"}),
        json.dumps({"text": "b", "kind": "complaint", "expected_groups": ["energi"], "also_acceptable": ["kabkota"]}),
        json.dumps({"text": "c", "kind": "complaint", "expected_groups": ["energi"], "notes": "no AMBIGUOUS here"}),
    ])
    assert not problems
    assert rows[0].required == frozenset({"pertanian"}) and rows[0].acceptable == frozenset({"darurat"})
    assert rows[1].required == frozenset({"energi"}) and rows[1].acceptable == frozenset({"kabkota"})
    assert rows[2].acceptable == frozenset()
    predictions = [
        Classification("complaint", ("pertanian",), None, {}, None, "a"),  # darurat not given: fine
        Classification("complaint", ("energi", "kabkota"), None, {}, None, "b"),  # kabkota given: fine
        Classification("complaint", ("energi", "kabkota"), None, {}, None, "c"),  # kabkota: a false positive
    ]
    s = score_routing(rows, predictions)
    assert s.micro == GroupScore(tp=3, fp=1, fn=0)
    assert s.groups["darurat"] == GroupScore(0, 0, 0) and not s.darurat_missed
    assert s.groups["kabkota"] == GroupScore(0, 1, 0)


def test_status_queries_recognised_and_leaks_counted() -> None:
    rows, _ = read_corpus([json.dumps({"text": t, "kind": k, "expected_groups": []})
                           for t, k in (("cek 1", "status_query"), ("cek 2", "status_query"), ("tes", "too_short"))])
    predictions = [
        Classification("status_query", (), None, {}, None, ""),
        Classification("complaint", ("pelayanan_publik",), None, {}, None, ""),
        Classification("too_short", (), None, {}, None, ""),
    ]
    s = score_routing(rows, predictions)
    assert (s.status_recognised, s.status_queries) == (1, 2)
    assert s.noncomplaints_in_groups == (("status_query", "cek 2"),)


def test_eval_uses_the_rules_given(tmp_path: Path) -> None:
    corpus = _write(tmp_path / "c.jsonl", [{"text": "setrom mati", "expected_groups": ["energi"], "kind": "complaint"}])
    predictions = tmp_path / "p.jsonl"
    _run(RoutingRules(keywords={"energi": ("setrom",)}), corpus, predictions)
    assert json.loads(predictions.read_text(encoding="utf-8"))["predicted_groups"] == ["energi"]
    assert Classifier(RoutingRules(keywords={})).classify("setrom mati", SUBSCRIBER).groups == ("pelayanan_publik",)
