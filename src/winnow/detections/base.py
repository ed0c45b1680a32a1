"""The contract of a detector: parameters in ``__init__``, ``find(engine, window) -> findings``."""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from winnow.engine import Engine, Window
from winnow.scoring import Finding


class Detector(ABC):
    """Base class. Subclasses declare ``name``, ``description`` and the ``tables`` they read.

    ``tables`` are the inputs that can each produce findings: a run needs only one of them in the lake
    (a detector runs when any is present), so ``find`` handles every absent table (``engine.table``
    returns None). ``optional_tables`` are read when present and never enough alone (``open_conn``
    snapshots, the connections that confirm DNS answers).

    Parameters go in ``__init__`` with documented defaults (scikit-learn style) so that
    ``get_params()`` and ``winnow config defaults`` can list them; learned state ends in ``_``.
    Detectors never import duckdb or pyspark: they build Ibis expressions on ``engine.table``.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    tables: ClassVar[tuple[str, ...]]  # inputs any one of which is enough to run
    optional_tables: ClassVar[tuple[str, ...]] = ()  # read when present, never enough alone

    def get_params(self) -> dict[str, Any]:
        """The parameters and their current values."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {n: getattr(self, n) for n in names}

    @abstractmethod
    def find(self, engine: Engine, window: Window) -> list[Finding]:
        """Return findings over ``window``; [] when the tables it needs are absent."""
