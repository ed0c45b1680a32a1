"""STIX 2.1 bundles: ``indicator`` objects whose ``pattern`` (``pattern_type`` stix) is one comparison or
comparisons joined by ``OR``, each ``object:path = 'value'``. Other patterns (AND, FOLLOWEDBY,
qualifiers, other operators) are reported, one warning per indicator, as not supported.

Objects are located by the line where their ``id`` first appears in the file. ``confidence`` (0-100)
is the object's; the source is ``created_by_ref``; the description is ``name`` or ``description``.
"""

from __future__ import annotations

import json
import re

from winnow.intel.registry import FeedFormat, Sink, confidence_of, line_of, register

#: STIX object paths -> kind (hash algorithm names in any of STIX's spellings)
PATHS = {
    "ipv4-addr:value": "ip", "ipv6-addr:value": "ip", "network-traffic:dst_ref.value": "ip",
    "network-traffic:src_ref.value": "ip", "domain-name:value": "domain", "url:value": "url",
    "user-account:user_id": "user", "user-account:account_login": "user",
    "network-traffic:extensions.'http-request-ext'.request_header.'User-Agent'": "user_agent",
}
HASH_PATH = re.compile(r"^(file|artifact):hashes\.'?(MD5|SHA-?1|SHA-?256)'?$", re.I)
CERT_PATH = re.compile(r"^x509-certificate:hashes\.'?SHA-?1'?$", re.I)
COMPARISON = re.compile(r"\s*([\w-]+:[^\s=!<>]+)\s*=\s*'((?:[^'\\]|\\.)*)'\s*")


def _sniff(head: str, filename: str) -> bool:
    return head.lstrip().startswith("{") and '"bundle"' in head and '"type"' in head


def _parse(text: str, sink: Sink) -> None:
    try:
        bundle = json.loads(text)
    except json.JSONDecodeError as exc:
        sink.warn(exc.lineno, f"not JSON: {exc.msg}")
        return
    objects = bundle.get("objects") if isinstance(bundle, dict) else None
    if not isinstance(objects, list):
        sink.warn(1, "a STIX bundle without an objects list")
        return
    for obj in objects:
        if isinstance(obj, dict) and obj.get("type") == "indicator":
            _indicator(obj, text, sink)


def _indicator(obj: dict, text: str, sink: Sink) -> None:
    line = line_of(text, json.dumps(str(obj.get("id", ""))))
    pattern = obj.get("pattern")
    if obj.get("pattern_type", "stix") != "stix" or not isinstance(pattern, str):
        sink.warn(line, f"pattern type {obj.get('pattern_type')!r} is not supported", str(obj.get("id", "")))
        return
    terms = comparisons(pattern)
    if terms is None:
        sink.warn(line, "pattern not supported (only comparisons with = joined by OR)", pattern)
        return
    confidence = confidence_of(obj.get("confidence"), line, sink)
    description = str(obj.get("name") or obj.get("description") or "")
    for path, value in terms:
        kind = kind_of(path)
        if kind is None:
            sink.warn(line, f"object path {path} is not matched", pattern)
            continue
        sink.add(kind, value, line, confidence, str(obj.get("created_by_ref", "")), description)


def comparisons(pattern: str) -> list[tuple[str, str]] | None:
    """``[(path, value)]`` of a pattern of ``=`` comparisons joined by OR (in or across brackets), else None."""
    body = pattern.strip()
    out: list[tuple[str, str]] = []
    for group in re.split(r"\]\s+OR\s+\[", body.removeprefix("[").removesuffix("]")) if body.startswith("[") \
            and body.endswith("]") else [None]:
        if group is None or "[" in group or "]" in group:
            return None
        for term in re.split(r"\s+OR\s+(?=(?:[^']*'[^']*')*[^']*$)", group):
            match = COMPARISON.fullmatch(term)
            if not match:
                return None
            out.append((match.group(1), re.sub(r"\\(.)", r"\1", match.group(2))))
    return out


def kind_of(path: str) -> str | None:
    """The kind a STIX object path's value is, None when it is not matched."""
    if HASH_PATH.match(path):
        return "hash"
    if CERT_PATH.match(path):
        return "cert_hash"
    return PATHS.get(path)


register(FeedFormat("stix", "STIX 2.1 bundle of indicator objects (= comparisons joined by OR)", _sniff, _parse))
