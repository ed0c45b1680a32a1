"""``winnow config init``: every setting and detector parameter as a commented TOML file.

Each key is written with its default (or the value in force) under a comment giving its meaning,
type and environment variable, so reading the file back gives the same configuration.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

from winnow.config.model import Config
from winnow.config.table import all_settings

HEADER = """\
# Winnow configuration. Read from <lake>/winnow.toml, or the file given with --config.
# Later layers win: this file < WINNOW_* environment variables < --set KEY=VALUE flags.
# Every key below is at its default unless noted; delete a line to follow future defaults.
# 'winnow config defaults' prints the same table; unknown keys and wrong types are errors.
"""

SECTION_TITLES = {
    "networks": "What counts as internal, for every detector.",
    "ingest": "Reading logs into the lake.",
    "attribution": "Which process made each connection (net.conn_proc, winnow attribute).",
    "collect": "The live NetFlow/IPFIX collector (winnow collect netflow).",
    "spark": "Apache Spark (winnow detect --engine spark).",
}


def toml_value(value: Any) -> str:
    """``value`` written as a TOML value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def _comment(text: str) -> list[str]:
    return ["# " + line for line in textwrap.wrap(text, 100)] if text else []


def render(config: Config | None = None) -> str:
    """The commented file; with ``config``, its values in place of the defaults (origins noted)."""
    config = config or Config()
    sections: dict[str, list] = {}
    for setting in all_settings().values():
        sections.setdefault(setting.section, []).append(setting)
    out = [HEADER]
    for section, settings in sections.items():
        out.append("")
        if section:
            from winnow.detections import detectors

            det = detectors().get(section)
            title = SECTION_TITLES.get(section) or (f"Detector {section}: {det.description}." if det else "")
            out += _comment(title)
            out.append(f"[{section}]")
        for setting in settings:
            key = setting.name[len(section) + 1:] if section else setting.name
            value = config.get(setting.name)
            origin = config.origin(setting.name)
            note = f"{setting.meaning}. [{setting.type}; env {setting.env_var}" + (
                f"; set by {origin}]" if origin != "default" else "]")
            out += _comment(note.replace("..", "."))
            line = f"{key} = {toml_value(value)}"
            # a lake's own file cannot move the lake: the key is only read from a --config file
            out.append(("# " + line + "    # only read from a --config file") if setting.name == "lake" else line)
    return "\n".join(out) + "\n"
