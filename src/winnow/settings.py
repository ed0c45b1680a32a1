"""The one typed settings table. Defaults are documented here; ``winnow config defaults`` prints them."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    type: str
    meaning: str
    env: str = ""


SETTINGS: tuple[Setting, ...] = (
    Setting("lake", "./winnow-lake", "path", "lake folder used when --lake is not given", "WINNOW_LAKE"),
    Setting("engine", "duckdb", "str", "engine used when --engine is not given: duckdb, spark, spark://HOST:PORT"),
    Setting("suppressions", "<lake>/suppressions.toml", "path",
            "allow-list rules (cidr, domain, ja3) applied when findings are read; see scoring/suppress.py"),
    Setting("ingest.max_consecutive_bad", 20, "int", "bad lines in a row after which a file is abandoned"),
    Setting("ingest.block_size", 16 << 20, "int", "bytes read and parsed at a time (bounds memory per file)"),
    Setting("ingest.compression", "snappy", "str", "Parquet compression of lake files"),
    Setting("spark.shuffle_partitions", 8, "int", "spark.sql.shuffle.partitions in local mode",
            "WINNOW_SPARK_PARTITIONS"),
    Setting("spark.driver_memory", "4g", "str", "spark.driver.memory in local mode", "WINNOW_SPARK_DRIVER_MEMORY"),
)


def _param_docs(cls: type) -> dict[str, str]:
    doc = inspect.getdoc(cls) or ""
    return {m.group(1): m.group(2).strip() for m in re.finditer(r"^\s*(\w+): (.+)$", doc, re.MULTILINE)}


def all_defaults() -> list[dict[str, Any]]:
    """Every setting, then every detector parameter, as rows (setting, default, type, meaning)."""
    from winnow.detections import detectors

    rows = [{"setting": s.name, "default": s.default, "type": s.type,
             "meaning": s.meaning + (f" (env {s.env})" if s.env else "")} for s in SETTINGS]
    for name, cls in sorted(detectors().items()):
        docs = _param_docs(cls)
        for param, value in cls().get_params().items():
            rows.append({"setting": f"detect.{name}.{param}", "default": value, "type": type(value).__name__,
                         "meaning": docs.get(param, "")})
    return rows


__all__ = ["SETTINGS", "Setting", "all_defaults"]
