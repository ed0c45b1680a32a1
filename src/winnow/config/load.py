"""Read the configuration: defaults, then a TOML file, then ``WINNOW_*`` variables, then ``--set`` flags.

The file is ``<lake>/winnow.toml`` when it exists, or the one named by ``--config`` (a missing
``--config`` file is an error; a missing lake file is not). Keys are dotted setting names: top-level
keys (``engine = "spark"``), keys in a table (``[networks]`` then ``internal = [...]``) or dotted
keys (``beacon.min_score = 0.6``). A detector's parameters live in the table of its name.

An unknown key, or a value of the wrong type, is a :class:`ConfigError` naming where it came
from (``winnow.toml:12``, ``$WINNOW_BEACON_MIN_SCORE``, ``--set``), the key and what was expected.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from winnow.config.table import Setting, all_settings
from winnow.errors import WinnowError

FILE_NAME = "winnow.toml"
_SIZE = re.compile(r"^\s*\d+(\.\d+)?\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)


class ConfigError(WinnowError):
    """A configuration a user wrote is wrong: the message names where, which key and what was expected."""


def _where(origin: str, line: int | None) -> str:
    return f"{origin}:{line}" if line else origin


def key_lines(text: str) -> dict[str, int]:
    """The line of every dotted key in a TOML text (tables and dotted keys; arrays of tables are not settings)."""
    lines: dict[str, int] = {}
    section = ""
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        header = re.match(r"^\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$", line)
        if header:
            section = ".".join(p.strip().strip('"') for p in header.group(1).split("."))
            lines.setdefault(section, number)
            continue
        key = re.match(r'^([A-Za-z0-9_\-."\s]+?)\s*=', line)
        if key and not line.startswith("#"):
            name = ".".join(p.strip().strip('"') for p in key.group(1).split("."))
            lines.setdefault(f"{section}.{name}" if section else name, number)
    return lines


def _flatten(data: Mapping[str, Any], known: Mapping[str, Setting], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and name not in known:
            yield from _flatten(value, known, name + ".")
        else:
            yield name, value


def _unknown(key: str, known: Mapping[str, Setting]) -> str:
    close = difflib.get_close_matches(key, list(known), n=3, cutoff=0.6)
    section = key.rsplit(".", 1)[0] if "." in key else ""
    siblings = sorted(k for k in known if section and k.startswith(section + "."))
    if close:
        hint = f"did you mean {', '.join(close)}?"
    elif siblings:
        hint = f"known keys in [{section}]: {', '.join(s.split('.')[-1] for s in siblings)}"
    else:
        hint = "'winnow config defaults' lists every setting"
    return f"unknown setting {key!r}; {hint}"


def coerce(setting: Setting, value: Any, where: str) -> Any:
    """``value`` checked (and converted where lossless) to ``setting``'s type; ConfigError otherwise."""
    kind = setting.type

    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{where}: {setting.name}: expected {expected}, got {value!r}")

    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise bad("true or false")
    if kind in ("int", "float"):
        if not isinstance(value, int if kind == "int" else (int, float)) or isinstance(value, bool):
            raise bad("an integer" if kind == "int" else "a number")
        if setting.minimum is not None and value < setting.minimum:
            raise bad(f"{setting.minimum} or more")
        return value if kind == "int" else float(value)
    if kind in ("str", "path"):
        if isinstance(value, str):
            return value
        raise bad("a string")
    if kind == "size":
        if isinstance(value, str) and (value == "" or _SIZE.match(value)):
            return value.strip()
        raise bad('a size such as "4GB" or "512MB" (empty: automatic)')
    if kind == "dict[str,float]":
        if isinstance(value, dict) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                           for v in value.values()):
            return {str(k): float(v) for k, v in value.items()}
        raise bad('a table of weights such as {"udp/123" = 0.5}')
    if kind == "records":
        if isinstance(value, (list, tuple)) and all(isinstance(v, (list, tuple)) for v in value):
            return tuple(_frozen(v) for v in value)
        raise bad('a list of records such as [["name", "pattern", 0.5], ...]')
    if kind in ("list[str]", "list[int]", "cidrs"):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise bad("a list")
        if kind == "list[int]":
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                raise bad("a list of integers")
            return tuple(value)
        if not all(isinstance(v, str) for v in value):
            raise bad("a list of strings")
        if kind == "cidrs":
            for v in value:
                try:
                    ipaddress.ip_network(v, strict=False)
                except ValueError:
                    raise bad(f'a list of networks such as "10.0.0.0/8" ({v!r} is not one)') from None
            from winnow.detections._networks import validate

            try:
                validate(value)
            except WinnowError as exc:
                raise ConfigError(f"{where}: {setting.name}: {exc}") from None
        return tuple(value)
    raise AssertionError(f"setting {setting.name} has unknown type {kind}")


