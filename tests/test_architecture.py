"""docs/ARCHITECTURE.md explains the repository from inside it, and keeps up with the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "ARCHITECTURE.md"


def test_readme_links_the_architecture():
    readme = ROOT / "README.md"
    architecture = readme.read_text().split("## Architecture", 1)[1].split("\n## ", 1)[0]
    assert "(docs/ARCHITECTURE.md)" in architecture


def test_every_package_is_in_the_layout():
    layout = DOC.read_text().split("## Package layout", 1)[1].split("\n## ", 1)[0]
    packages = sorted(p.parent.name for p in (ROOT / "src" / "winnow").glob("*/__init__.py"))
    missing = [p for p in packages if f"| `{p}/` |" not in layout]
    assert not missing, f"add these packages to the layout table of docs/ARCHITECTURE.md: {missing}"


def test_contracts_name_what_the_code_declares():
    from winnow.engine import engines
    from winnow.engine.registry import url_forms
    from winnow.lake.layout import FINDINGS_DB, JOURNAL, MANIFEST, TMP
    from winnow.schema import PROVENANCE, TABLES
    from winnow.scoring import FINDING_FIELDS

    text = DOC.read_text()
    example = re.search(r"```json\n(.*?)```", text.split("### Findings", 1)[1], re.S).group(1)
    assert list(json.loads(example)) == list(FINDING_FIELDS)
    named = [*engines(), *url_forms(), *TABLES, *(c.name for c in PROVENANCE), "tags", "entities"]
    missing = [name for name in named if f"`{name}" not in text]
    lake = text.split("### The lake", 1)[1].split("\n### ", 1)[0]
    missing += [name for name in (FINDINGS_DB, JOURNAL, MANIFEST, TMP) if f"\n  {name}" not in lake]
    assert not missing, f"docs/ARCHITECTURE.md does not mention {missing}"


def test_no_pointer_to_design_documents_outside_the_repository():
    design = "DESIGN" + ".md"  # spelled in two parts so this file does not match itself
    offenders = []
    for folder in ("src", "docs", "tests", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in (".py", ".md", ".toml", ".txt") and design in path.read_text(errors="replace"):
                offenders.append(str(path.relative_to(ROOT)))
    if design in (ROOT / "README.md").read_text():
        offenders.append("README.md")
    assert not offenders, f"point at docs/ARCHITECTURE.md instead: {offenders}"
