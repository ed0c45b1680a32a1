"""Findings persisted transactionally; a detector's re-run over a window replaces that window."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from winnow.engine import Window, open_database
from winnow.lake import Lake
from winnow.scoring import FINDING_FIELDS, Finding

_SCHEMA = """
CREATE TABLE IF NOT EXISTS findings (
    run_id VARCHAR NOT NULL,
    detector VARCHAR NOT NULL,
    window_since TIMESTAMPTZ,
    window_until TIMESTAMPTZ,
    score DOUBLE NOT NULL,
    severity VARCHAR NOT NULL,
    entity VARCHAR NOT NULL,
    src VARCHAR, dst VARCHAR, dport INTEGER, host VARCHAR, "user" VARCHAR,
    first_seen VARCHAR, last_seen VARCHAR,
    components VARCHAR NOT NULL,
    evidence VARCHAR NOT NULL,
    why VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY,
    engine VARCHAR NOT NULL,
    detector VARCHAR NOT NULL,
    params VARCHAR NOT NULL,
    window_since TIMESTAMPTZ,
    window_until TIMESTAMPTZ,
    findings INTEGER NOT NULL,
    seconds DOUBLE NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
ALTER TABLE runs ADD COLUMN IF NOT EXISTS settings VARCHAR;
"""

_LOW = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
_HIGH = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)


class FindingsStore:
    """Open the store of ``lake`` (created on first write)."""

    def __init__(self, lake: Lake, read_only: bool = False) -> None:
        self.path = lake.findings_db
        if read_only and not self.path.exists():
            self._con = None
            return
        self._con = open_database(str(self.path), read_only=read_only)
        if not read_only:
            self._con.execute(_SCHEMA)

    def close(self) -> None:
        if self._con is not None:
            self._con.close()

    def __enter__(self) -> FindingsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def replace(self, run_id: str, detector: str, engine: str, settings: dict[str, Any], window: Window,
                findings: list[Finding], seconds: float) -> None:
        """In one transaction: drop this detector's findings whose window lies inside ``window``, add these.

        ``settings`` are the settings in force (``{key: {"value": ..., "origin": ...}}``), stored with
        the run; the detector's own parameters are also stored plainly in ``params``.
        """
        prefix = detector + "."
        params = {k[len(prefix):]: v["value"] for k, v in settings.items() if k.startswith(prefix)}
        con = self._con
        assert con is not None
        now = dt.datetime.now(dt.UTC)
        since, until = window.since or _LOW, window.until or _HIGH
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(
                "DELETE FROM findings WHERE detector = ? AND coalesce(window_since, ?) >= ? "
                "AND coalesce(window_until, ?) <= ?",
                [detector, _LOW, since, _HIGH, until],
            )
            rows = [
                [run_id, f.detector, window.since, window.until, f.score, f.severity, f.entity, f.src, f.dst,
                 f.dport, f.host, f.user, d["first_seen"], d["last_seen"],
                 json.dumps(f.components, sort_keys=True), json.dumps(f.evidence, sort_keys=True), f.why, now]
                for f in findings
                for d in [f.to_dict()]
            ]
            if rows:
                con.executemany(f"INSERT INTO findings VALUES ({', '.join('?' * 18)})", rows)
            con.execute(
                "INSERT INTO runs (run_id, engine, detector, params, window_since, window_until, findings, seconds, "
                "created_at, settings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [run_id, engine, detector, json.dumps(params, sort_keys=True, default=str), window.since,
                 window.until, len(findings), seconds, now, json.dumps(settings, sort_keys=True, default=str)],
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise

    def query(self, detectors: list[str] | None = None, limit: int | None = None,
              min_score: float = 0.0) -> list[dict[str, Any]]:
        """Findings as contract dicts, highest score first."""
        if self._con is None:
            return []
        sql = f"SELECT {', '.join(_column(n) for n in FINDING_FIELDS)} FROM findings WHERE score >= ?"
        args: list[Any] = [min_score]
        if detectors:
            sql += f" AND detector IN ({', '.join('?' * len(detectors))})"
            args += detectors
        sql += " ORDER BY score DESC, detector, entity"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        out = []
        for row in self._con.execute(sql, args).fetchall():
            item = dict(zip(FINDING_FIELDS, row, strict=True))
            item["components"] = json.loads(item["components"])
            item["evidence"] = json.loads(item["evidence"])
            out.append(item)
        return out

    def runs(self, detectors: list[str] | None = None, latest: bool = False) -> list[dict[str, Any]]:
        """Detection runs, newest first, each with the settings that were in force (``latest``: one per detector)."""
        if self._con is None:
            return []
        sql = ("SELECT run_id, detector, engine, window_since, window_until, findings, seconds, created_at, "
               "coalesce(settings, '{}') FROM runs")
        args: list[Any] = []
        if detectors:
            sql += f" WHERE detector IN ({', '.join('?' * len(detectors))})"
            args += detectors
        if latest:
            sql += " QUALIFY row_number() OVER (PARTITION BY detector ORDER BY created_at DESC) = 1"
        sql += " ORDER BY created_at DESC, detector"
        names = ["run_id", "detector", "engine", "window_since", "window_until", "findings", "seconds",
                 "created_at", "settings"]
        out = []
        for row in self._con.execute(sql, args).fetchall():
            item = dict(zip(names, row, strict=True))
            item["settings"] = json.loads(item["settings"])
            for key in ("window_since", "window_until", "created_at"):
                if item[key] is not None:
                    item[key] = item[key].astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
            out.append(item)
        return out

    def count(self) -> int:
        if self._con is None:
            return 0
        return int(self._con.execute("SELECT count(*) FROM findings").fetchall()[0][0])

    def detector_summary(self) -> dict[str, dict[str, Any]]:
        """Per detector that ran or has findings: findings stored, top score, first/last seen, last run and engine."""
        if self._con is None:
            return {}
        sql = """
            WITH f AS (SELECT detector, count(*) AS n, max(score) AS top, min(first_seen) AS first_seen,
                              max(last_seen) AS last_seen FROM findings GROUP BY detector),
                 r AS (SELECT detector, max(created_at) AS last_run, arg_max(engine, created_at) AS engine
                       FROM runs GROUP BY detector)
            SELECT coalesce(f.detector, r.detector) AS detector, coalesce(f.n, 0), f.top, f.first_seen,
                   f.last_seen, r.last_run, r.engine
            FROM f FULL OUTER JOIN r ON f.detector = r.detector ORDER BY 1
        """
        out = {}
        for name, n, top, first, last, last_run, engine in self._con.execute(sql).fetchall():
            out[name] = {"findings": int(n), "top_score": top, "first_seen": first, "last_seen": last,
                         "last_run": last_run.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if last_run else None,
                         "engine": engine}
        return out


def _column(name: str) -> str:
    return '"user"' if name == "user" else name
