"""Asset lists of the configuration: which hosts, users and addresses a list of patterns names.

A pattern with a ``/`` is a network (CIDR) and names addresses; any other is a shell pattern
(``dc*``, ``*-adm``) over host and user names, case-insensitive. Used by entity risk's critical assets
and privileged users, and by the baselines' peer groups.
"""

from __future__ import annotations

import fnmatch

from winnow.detections._networks import in_networks_py


def in_assets(value: str, patterns: tuple[str, ...] | list[str], address: bool) -> bool:
    """Whether ``value`` (an address when ``address``, else a name) is named by one of ``patterns``."""
    value = value.lower()
    for pattern in patterns:
        if "/" in pattern:
            if address and in_networks_py(value, (pattern,)):
                return True
        elif fnmatch.fnmatch(value, pattern.lower()):
            return True
    return False
