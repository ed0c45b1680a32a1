"""Run detectors over a window and store their findings."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from winnow.detections.registry import detectors, get_detector
from winnow.engine import Engine, Window
from winnow.enrich.evidence import attach_processes
from winnow.errors import WinnowError
from winnow.store import FindingsStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectorRun:
    detector: str
    findings: int
    seconds: float
    skipped: str = ""
    failed: str = ""


def run_detectors(engine: Engine, names: list[str] | None = None, window: Window | None = None,
                  on_done: Callable[[DetectorRun], None] | None = None) -> list[DetectorRun]:
    """Run ``names`` (default: all registered) and replace their findings for ``window`` in the store."""
    window = window or Window()
    chosen = names or sorted(detectors())
    instances = [get_detector(n) for n in chosen]
    runs = []
    with FindingsStore(engine.lake) as store:
        for det in instances:
            missing = [t for t in det.tables if not engine.lake.has_table(t)]
            started = time.perf_counter()
            if missing:
                result = DetectorRun(det.name, 0, 0.0, f"no {', '.join(missing)} in the lake")
            else:
                try:
                    findings = det.find(engine, window)
                except WinnowError:
                    raise
                except Exception as exc:  # one broken detector must not cost the others their run
                    log.exception("detector %s failed", det.name)
                    result = DetectorRun(det.name, 0, time.perf_counter() - started,
                                         failed=f"{type(exc).__name__}: {exc}")
                else:
                    findings = attach_processes(engine, findings)
                    seconds = time.perf_counter() - started
                    store.replace(uuid.uuid4().hex[:12], det.name, engine.name, det.get_params(), window, findings,
                                  seconds)
                    result = DetectorRun(det.name, len(findings), seconds)
            runs.append(result)
            if on_done:
                on_done(result)
    return runs
