"""One configuration: a typed settings table, read from a TOML file, ``WINNOW_*`` variables and ``--set``.

See :mod:`winnow.config.table` for every setting and its meaning, :mod:`winnow.config.load` for the
layers and their errors, and :mod:`winnow.config.template` for ``winnow config init``.
"""

from __future__ import annotations

from winnow.config.load import FILE_NAME, ConfigError
from winnow.config.model import Config, current, load, use
from winnow.config.table import DEFAULT_INTERNAL, SETTINGS, Setting, all_defaults, all_settings

__all__ = ["DEFAULT_INTERNAL", "FILE_NAME", "SETTINGS", "Config", "ConfigError", "Setting", "all_defaults",
           "all_settings", "current", "load", "use"]
