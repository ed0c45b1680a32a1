"""Score ``net.conn_proc`` against the simulator's endpoint truth (``endpoint_truth.parquet``).

Rows are keyed by (connection ``uid``, ``side``). Definitions:

* A **prediction** is a ``net.conn_proc`` row whose ``match`` is ``exact`` or ``skew`` (with
  ``include_ambiguous``, ``ambiguous`` rows too). ``unmatched`` rows name no process and are never
  predictions.
* A prediction is **correct** when the truth has a row for the same (uid, side) and it names the
  same process: the same ``host`` and ``pid`` and, for Windows (Sysmon), the same ``process_guid``
  (Sysmon's ProcessGuid); for Linux the same ``image``, since auditd ``proc.net`` rows carry no
  process id beyond the pid (the join then reports ``"<host>:<pid>"`` as ``process_guid``, which is
  not the truth's exec-based id). A prediction for a (uid, side) the truth does not have is wrong.
* **precision** = correct / predictions; **recall** = correct predictions of truth rows with
  ``logged`` true / those rows (an endpoint event exists, so the side is attributable).
  ``unlogged_predicted`` is the share of unlogged truth rows (no event of their own) that still got a
  prediction, borrowed from another event; ``unlogged_predicted_right_process`` the share of those
  predictions that nonetheless name the right process (the same process made a similar connection
  within the tolerance). They count in the precision like any other prediction.

:func:`score` returns the overall figures, the same per OS (a prediction's OS is its host's), and
the count of ``net.conn_proc`` rows per match quality with the precision within each quality.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from winnow.enrich.conn_proc import MATCH_QUALITIES

PREDICTED = ("exact", "skew")
_PRED_COLUMNS = ("uid", "side", "host", "pid", "process_guid", "image", "match")
_TRUTH_COLUMNS = ("uid", "side", "host", "os", "pid", "process_guid", "image", "logged")


def read_conn_proc(lake_root: str | Path) -> pa.Table:
    """The ``net.conn_proc`` rows of a lake (the columns the score needs), empty when the table is absent."""
    directory = Path(lake_root) / "net.conn_proc"
    files = sorted(directory.glob("day=*/*.parquet")) if directory.is_dir() else []
    if not files:
        return pa.table({c: pa.array([], pa.int64() if c == "pid" else pa.string()) for c in _PRED_COLUMNS})
    return pa.concat_tables([pq.read_table(f, columns=list(_PRED_COLUMNS)) for f in files])


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 6) if den else None


def _count(mask: pa.Array) -> int:
    return int(pc.sum(pc.cast(mask, pa.int64())).as_py() or 0)


def _figures(joined: pa.Table, correct: pa.Array, found: pa.Table, hit: pa.Array, os_name: str | None) -> dict:
    """precision / recall (and counts) over all rows, or over the rows of one OS.

    ``joined``: the predictions left-joined to the truth (with ``pred_os``); ``correct`` per prediction;
    ``found``: the truth rows, ``hit`` whether each got a prediction.
    """
    if os_name is not None:
        keep, keep_truth = pc.equal(joined["pred_os"], os_name), pc.equal(found["os"], os_name)
        joined, correct = joined.filter(keep), pc.filter(correct, keep)
        found, hit = found.filter(keep_truth), pc.filter(hit, keep_truth)
    logged_pred = pc.fill_null(joined["logged"], False)
    correct_logged = _count(pc.and_(correct, logged_pred))
    unlogged_pred = pc.and_(pc.invert(logged_pred), pc.is_valid(joined["logged"]))
    truth_logged = _count(found["logged"])
    truth_unlogged = found.num_rows - truth_logged
    return {
        "predictions": joined.num_rows, "correct": _count(correct), "truth_logged": truth_logged,
        "truth_unlogged": truth_unlogged, "precision": _ratio(_count(correct), joined.num_rows),
        "recall": _ratio(correct_logged, truth_logged),
        "unlogged_predicted": _ratio(_count(pc.and_(pc.invert(found["logged"]), hit)), truth_unlogged),
        "unlogged_predicted_right_process": _ratio(_count(pc.and_(correct, unlogged_pred)),
                                                   _count(unlogged_pred)),
    }


def _side(pred: pa.Table, truth: pa.Table, qualities: tuple[str, ...]) -> dict:
    """Figures for one definition of a prediction (the match qualities that count)."""
    chosen = pred.filter(pc.is_in(pred["match"], pa.array(qualities, pa.string())))
    joined = chosen.join(truth, ["uid", "side"], join_type="left outer", right_suffix="_t")
    same = pc.and_(pc.equal(joined["host"], joined["host_t"]), pc.equal(joined["pid"], joined["pid_t"]))
    win = pc.equal(joined["os"], "windows")
    same_process = pc.if_else(win, pc.equal(joined["process_guid"], joined["process_guid_t"]),
                              pc.equal(joined["image"], joined["image_t"]))
    correct = pc.fill_null(pc.and_(same, same_process), False)
    host_os = dict(zip(truth["host"].to_pylist(), truth["os"].to_pylist(), strict=True))
    joined = joined.append_column("pred_os", pa.array([host_os.get(h, "unknown") for h in joined["host"].to_pylist()],
                                                      pa.string()))
    keys = chosen.select(["uid", "side"]).group_by(["uid", "side"]).aggregate([])
    keys = keys.append_column("hit", pa.repeat(pa.scalar(True), keys.num_rows))
    found = truth.join(keys, ["uid", "side"], join_type="left outer")
    hit = pc.fill_null(found["hit"], False)
    out = _figures(joined, correct, found, hit, None)
    out["by_os"] = {name: _figures(joined, correct, found, hit, name) for name in sorted(set(truth["os"].to_pylist()))}
    out["precision_by_match"] = {}
    for quality in qualities:
        mask = pc.equal(joined["match"], quality)
        out["precision_by_match"][quality] = _ratio(_count(pc.filter(correct, mask)), _count(mask))
    return out


def score(conn_proc: pa.Table, truth: pa.Table) -> dict:
    """Precision, recall and breakdowns of ``conn_proc`` rows against the endpoint ``truth`` (see module doc).

    Returns ``{"strict": ..., "with_ambiguous": ..., "matches": {quality: rows}}``: ``strict`` counts
    exact and skew matches as predictions, ``with_ambiguous`` adds the ambiguous ones.
    """
    pred = conn_proc.select(list(_PRED_COLUMNS)).cast(pa.schema([
        ("uid", pa.string()), ("side", pa.string()), ("host", pa.string()), ("pid", pa.int64()),
        ("process_guid", pa.string()), ("image", pa.string()), ("match", pa.string()),
    ]))
    truth = truth.select(list(_TRUTH_COLUMNS))
    counts = {c["values"]: c["counts"] for c in pred["match"].value_counts().to_pylist()}
    return {
        "strict": _side(pred, truth, PREDICTED),
        "with_ambiguous": _side(pred, truth, (*PREDICTED, "ambiguous")),
        "matches": {q: int(counts.get(q, 0)) for q in MATCH_QUALITIES},
    }


def score_lake(lake_root: str | Path, truth_path: str | Path) -> dict:
    """:func:`score` of a lake's ``net.conn_proc`` against a simulation's ``endpoint_truth.parquet``."""
    return score(read_conn_proc(lake_root), pq.read_table(truth_path))
