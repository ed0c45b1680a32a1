"""Do attack parent → child pairs rank above benign ones by rarity, as first_seen ranks them? (real EVTX samples)

    PYTHONPATH=src python -P benchmarks/parent_child_samples.py [--data ../shared/data] [--work /tmp/attack-samples]
        [--mordor-work /tmp/parent-child-samples] [--rules ../shared/data/sigma/rules/windows/process_creation]
        [--worst 5]

Corpus: the process starts (``proc.exec``: Sysmon 1, Security 4688) of the 277 ``evtx-attack-samples``
files (the lake ``benchmarks/attack_samples.py`` builds, reused from --work) and, as benign context, of
the Mordor host recordings (``mordor/atomic/*_host.zip`` and the Cobalt Strike one, the LSASS campaign's
host events, the Log4Shell Windows Sysmon/Security exports; ingested once under --mordor-work). A *pair*
is built exactly as ``first_seen`` builds its ``parent_child`` items (``_base(parent_image) → _base(image)``,
lower-cased file names, starts only).

Unit: one pair in one attack-sample file (a pair seen many times in one file counts once). Labels come
from SigmaHQ, never from Winnow's own detectors: every ``process_creation`` rule of --rules that compiles
runs through ``winnow.sigma.scan`` and its matched events are joined back to ``proc.exec`` by (source
file, line, event id): the provenance both tables keep (record ids are missing from some Mordor exports).

* **attack**: some event of the pair in that file is matched by a rule of level high or critical
  (SigmaHQ reserves those for activity it calls malicious with few false positives);
* **benign**: no event of the pair in that file is matched by any process_creation rule of any level
  (informational and low included: a rule that fires at all hints at attack tooling, so those pairs
  are left out rather than called benign);
* the rest (matched only by informational/low/medium rules) is **left out**.

Why "unmatched in the same file" and not "seen in the Mordor background": the Mordor recordings are
themselves attack runs on a handful of lab hosts, and a pair chosen *because* it occurs elsewhere is
common by construction, which would flatter any rarity ranking. The Mordor-confirmed subset (benign
pairs that also occur, unmatched by any rule, in Mordor) is printed as a second, stricter figure, ranked
over the attack samples alone so that its selection does not feed its rarity. Known bias of the main
label: an attack step that no SigmaHQ rule catches (``explorer.exe → cmd.exe`` of an operator's shell,
a renamed tool) is counted benign, which lowers the figures; the worst cases show such pairs.

Ranking, as first_seen: spread = hosts showing the pair across the corpus, rarity =
``1 - ln(spread) / ln(fleet)`` (1 on one host). The EVTX samples come from 17 lab hosts only (many
files per host), so host spread is coarse and tied often; the same figures are also given with
spread = files (each recording taken as its own "host"). Corpus = samples + Mordor (the fleet a hunter
would stack over) unless noted. Reported per ranking: the files holding both labels, how often the
best attack pair ranks strictly above every benign pair of its file (and how often it ties the best
benign one), the ROC AUC of rarity for attack vs benign pairs over all files (ties count half), and the
--worst files where a benign pair outranks the file's best attack pair, with the facts behind it (the
benign pair's command line, both spreads, the rule that made the attack pair one). Read those facts before
the figure: when a "benign" pair outranks an attack pair it is usually the attack itself, unmatched by
SigmaHQ (an exploit binary launched from cmd.exe), which first_seen is right to rank first.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Mordor host recordings used as benign context (folder-relative paths under <data>/mordor)
MORDOR = ("atomic/aptsimulator_cobaltstrike.zip", "atomic/empire_psexec_dcerpc_tcp_svcctl_host.zip",
          "atomic/empire_shell_samr_EnumDomainUsers_host.zip", "atomic/psh_python_webserver_host.zip",
          "atomic/purplesharp_ad_playbook_I_host.zip",
          "lsass_campaign_01/metasploit_logonpasswords_lsass_memory_dump.zip",
          "log4shell/sysmon_log4shell_cve2021_44228_java_serialized_object.zip",
          "log4shell/securityauditing_log4shell_cve2021_44228_java_serialized_object.zip")
HIGH = {"high", "critical"}


def mordor_lake(data: Path, work: Path) -> Path:
    from winnow.ingest import ingest

    lake = work / "mordor-lake"
    if not (work / "mordor-ingested").exists():
        ingest([data / "mordor" / name for name in MORDOR], lake)
        (work / "mordor-ingested").write_text("ok\n")
    return lake


def pairs(engine) -> list[dict]:
    """One row per process start with a parent: file, host, event id, record id, pair (as first_seen builds it)."""
    from winnow.detections.first_seen import _base
    from winnow.engine import fetch

    t = engine.table("proc.exec")
    rows = t.filter(t.image.notnull() & ((t.action == "start") | t.action.isnull()))
    rows = rows.filter(rows.parent_image.notnull() & ~rows.parent_image.isin(["?", "-", ""]))
    rows = rows.select(file=rows._source_file, host=rows.host.lower().fill_null("?"), event_id=rows.event_id,
                       line=rows._line, pair=_base(rows.parent_image) + " → " + _base(rows.image),
                       command=rows.command_line)
    return fetch(rows).to_pylist()


def sigma_levels(engine, rules_dir: Path) -> tuple[dict[tuple, dict[str, str]], dict]:
    """(file, line, event id) of each matched process start -> {rule title: level}."""
    from winnow.sigma import scan as sigma_scan
    from winnow.sigma.rules import load_rules

    if "_line" not in sigma_scan.KEY_COLUMNS:  # keep each matched event's provenance line, to join on
        sigma_scan.KEY_COLUMNS = (*sigma_scan.KEY_COLUMNS, "_line")

    ruleset = load_rules(rules_dir)
    rules = [r for r in ruleset.rules if r.source.table == "win.event"]
    matched: dict[tuple, dict[str, str]] = defaultdict(dict)
    for matches in sigma_scan.scan(engine, rules, None, 200):
        for index, compiled in enumerate(matches.rules):
            level = compiled.rule.level.name.lower() if getattr(compiled.rule, "level", None) else "medium"
            for r in matches.of(index).to_pylist():
                key = (r.get("_source_file"), r.get("_line"), r.get("event_id"))
                matched[key][compiled.rule.title] = level
    return matched, {"rules": ruleset.total, "compiled": len(rules), "problems": len(ruleset.problems)}


def label(events: list[dict], matched: dict) -> tuple[str | None, list[str]]:
    """attack / benign / None (left out) for one pair in one file, with the high rules that fired."""
    levels: dict[str, str] = {}
    for e in events:
        levels.update(matched.get((e["file"], e["line"], e["event_id"]), {}))
    high = sorted(t for t, lv in levels.items() if lv in HIGH)
    if high:
        return "attack", high
    return ("benign", []) if not levels else (None, [])


def rarity(spread: int, fleet: int) -> float:
    return 1.0 if spread <= 1 else max(0.0, 1 - math.log(spread) / math.log(max(fleet, 3)))


def auc(pos: list[float], neg: list[float]) -> float | None:
    """P(attack rarity > benign rarity), ties counted half (Mann-Whitney)."""
    if not pos or not neg:
        return None
    win = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return win / (len(pos) * len(neg))


def evaluate(units: list[dict], spread: dict[str, int], fleet: int, benign_ok=lambda u: True) -> dict:
    """The figures for one ranking: per-file best-attack-above-all-benign, AUC, the files ordered worst first."""
    by_file: dict[str, list[dict]] = defaultdict(list)
    for u in units:
        if u["label"] == "attack" or (u["label"] == "benign" and benign_ok(u)):
            by_file[u["file"]].append({**u, "rarity": rarity(spread[u["pair"]], fleet), "spread": spread[u["pair"]]})
    above = ties = both = 0
    cases = []
    pos, neg = [], []
    for file, us in by_file.items():
        attack = [u for u in us if u["label"] == "attack"]
        benign = [u for u in us if u["label"] == "benign"]
        pos += [u["rarity"] for u in attack]
        neg += [u["rarity"] for u in benign]
        if not attack or not benign:
            continue
        both += 1
        best_a = max(attack, key=lambda u: (u["rarity"], u["pair"]))
        best_b = max(benign, key=lambda u: (u["rarity"], u["pair"]))
        if best_a["rarity"] > best_b["rarity"]:
            above += 1
        elif best_a["rarity"] == best_b["rarity"]:
            ties += 1
        else:
            cases.append((best_b["rarity"] - best_a["rarity"], file, best_a, best_b,
                          sum(u["rarity"] > best_a["rarity"] for u in benign)))
    cases.sort(key=lambda c: (-c[0], c[1]))
    a = auc(pos, neg)
    return {"files_both": both, "attack_above_all_benign": above, "tied_with_best_benign": ties,
            "share_above": round(above / both, 3) if both else None, "auc": round(a, 3) if a is not None else None,
            "attack_pairs": len(pos), "benign_pairs": len(neg), "cases": cases}


def spreads(rows: list[dict], by: str) -> tuple[dict[str, int], int]:
    """Pair -> number of distinct hosts (or files) showing it; the fleet size."""
    seen: dict[str, set] = defaultdict(set)
    for r in rows:
        seen[r["pair"]].add(r[by])
    return {p: len(s) for p, s in seen.items()}, len({r[by] for r in rows})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=Path("/tmp/attack-samples"))
    parser.add_argument("--mordor-work", type=Path, default=Path("/tmp/parent-child-samples"))
    parser.add_argument("--rules", type=Path, default=None,
                        help="SigmaHQ process_creation rules (default <data>/sigma/rules/windows/process_creation)")
    parser.add_argument("--worst", type=int, default=5)
    args = parser.parse_args()
    import importlib.util

    from winnow.engine import connect

    spec = importlib.util.spec_from_file_location("attack_samples", Path(__file__).with_name("attack_samples.py"))
    attack_samples = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(attack_samples)
    started = time.perf_counter()
    args.work.mkdir(parents=True, exist_ok=True)
    args.mordor_work.mkdir(parents=True, exist_ok=True)
    rules = args.rules or args.data / "sigma" / "rules" / "windows" / "process_creation"
    with connect("duckdb", attack_samples.ingest_once(args.data, args.work)) as engine:
        samples = pairs(engine)
        matched, stats = sigma_levels(engine, rules)
    with connect("duckdb", mordor_lake(args.data, args.mordor_work)) as engine:
        mordor = pairs(engine)
        mordor_matched, _ = sigma_levels(engine, rules)
    # pairs Mordor shows with no rule of any level on any of their events
    mordor_fired = {r["pair"] for r in mordor if (r["file"], r["line"], r["event_id"]) in mordor_matched}
    mordor_clean = {r["pair"] for r in mordor} - mordor_fired

    grouped: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in samples:
        grouped[(r["file"], r["pair"])].append(r)
    units = []
    for (file, pair), events in grouped.items():
        lab, high = label(events, matched)
        units.append({"file": file, "pair": pair, "label": lab, "rules": high,
                      "hosts": sorted({e["host"] for e in events}),
                      "command": next((e["command"] for e in events if e["command"]), "")})
    counts = {k: sum(u["label"] == k for u in units) for k in ("attack", "benign", None)}
    samples_root = (args.data / "evtx-attack-samples").resolve()
    rankings = {}
    for name, rows, by in (("hosts, samples+mordor", samples + mordor, "host"),
                           ("hosts, samples only", samples, "host"),
                           ("files, samples+mordor", samples + mordor, "file"),
                           ("files, samples only", samples, "file")):
        spread, fleet = spreads(rows, by)
        rankings[name] = (evaluate(units, spread, fleet), fleet)
    spread, fleet = spreads(samples, "host")
    strict = evaluate(units, spread, fleet, lambda u: u["pair"] in mordor_clean)

    print(f"pairs per file: {counts['attack']} attack, {counts['benign']} benign, {counts[None]} left out "
          f"(low/medium rules only); files with a pair: {len({u['file'] for u in units})}; "
          f"sigma process_creation rules compiled: {stats['compiled']}")
    rows_out = [(name, fl, r) for name, (r, fl) in rankings.items()]
    rows_out.append(("hosts, samples, Mordor-confirmed benign", fleet, strict))
    print(f"{'ranking: spread, corpus':42} {'fleet':>5} {'files':>5} {'attack best':>12} {'tied':>5} {'below':>5} "
          f"{'AUC':>6}")
    for name, fl, r in rows_out:
        below = r["files_both"] - r["attack_above_all_benign"] - r["tied_with_best_benign"]
        print(f"{name:42} {fl:5d} {r['files_both']:5d} {r['attack_above_all_benign']:5d} "
              f"({r['share_above'] or 0:4.0%}) "
              f"{r['tied_with_best_benign']:5d} {below:5d} {r['auc'] or 0:6.3f}   "
              f"({r['attack_pairs']} attack / {r['benign_pairs']} benign pairs)")
    main_name = "hosts, samples+mordor"
    main, _ = rankings[main_name]
    print(f"\nworst files ({main_name}): a benign pair ranked above the file's best attack pair "
          f"({len(main['cases'])} files)")
    for _margin, file, a, b, n_above in main["cases"][:args.worst]:
        rel = Path(file).resolve().relative_to(samples_root) if Path(file).resolve().is_relative_to(samples_root) \
            else Path(file).name
        print(f"- {rel}: benign {b['pair']} (on {b['spread']} host{'s' * (b['spread'] > 1)}, rarity "
              f"{b['rarity']:.2f}; `{(b['command'] or '')[:70]}`) above attack {a['pair']} (on {a['spread']} "
              f"hosts, rarity {a['rarity']:.2f}; {a['rules'][0]}); {n_above} benign pair(s) above")
    print(json.dumps({"units": {"attack": counts["attack"], "benign": counts["benign"], "left_out": counts[None]},
                      "rankings": {n: {k: v for k, v in r.items() if k != "cases"} | {"fleet": fl}
                                   for n, (r, fl) in rankings.items()},
                      "mordor_confirmed": {k: v for k, v in strict.items() if k != "cases"},
                      "sigma": stats, "seconds": round(time.perf_counter() - started, 1)}))


if __name__ == "__main__":
    main()
