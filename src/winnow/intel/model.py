"""Indicators: the kinds Winnow matches, how each value is normalized, and what a loaded feed holds.

Every feed format turns its records into :class:`Indicator` values of one of :data:`KINDS`, each
normalized so that it compares equal to the way the lake writes the same thing: addresses in
Python's compressed form, subnets as networks, domains lower-cased without a trailing dot or a
leading ``*.``, URLs without their scheme (``host/path``, the host lower-cased, as Zeek's http
``host`` + ``uri``), hashes and JA3 fingerprints as lower-case hex, user names lower-cased, user
agents exactly as written. A value that cannot be normalized to its kind is a bad record: the
loader warns with its file and line and keeps the rest.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from dataclasses import dataclass, field

#: the indicator kinds and what each is matched against (see ``detections/_intel_match.py``)
KINDS = {
    "ip": "an address: connection ends, DNS answers, logon sources, endpoint connections",
    "cidr": "an IPv4 subnet: the same columns as addresses",
    "domain": "a domain and every name below it: DNS queries, TLS server names, HTTP hosts, endpoint DNS",
    "url": "host/path of an HTTP request (scheme dropped)",
    "hash": "an MD5, SHA-1 or SHA-256 file hash: process image hashes",
    "ja3": "a JA3 TLS client fingerprint (MD5 hex)",
    "user_agent": "an HTTP User-Agent, exactly",
    "user": "an account name: logons and process owners",
    "cert_hash": "a certificate fingerprint (SHA-1 hex): TLS certificate chains",
}

#: names feeds use for a kind (CSV ``type``, MISP attribute types, STIX and Zeek names mapped elsewhere)
ALIASES = {
    "ip": "ip", "ipv4": "ip", "ipv6": "ip", "ip-src": "ip", "ip-dst": "ip", "ip_src": "ip", "ip_dst": "ip",
    "addr": "ip", "address": "ip", "ipv4-addr": "ip", "ipv6-addr": "ip",
    "cidr": "cidr", "subnet": "cidr", "network": "cidr", "netblock": "cidr",
    "domain": "domain", "hostname": "domain", "fqdn": "domain", "domain-name": "domain", "host": "domain",
    "url": "url", "uri": "url", "link": "url",
    "hash": "hash", "md5": "hash", "sha1": "hash", "sha-1": "hash", "sha256": "hash", "sha-256": "hash",
    "file_hash": "hash", "filehash": "hash",
    "ja3": "ja3", "ja3-fingerprint-md5": "ja3", "ja3_fingerprint": "ja3",
    "user_agent": "user_agent", "user-agent": "user_agent", "useragent": "user_agent", "ua": "user_agent",
    "user": "user", "username": "user", "user_name": "user", "account": "user",
    "cert_hash": "cert_hash", "x509-fingerprint-sha1": "cert_hash", "cert_sha1": "cert_hash",
}

_HEX = re.compile(r"^[0-9a-f]+$")
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)
_QUAD = re.compile(r"^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$")


class BadIndicator(ValueError):
    """A value that is not a valid indicator of its kind (the message says why)."""


@dataclass(frozen=True)
class Indicator:
    """One indicator as a feed states it, normalized."""

    kind: str
    value: str
    confidence: float | None  # 0-100, None when the feed does not say
    feed: str
    source: str = ""
    description: str = ""
    file: str = ""
    line: int | None = None


@dataclass(frozen=True)
class FeedWarning:
    """A record a feed file could not give as an indicator, located by file and line."""

    file: str
    line: int | None
    reason: str
    snippet: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.reason}" + (f" ({self.snippet})" if self.snippet else "")


@dataclass
class Feeds:
    """What a folder of feeds gave: indicators, warnings, indicators and format per file, skipped records."""

    indicators: list[Indicator] = field(default_factory=list)
    warnings: list[FeedWarning] = field(default_factory=list)
    files: dict[str, int] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)
    skipped: dict[tuple[str, str], int] = field(default_factory=dict)  # (file, reason) -> valid records not matched


def canonical_kind(name: str) -> str | None:
    """The kind a feed's type name stands for (None when Winnow does not match that kind)."""
    return ALIASES.get(name.strip().lower())


def normalize(kind: str, value: str) -> tuple[str, str]:
    """``(kind, value)`` normalized; a one-address subnet becomes an address. BadIndicator when invalid."""
    value = value.strip()
    if not value:
        raise BadIndicator("empty value")
    if kind in ("ip", "cidr"):
        return _address(value)
    if kind == "domain":
        return "domain", _domain(value)
    if kind == "url":
        return "url", _url(value)
    if kind in ("hash", "ja3", "cert_hash"):
        text = value.lower()
        sizes = (32,) if kind == "ja3" else (40,) if kind == "cert_hash" else (32, 40, 64)
        if len(text) not in sizes or not _HEX.match(text):
            raise BadIndicator(f"not a {kind.replace('_', ' ')} (hex of {'/'.join(map(str, sizes))} digits)")
        return kind, text
    if kind == "user":
        return "user", value.lower()
    if kind == "user_agent":
        return "user_agent", value
    raise BadIndicator(f"unknown kind {kind!r}")


def infer(value: str) -> tuple[str, str]:
    """Kind and normalized value of a bare indicator (one per line lists). BadIndicator when none fits."""
    text = value.strip()
    for kind in ("ip", "hash"):  # the unambiguous shapes first; a value that is neither goes on below
        with contextlib.suppress(BadIndicator):
            return normalize(kind, text)
    if _SCHEME.match(text) or "/" in text:
        return normalize("url", text)
    try:
        return normalize("domain", text)
    except BadIndicator:
        raise BadIndicator("cannot tell what kind of indicator this is") from None


def _address(value: str) -> tuple[str, str]:
    text = value.strip("[]")
    if _QUAD.match(text):  # the common case, already in canonical form
        return "ip", text
    try:
        if "/" not in text:
            return "ip", str(ipaddress.ip_address(text))
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise BadIndicator("not an IP address or subnet") from None
    if net.prefixlen == net.max_prefixlen:
        return "ip", str(net.network_address)
    if net.version == 6:
        raise BadIndicator("IPv6 subnets are not matched (give the addresses)")
    return "cidr", str(net)


def _domain(value: str) -> str:
    text = value.lower().rstrip(".")
    if text.startswith("*."):
        text = text[2:]
    if not text.isascii():
        try:
            text = text.encode("idna").decode("ascii")
        except UnicodeError:
            raise BadIndicator("not a domain name") from None
    labels = text.split(".")
    if len(text) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise BadIndicator("not a domain name")
    if _QUAD.match(text):
        raise BadIndicator("an address, not a domain name")
    return text


def _url(value: str) -> str:
    text = _SCHEME.sub("", value.strip())
    host, slash, path = text.partition("/")
    host = host.lower()
    if not host or " " in host:
        raise BadIndicator("not a URL")
    return host + slash + path if slash else host + "/"
