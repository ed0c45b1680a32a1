"""Detect → enrich → store: run detectors over a window with the configuration in force.

Each detector is built from the configuration (``<detector>.<param>`` settings become its
``__init__`` arguments) and runs with that configuration installed, so global settings such as
``networks.internal`` reach it through :func:`winnow.config.current`. Its findings are enriched
(the process behind network findings, from ``net.conn_proc``) and replace its earlier findings
for the window in the store, together with the settings that were in force.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from winnow.config import Config, current, use
from winnow.config.table import SETTINGS
from winnow.detections.base import Detector
from winnow.detections.registry import detectors, get_detector
from winnow.engine import Engine, Window
from winnow.enrich.evidence import attach_processes
from winnow.errors import WinnowError
from winnow.store import FindingsStore

log = logging.getLogger(__name__)

#: settings outside a detector's own parameters that change what detectors find (stored with every run)
GLOBAL_SETTINGS = tuple(s.name for s in SETTINGS if s.name.split(".")[0] in ("networks", "infrastructure"))


@dataclass(frozen=True)
class DetectorRun:
    detector: str
    findings: int
    seconds: float
    skipped: str = ""
    failed: str = ""


def build_detector(name: str, config: Config | None = None) -> Detector:
    """The detector ``name`` with its parameters from ``config`` (default: the one in force)."""
    config = config or current()
    return get_detector(name, **config.detector_params(name))


def settings_in_force(detector: Detector, config: Config, engine: str) -> dict[str, Any]:
    """What a run of ``detector`` used: every parameter and global setting, with its value and origin."""
    out: dict[str, Any] = {"engine": {"value": engine, "origin": config.origin("engine")}}
    for key in GLOBAL_SETTINGS:
        value = config.get(key)
        out[key] = {"value": list(value) if isinstance(value, tuple) else value, "origin": config.origin(key)}
    for param, value in detector.get_params().items():
        key = f"{detector.name}.{param}"
        out[key] = {"value": list(value) if isinstance(value, tuple) else value, "origin": config.origin(key)}
    return out


def run_detectors(engine: Engine, names: list[str] | None = None, window: Window | None = None,
                  on_done: Callable[[DetectorRun], None] | None = None,
                  config: Config | None = None) -> list[DetectorRun]:
    """Run ``names`` (default: all registered) and replace their findings for ``window`` in the store."""
    window = window or Window()
    config = config or current()
    chosen = names or sorted(detectors())
    with use(config):
        instances = [build_detector(n, config) for n in chosen]
        runs = []
        with FindingsStore(engine.lake) as store:
            for det in instances:
                result = _run_one(engine, det, window, config, store)
                runs.append(result)
                if on_done:
                    on_done(result)
    return runs


def _run_one(engine: Engine, det: Detector, window: Window, config: Config, store: FindingsStore) -> DetectorRun:
    if not any(engine.lake.has_table(t) for t in det.tables):  # any one input is enough to run
        return DetectorRun(det.name, 0, 0.0, f"none of {', '.join(det.tables)} in the lake")
    started = time.perf_counter()
    try:
        findings = det.find(engine, window)
    except WinnowError:
        raise
    except Exception as exc:  # one broken detector must not cost the others their run
        log.exception("detector %s failed", det.name)
        return DetectorRun(det.name, 0, time.perf_counter() - started, failed=f"{type(exc).__name__}: {exc}")
    findings = attach_processes(engine, findings)
    seconds = time.perf_counter() - started
    store.replace(uuid.uuid4().hex[:12], det.name, engine.name, settings_in_force(det, config, engine.name), window,
                  findings, seconds)
    return DetectorRun(det.name, len(findings), seconds)
