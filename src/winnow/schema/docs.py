"""Render docs/SCHEMA.md from the table declarations: ``python -m winnow.schema.docs > docs/SCHEMA.md``."""

from __future__ import annotations

from winnow.schema.model import PROVENANCE
from winnow.schema.tables import TABLES


def render() -> str:
    """The whole SCHEMA.md text."""
    out = [
        "# Schema",
        "",
        "Generated from `src/winnow/schema/tables.py` by `python -m winnow.schema.docs > docs/SCHEMA.md`;"
        " a test fails when this file is stale.",
        "",
        "Every table lives in the lake as Parquet under `<lake>/<table>/day=YYYY-MM-DD/<file-hash>.parquet`"
        " (UTC days). Timestamps are UTC microseconds, IP addresses strings, columns flat snake_case."
        " ECS = Elastic Common Schema field, OCSF = Open Cybersecurity Schema Framework attribute"
        " (blank: no close equivalent).",
        "",
        "Rows of every data table also carry these provenance columns, added by ingest (never by a parser):",
        "",
        "| column | type | meaning | ECS | OCSF |",
        "|---|---|---|---|---|",
    ]
    out += [f"| `{c.name}` | {c.type} | {c.doc} | {c.ecs} | {c.ocsf} |" for c in PROVENANCE]
    for table in TABLES.values():
        out += ["", f"## `{table.name}`", "", table.doc, "", "| column | type | meaning | ECS | OCSF |",
                "|---|---|---|---|---|"]
        out += [f"| `{c.name}` | {c.type} | {c.doc} | {c.ecs} | {c.ocsf} |" for c in table.columns]
        if table.provenance:
            names = ", ".join(f"`{c.name}`" for c in table.provenance)
            out.append(f"| *provenance* | | {names} | | |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(render(), end="")
