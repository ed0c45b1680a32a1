"""Address text shared by every layer (sources, detections, risk, triage, hunting)."""

from __future__ import annotations

import ipaddress


def is_address(text: str) -> bool:
    """Whether ``text`` is an IPv4 or IPv6 address as :mod:`ipaddress` reads it (no CIDR, no port)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
