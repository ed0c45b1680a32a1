"""Zeek Intel framework files: tab-separated, a ``#fields`` line naming ``indicator``, ``indicator_type``
and ``meta.*`` columns (``meta.source``, ``meta.desc``, ``meta.url``; any column whose name holds
``confidence``, such as CIF's ``meta.cif_confidence``, gives the confidence). ``-`` is an unset field.
"""

from __future__ import annotations

from winnow.intel.registry import FeedFormat, Sink, confidence_of, register

#: Intel::<TYPE> -> kind; the others (EMAIL, FILE_NAME, PUBKEY_HASH) are counted as skipped
TYPES = {
    "ADDR": "ip", "SUBNET": "cidr", "DOMAIN": "domain", "URL": "url", "FILE_HASH": "hash",
    "USER_NAME": "user", "CERT_HASH": "cert_hash", "JA3": "ja3", "SOFTWARE": "user_agent",
}


def _sniff(head: str, filename: str) -> bool:
    return any(line.startswith("#fields") and "indicator_type" in line for line in head.splitlines()[:20])


def _parse(text: str, sink: Sink) -> None:
    fields: list[str] = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
            continue
        if not line.strip() or line.startswith("#"):
            continue
        if "indicator" not in fields or "indicator_type" not in fields:
            sink.warn(n, "no #fields line naming indicator and indicator_type before this line", line)
            continue
        cells = line.split("\t")
        if len(cells) != len(fields):
            sink.warn(n, f"{len(cells)} tab-separated fields, the #fields line names {len(fields)}", line)
            continue
        row = {f: ("" if c == "-" else c) for f, c in zip(fields, cells, strict=True)}
        name = row["indicator_type"].removeprefix("Intel::")
        kind = TYPES.get(name)
        if kind is None:
            sink.skip(f"indicator type {row['indicator_type']} is not matched")
            continue
        confidence_field = next((f for f in fields if "confidence" in f), "")
        sink.add(kind, row["indicator"], n, confidence_of(row.get(confidence_field), n, sink),
                 row.get("meta.source", ""), row.get("meta.desc", ""))


register(FeedFormat("zeek_intel", "Zeek Intel framework TSV (#fields indicator indicator_type meta.source ...)",
                    _sniff, _parse))
