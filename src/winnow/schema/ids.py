"""The IDS alert table: one row per alert of a signature engine (Suricata EVE ``alert``, Snort 2/3 alerts)."""

from __future__ import annotations

import pyarrow as pa

from winnow.schema.model import ENDPOINTS, TS, Column, Table

S, I64 = pa.string(), pa.int64()

IDS_ALERT = Table(
    "ids.alert",
    "One row per signature alert of a network IDS (Suricata EVE alert records; Snort 3 alert_json and "
    "alert_csv; Snort 2/3 and Suricata alert_fast). The sensor name (EVE ``host``) is the provenance "
    "column ``sensor``.",
    (
        Column("ts", TS, "time of the packet that raised the alert (UTC; Snort times without a zone are read as UTC)",
               "@timestamp", "time"),
        Column("engine", S, "engine that raised it: suricata or snort", "observer.product", "metadata.product.name"),
        Column("flow_id", S, "engine's flow id (Suricata flow_id; joins net.conn.uid of the same EVE log)",
               "event.id", "metadata.correlation_uid"),
        *ENDPOINTS,
        Column("proto", S, "transport protocol, lower case: tcp, udp, icmp", "network.transport",
               "connection_info.protocol_name"),
        Column("app_proto", S, "application protocol the engine saw (EVE app_proto, Snort service)",
               "network.protocol", "app_name"),
        Column("direction", S, "to_server / to_client (EVE) or C2S / S2C / UNK (Snort)", "network.direction",
               "connection_info.direction"),
        Column("gid", I64, "generator id (1 for text rules)", "", "finding_info.product_uid"),
        Column("signature_id", I64, "rule sid", "rule.id", "finding_info.uid"),
        Column("rev", I64, "rule revision", "rule.version", ""),
        Column("signature", S, "rule message (msg); gid:sid:rev when the log carries no message",
               "rule.name", "finding_info.title"),
        Column("category", S, "rule classification (classtype text)", "rule.category", "finding_info.types"),
        Column("severity", I64, "engine priority: 1 most severe (Suricata severity, Snort priority)",
               "event.severity", "severity_id"),
        Column("action", S, "what the engine did: allowed/blocked (Suricata), allow/drop/... (Snort)",
               "event.action", "action"),
        Column("attack", pa.list_(S), "ATT&CK technique and tactic ids from the rule metadata (T1071, TA0011)",
               "threat.technique.id", "attacks.technique.uid"),
        Column("metadata", S, "rule metadata as a JSON object of lists (EVE alert.metadata)", "rule.metadata",
               "finding_info.attacks"),
    ),
)
