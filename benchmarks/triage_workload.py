"""Analyst workload: how much must be opened, in order, before every planted attack has been seen.

    PYTHONPATH=src python -P benchmarks/triage_workload.py [--hosts 30] [--days 7] [--seed 5]
        [--work /tmp/triage-workload] [--ratings 100] [--actors-only] [--one-at-a-time]

One simulated multi-source week (``winnow simulate --logons``: Zeek, Sysmon/auditd, Windows Security with
identity attacks, Windows and Linux logons with a planted admin chain) is ingested and detected. Each
planted attack is known by the names an analyst would recognise it under (attacker address and host,
account, targets; truth.json and logons_truth.json). Three orders are walked until every attack has
been touched by an opened item:

* **findings**: every finding by score (the flat list), an attack seen when one of the finding's
  entities names it;
* **risk**: entities by entity risk (``winnow risk``);
* **model**: entities by an expert model fitted on ``--ratings`` ratings of designed scenarios, given
  by the simulated expert of ``benchmarks/triage_learning.py`` (not by the truth of this network).

An opened entity shows its top three contributing findings (as ``winnow queue`` does), so an attack is
seen through any of them. Reported: items opened, the reduction against reviewing every finding
(DeepCASE reports 90.53 %), and whether every attacked entity is in the top 2× the number of attacked
entities. The simulator plants dozens of attacks a week; ``--one-at-a-time`` also measures each attack as
the week's only intrusion (the items naming only other attacks left out), the base rate of a real fleet.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent))  # appended: benchmarks/evtx.py must not hide evtx
from triage_learning import rate  # noqa: E402  (the same simulated expert)

from winnow.sim.score_behaviour import planted_attacks as attacks  # noqa: E402
from winnow.sim.score_behaviour import short  # noqa: E402


def build(work: Path, hosts: int, days: int, seed: int) -> Path:
    root = work / f"h{hosts}-d{days}-s{seed}"
    if (root / "done").exists():
        return root
    cli = [sys.executable, "-m", "winnow.cli.main"]
    for args in (["simulate", "--out", str(root / "logs"), "--hosts", str(hosts), "--days", str(days), "--seed",
                  str(seed), "--logons"], ["ingest", str(root / "logs"), "--lake", str(root / "lake")],
                 ["detect", "--lake", str(root / "lake")]):
        subprocess.run(cli + args, check=True, capture_output=True)
    (root / "done").write_text("ok\n")
    return root


LAST: dict[str, list[tuple[int, str]]] = {}


def walk(items: list[set[str]], planted: list[tuple[str, set[str]]], name: str = "") -> tuple[int, list[str]]:
    """Items opened until every attack is seen (len(items) + 1 when never), and those never seen."""
    unseen = {label: names for label, names in planted}
    seen_at = LAST.setdefault(name, [])
    for i, names in enumerate(items, 1):
        for label in [k for k, v in unseen.items() if v & names]:
            del unseen[label]
            seen_at.append((i, label))
        if not unseen:
            return i, []
    return len(items) + 1, sorted(unseen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=30)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--ratings", type=int, default=100)
    parser.add_argument("--work", type=Path, default=Path("/tmp/triage-workload"))
    parser.add_argument("--verbose", action="store_true", help="name the attacks each order reaches last")
    parser.add_argument("--actors-only", action="store_true",
                        help="queue only hosts, internal addresses and users (what an analyst opens first)")
    parser.add_argument("--one-at-a-time", action="store_true",
                        help="also walk each attack alone: the other attacks' items left out, as in a network "
                             "where it is the only intrusion of the week")
    args = parser.parse_args()
    from winnow.engine import connect
    from winnow.lake import Lake
    from winnow.risk import lake_risk
    from winnow.risk.entities import entities_of
    from winnow.risk.lake_context import resolver_for
    from winnow.store import FindingsStore
    from winnow.triage.design import pick, scenarios
    from winnow.triage.features import entity_features
    from winnow.triage.model import ExpertModel

    root = build(args.work, args.hosts, args.days, args.seed)
    planted = attacks(root / "logs")
    with FindingsStore(Lake.open(str(root / "lake")), read_only=True) as store:
        findings = store.query()
    with connect("duckdb", root / "lake") as engine:
        resolver = resolver_for(engine)
        resolver.learn(findings)
        risks = [e.to_dict() for e in lake_risk(engine, findings, "all")]
    addresses: dict[str, set[str]] = {}  # an entity is recognised by its name and the addresses resolved to it
    for address, host in resolver.ip_hosts.items():
        addresses.setdefault(short(host), set()).add(address)

    def names(value: str) -> set[str]:
        return {short(value)} | addresses.get(short(value), set())

    by_finding = [set().union(*(names(e.value) for e in entities_of(f, resolver))) for f in findings]
    actors = ("host", "ip", "user")
    if args.actors_only:
        risks = [e for e in risks if e["entity_type"] in actors]
    # opening an entity shows its top three contributing findings (as `winnow queue` does): an attack is seen
    # when the entity or one of those findings names it (a user seen through the beaconing host it logs on to)
    finding_names: dict[tuple[str, str], set[str]] = {}
    for f, n in zip(findings, by_finding, strict=True):
        finding_names.setdefault((f["detector"], f["entity"]), set()).update(n)
    shown = [[c for c in e["contributions"] if c.get("kind") == "finding"][:3] for e in risks]
    by_entity = [names(e["entity"]).union(*(finding_names.get((c["detector"], c["finding"]), set()) for c in top))
                 for e, top in zip(risks, shown, strict=True)]
    attacked = {n for _, names in planted for n in names}
    # the expert model: ratings of designed scenarios anchored on this lake's entities
    features = [entity_features(e) for e in risks]
    pool = scenarios(features, 600, seed=args.seed)
    rng = random.Random(args.seed)
    rows, ratings = [], []
    while len(rows) < args.ratings:
        for c in pick(pool, rows, ratings, k=max(1, len(rows) // 10), seed=args.seed + len(rows)):
            pool.remove(c)
            rows.append(c["features"])
            ratings.append(rate(c["features"], rng, 0.4))
    model = ExpertModel.fit(rows, ratings)
    raw = model.scores(features, bounded=False)
    bounded = model.scores(features)
    order = sorted(range(len(risks)), key=lambda i: (-bounded[i], -raw[i], -risks[i]["score"], risks[i]["entity"]))
    by_model = [by_entity[i] for i in order]
    total = len(findings)
    print(f"network: {args.hosts} hosts, {args.days} days, seed {args.seed}; {total:,} findings, {len(risks):,} "
          f"entities, {len(planted)} planted attacks")
    attacked_entities = sum(1 for e in by_entity if e & attacked)
    for name, items in (("findings by score", by_finding), ("entities by risk", by_entity),
                        (f"entities by model ({args.ratings} ratings)", by_model)):
        opened, missed = walk(items, planted, name)
        top = items[:2 * attacked_entities]
        covered = sum(1 for _, names in planted if any(names & t for t in top))
        print(f"{name:34} opened {opened:6,}  reduction {1 - opened / total:7.2%}  attacks in top 2x "
              f"({2 * attacked_entities}): {covered}/{len(planted)}" + (f"  never seen: {missed}" if missed else ""))
        if args.verbose:
            print("   last seen:", ", ".join(f"#{i} {label}" for i, label in LAST[name][-4:]))
        if args.one_at_a_time:
            alone(items, by_finding, planted)


def alone(items: list[set[str]], by_finding: list[set[str]], planted: list[tuple[str, set[str]]]) -> None:
    """Each attack as the week's only intrusion: items naming only other attacks are left out of the queue
    and of the findings it is measured against; reported as the spread of the reductions."""
    reductions = []
    for label, names in planted:
        others = set().union(*(n for lbl, n in planted if lbl != label)) - names

        queue = [s for s in items if s & names or not s & others]
        total = sum(1 for s in by_finding if s & names or not s & others)
        opened = next((i for i, s in enumerate(queue, 1) if s & names), len(queue) + 1)
        reductions.append((1 - opened / total, opened, total, label))
    reductions.sort()
    share = sum(r >= 0.99 for r, *_ in reductions) / len(reductions)
    median = reductions[len(reductions) // 2][0]
    print(f"{'':4}one at a time: median reduction {median:.2%}, worst {reductions[0][0]:.2%}, "
          f"{share:.0%} of attacks at >= 99 %; worst: "
          + ", ".join(f"{lbl} #{o}/{t:,}" for _, o, t, lbl in reductions[:3]))


if __name__ == "__main__":
    main()
