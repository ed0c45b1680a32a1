"""Triage: the expert model, the scenario design, active learning, ratings, verdicts and the queue."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from zeekgen import long_conn_fixture

from winnow.triage.design import levels, pick, scenarios
from winnow.triage.features import NAMES
from winnow.triage.model import ExpertModel
from winnow.triage.ratings import Rating, RatingStore


def winnow(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "winnow.cli.main", *args], capture_output=True, text=True,
                          input=stdin, timeout=300, env={**os.environ, "WINNOW_TRIAGE_ANALYST": ""})


def random_rows(n: int, seed: int) -> list[dict[str, float]]:
    rng = random.Random(seed)
    return [{name: rng.random() * (5 if name in ("detectors", "families", "findings", "span") else 1)
             for name in NAMES} for _ in range(n)]


def test_contributions_sum_exactly_to_the_score_on_random_inputs():
    rows = random_rows(40, 1)
    ratings = [random.Random(i).randint(1, 5) for i in range(40)]
    model = ExpertModel.fit(rows, ratings)
    for x in random_rows(300, 2) + [{n: 100.0 for n in NAMES}, {n: -5.0 for n in NAMES}]:
        explained = model.explain(x)
        assert 0.0 <= explained["score"] <= 1.0 and explained["model"] == model.version
        assert round(sum(c["contribution"] for c in explained["contributions"]), 6) == explained["score"]


def test_shapes_are_monotone_and_learn_the_rated_direction():
    rows = random_rows(60, 3)
    ratings = [1 + round(4 * r["beacon"]) for r in rows]  # the analyst only looks at the beacon score
    model = ExpertModel.fit(rows, ratings)
    grid = np.linspace(0, 1, 21)
    for name in NAMES:
        values = [model._shape(name, v) for v in grid]
        assert all(b >= a - 1e-12 for a, b in zip(values, values[1:], strict=False)), name
    low, high = dict(rows[0], beacon=0.05), dict(rows[0], beacon=0.95)
    assert model.score(high) - model.score(low) > 0.6
    top = model.explain(high)["contributions"][1]
    assert top["feature"] == "beacon" and top["text"].startswith("+")


def test_model_files_round_trip_and_reject_other_json(tmp_path):
    model = ExpertModel.fit(random_rows(20, 4), [1, 2, 3, 4, 5] * 4)
    loaded = ExpertModel.load(model.save(tmp_path / "m.json"))
    x = random_rows(1, 5)[0]
    assert loaded.explain(x) == model.explain(x)
    (tmp_path / "bad.json").write_text('{"kind": "something else"}')
    from winnow.errors import WinnowError

    with pytest.raises(WinnowError, match="not a Winnow expert model"):
        ExpertModel.load(tmp_path / "bad.json")


def test_design_balances_every_features_levels():
    anchors = random_rows(50, 6)
    design = scenarios(anchors, 60, seed=1)
    table = levels(anchors)
    assert len({d["id"] for d in design}) > 50 and all(d["card"]["facts"] for d in design)
    for name in ("beacon", "identity", "process"):
        counts = [sum(1 for d in design if d["features"][name] == pytest.approx(level, abs=1e-3))
                  for level in sorted(set(table[name]))]
        assert min(counts) >= 10, (name, counts)  # every level is shown, in comparable numbers


def test_active_learning_asks_where_the_committee_disagrees():
    from winnow.triage.model import committee

    rows = random_rows(30, 7)
    ratings = [1 + round(4 * r["identity"]) for r in rows]
    candidates = scenarios(rows, 80, seed=2)
    chosen = pick(candidates, rows, ratings, k=1, seed=0)[0]
    models = committee(rows, ratings, seed=0)
    spread = {c["id"]: float(np.std([m.score(c["features"]) for m in models])) for c in candidates}
    assert spread[chosen["id"]] >= np.percentile(list(spread.values()), 90)
    disputed = [candidates[5]]
    assert pick(candidates, rows, ratings, k=1, disputed=disputed) == disputed  # disagreement first


def test_ratings_import_is_idempotent_and_keeps_both_analysts(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    with RatingStore(a) as store:
        store.add(Rating("entity", "host:ws01", 5, "alice", {"beacon": 0.9}, note="C2"))
        store.add(Rating("entity", "host:ws01", 1, "bob", {"beacon": 0.9}, note="backup agent"))
        assert store.export(tmp_path / "ratings.jsonl") == 2
    with RatingStore(b) as store:
        assert store.import_(tmp_path / "ratings.jsonl")[:2] == (2, 0)
        assert store.import_(tmp_path / "ratings.jsonl")[:2] == (0, 2)
        both = store.for_subject("entity", "HOST:WS01")
    assert sorted((r.analyst, r.rating) for r in both) == [("alice", 5), ("bob", 1)]
    (tmp_path / "bad.jsonl").write_text('{"subject": "x"}\nnot json\n')
    with RatingStore(b) as store:
        added, _, problems = store.import_(tmp_path / "bad.jsonl")
    assert added == 0 and len(problems) == 2 and "bad.jsonl:2" in problems[1]


def test_ratings_survive_a_killed_session(tmp_path):
    """Ratings committed before a SIGKILL are all there afterwards."""
    script = (
        "import sys, time\n"
        "from winnow.triage.ratings import Rating, RatingStore\n"
        f"with RatingStore({str(tmp_path)!r}) as store:\n"
        "    for i in range(1000):\n"
        "        store.add(Rating('scenario', f'scenario:{i}', 1 + i % 5, 'alice', {'beacon': i / 1000}))\n"
        "        print(i, flush=True)\n"
        "        time.sleep(0.01)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    printed = []
    for line in child.stdout:
        printed.append(int(line))
        if len(printed) == 25:
            os.kill(child.pid, signal.SIGKILL)
            break
    child.wait()
    time.sleep(0.2)
    with RatingStore(tmp_path) as store:
        stored = store.all()
    assert len(stored) >= len(printed)  # every rating reported saved was saved


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("triage")
    long_conn_fixture(root / "logs")
    assert winnow("ingest", str(root / "logs"), "--lake", str(root / "lake")).returncode == 0
    assert winnow("detect", "--lake", str(root / "lake")).returncode == 0
    return root / "lake"


def test_verdict_rate_fit_and_queue_end_to_end(lake, tmp_path):
    queue = [json.loads(x) for x in winnow("queue", "--lake", str(lake), "--format", "jsonl").stdout.splitlines()]
    assert queue and all(r["ranked_by"] == "risk" for r in queue)
    assert all(round(sum(c["share"] for c in r["contributions"]), 6) == r["score"] for r in queue)
    # a verdict with a suppression, visible in the file and in the queue, then undone
    run = winnow("verdict", "external:203.0.113.9", "fp", "--note", "jump host", "--suppress", "--analyst", "bob",
                 "--lake", str(lake))
    assert run.returncode == 0, run.stderr
    rules = (lake / "suppressions.toml").read_text()
    assert "203.0.113.9/32" in rules and "verdict fp by bob" in rules
    queue = [json.loads(x) for x in winnow("queue", "--lake", str(lake), "--format", "jsonl").stdout.splitlines()]
    assert not any(r["entity"] == "203.0.113.9" for r in queue)  # its finding is suppressed
    assert winnow("verdict", "external:203.0.113.9", "--undo", "--analyst", "bob", "--lake", str(lake)).returncode == 0
    assert "203.0.113.9" not in (lake / "suppressions.toml").read_text()
    # a rating session with scripted answers: a rating with a note, a skip, a rating, then quit
    run = winnow("rate", "--lake", str(lake), "--analyst", "alice", "--count", "5", stdin="5\nC2\ns\n1\n\nq\n")
    assert run.returncode == 0, run.stderr
    assert "2 rating(s) saved by alice" in run.stdout
    assert winnow("verdict", "ip:10.0.0.5", "tp", "--lake", str(lake), "--analyst", "carol").returncode == 0
    fitted = winnow("model", "fit", "--lake", str(lake))
    assert fitted.returncode == 0, fitted.stderr
    queue = [json.loads(x) for x in winnow("queue", "--lake", str(lake), "--format", "jsonl").stdout.splitlines()]
    assert all(r["ranked_by"] == "model" and r["model"] for r in queue)
    assert all(round(sum(c["contribution"] for c in r["contributions"]), 6) == r["score"] for r in queue)
    # the model moves to another lake
    assert winnow("model", "export", str(tmp_path / "m.json"), "--lake", str(lake)).returncode == 0
    other = tmp_path / "other"
    other.mkdir()
    assert winnow("model", "import", str(tmp_path / "m.json"), "--lake", str(other)).returncode == 0
    assert json.loads((tmp_path / "m.json").read_text())["version"] in winnow(
        "model", "show", "--lake", str(other)).stdout


def test_damaged_model_files_and_unnamed_addresses_are_one_line_errors(tmp_path):
    from winnow.errors import WinnowError
    from winnow.triage.verdicts import suppression_rule

    damaged = {"kind": "winnow-expert-model", "features": ["beacon"], "knots": {"beacon": "x"}}
    (tmp_path / "m.json").write_text(json.dumps(damaged))
    with pytest.raises(WinnowError, match="damaged model file"):
        ExpertModel.load(tmp_path / "m.json")
    finding = {"detector": "linux_auth", "entity": "a->LabSZ spray", "src": "198.51.100.7", "dst": "LabSZ"}
    assert suppression_rule("finding", finding)["cidr"] == "198.51.100.7/32"  # the source when the target is a name
    with pytest.raises(WinnowError, match="not an address"):
        suppression_rule("entity", {"entity_type": "ip", "entity": "not-an-ip"})