def parse_text(text: str) -> Any:
    """A value written on a command line or in an environment variable: a TOML value, else the bare text."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def read_file(path: Path, known: Mapping[str, Setting]) -> dict[str, tuple[Any, str]]:
    """Values of a TOML config file, each with its origin ``file:line``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    lines = key_lines(text)
    out = {}
    for key, value in _flatten(data, known):
        where = _where(str(path), lines.get(key))
        if key not in known:
            raise ConfigError(f"{where}: {_unknown(key, known)}")
        out[key] = (coerce(known[key], value, where), where)
    return out


def read_env(env: Mapping[str, str], known: Mapping[str, Setting]) -> dict[str, tuple[Any, str]]:
    """Values set by environment variables (each setting's ``env_var``); other variables are ignored."""
    out = {}
    base = getattr(known, "base", known)
    base_vars = {s.env_var for s in base.values()}
    others = any(k.startswith("WINNOW_") and k not in base_vars for k in env)
    for setting in (known if others else base).values():
        text = env.get(setting.env_var)
        if text is None or (text == "" and setting.type not in ("str", "path", "size")):
            continue
        where = f"${setting.env_var}"
        value = text if setting.type in ("str", "path", "size") else parse_text(text)
        out[setting.name] = (coerce(setting, value, where), where)
    return out


def read_sets(sets: Iterable[str], known: Mapping[str, Setting]) -> dict[str, tuple[Any, str]]:
    """Values of ``--set KEY=VALUE`` flags."""
    out = {}
    for item in sets:
        key, sep, text = item.partition("=")
        key = key.strip()
        where = f"--set {item}"
        if not sep or not key:
            raise ConfigError(f"{where}: expected KEY=VALUE, e.g. --set beacon.min_score=0.6")
        if key not in known:
            raise ConfigError(f"{where}: {_unknown(key, known)}")
        setting = known[key]
        value = text if setting.type in ("str", "path", "size") else parse_text(text.strip())
        out[key] = (coerce(setting, value, where), where)
    return out


def config_path(lake: str | Path | None, explicit: str | Path | None) -> Path | None:
    """The config file in force: ``explicit`` (``--config``), else ``<lake>/winnow.toml`` if it exists."""
    if explicit:
        return Path(explicit)
    if lake is not None:
        candidate = Path(lake) / FILE_NAME
        if candidate.is_file():
            return candidate
    return None


def layered(lake: str | Path | None = None, path: str | Path | None = None, sets: Iterable[str] = (),
            env: Mapping[str, str] | None = None) -> dict[str, tuple[Any, str]]:
    """Explicit values with their origins, later layers winning: file, environment, ``--set``."""
    known = all_settings()
    env = os.environ if env is None else env
    values: dict[str, tuple[Any, str]] = {}
    file = config_path(lake, path)
    if file is not None:
        values.update(read_file(file, known))
    values.update(read_env(env, known))
    values.update(read_sets(sets, known))
    return values


def _frozen(value: Any) -> Any:
    """Lists within a record as tuples (a record's event ids ...), so settings stay hashable."""
    return tuple(_frozen(v) for v in value) if isinstance(value, (list, tuple)) else value
