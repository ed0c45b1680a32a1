"""IDS alerts as findings: one finding per (source, destination, rule) with its alert count and first/last seen.

Reads ``ids.alert`` (Suricata EVE alerts, Snort alert_json/alert_csv/alert_fast). A rule is (gid,
signature_id); its message, classification and ATT&CK ids (rule metadata ``mitre_technique_id`` /
``mitre_tactic_id``) go into ``why`` and ``evidence``.

Severity follows the engine's priority, the number both Suricata (``alert.severity``, from the rule's
``priority`` or its classtype) and Snort print: 1 is the most severe. The map is a setting:

=====================================  ============  ==========================
priority                               severity      score band
=====================================  ============  ==========================
<= ``high_priority`` (1)               high          0.80 - 0.99
<= ``medium_priority`` (2)             medium        0.60 - 0.79
<= ``low_priority`` (3)                low           0.40 - 0.59
above (4: Snort's "very low")          info          0.20 - 0.39
=====================================  ============  ==========================

A record with no priority (Snort's default alert_csv, priority 0 of rules without one) counts as
``missing_priority``. Within its band a group's score grows with the log of its alert count (component
``volume``: 1 alert -> 0, ``full_count`` alerts -> 1), so repeated alerts rank above one-offs of the same
priority without ever changing the severity the rule's author chose.
"""

from __future__ import annotations

import json
import math
from typing import ClassVar

import ibis

from winnow.detections.base import Detector
from winnow.detections.registry import register
from winnow.engine import Engine, Window, fetch
from winnow.scoring import Finding
from winnow.sources.ids_rows import attack_ids

#: (lowest score, severity name, priority component) of each band, most severe first
_BANDS = ((0.8, "high", 1.0), (0.6, "medium", 0.75), (0.4, "low", 0.5), (0.2, "info", 0.25))
_BLOCKED = ("blocked", "drop", "block", "reject", "sdrop", "would_drop", "would_block")


@register
class IdsAlerts(Detector):
    """Args:
    high_priority: alert priority (1 = most severe, Suricata severity / Snort priority) at or below which a
        group is high severity.
    medium_priority: priority at or below which a group is medium (above high_priority).
    low_priority: priority at or below which a group is low; larger priorities are info.
    missing_priority: priority assumed for alerts whose log gives none (or gives 0).
    full_count: alerts in one group at which its volume sub-score reaches 1.
    limit: most findings kept, highest scores first.
    """

    name: ClassVar[str] = "ids"
    description: ClassVar[str] = "IDS alerts (Suricata, Snort) per source, destination and rule, ranked by priority"
    tables: ClassVar[tuple[str, ...]] = ("ids.alert",)

    def __init__(self, high_priority: int = 1, medium_priority: int = 2, low_priority: int = 3,
                 missing_priority: int = 3, full_count: int = 1000, limit: int = 1000) -> None:
        self.high_priority = high_priority
        self.medium_priority = medium_priority
        self.low_priority = low_priority
        self.missing_priority = missing_priority
        self.full_count = full_count
        self.limit = limit

    def find(self, engine: Engine, window: Window) -> list[Finding]:
        alerts = engine.table("ids.alert", window)
        if alerts is None:
            return []
        priority = ibis.coalesce(
            (alerts.severity > 0).ifelse(alerts.severity, ibis.null("int64")), ibis.literal(self.missing_priority)
        )
        blocked = alerts.action.lower().isin(_BLOCKED).fill_null(False)
        alerts = alerts.mutate(priority=priority, blocked=blocked.ifelse(1, 0))
        groups = alerts.group_by(["src_ip", "dst_ip", "gid", "signature_id"]).aggregate(
            alerts=alerts.count(),
            priority=alerts.priority.min(),
            signature=alerts.signature.max(),
            category=alerts.category.max(),
            metadata=alerts.metadata.max(),
            rev=alerts.rev.max(),
            first_seen=alerts.ts.min(),
            last_seen=alerts.ts.max(),
            dst_ports=alerts.dst_port.nunique(),
            dst_port=alerts.dst_port.max(),
            proto=alerts.proto.max(),
            app_proto=alerts.app_proto.max(),
            blocked=alerts.blocked.sum(),
            engines=alerts.engine.nunique(),
            engine=alerts.engine.max(),
            sensors=alerts.sensor.nunique(),
        )
        rows = fetch(groups.order_by(["priority", ibis.desc("alerts"), "src_ip", "dst_ip", "gid", "signature_id"]))
        findings = [self._finding(r) for r in rows.to_pylist()]
        findings.sort(key=lambda f: (-f.score, f.entity))
        return findings[: self.limit]

    def _band(self, priority: int) -> tuple[float, str, float]:
        for limit, band in zip((self.high_priority, self.medium_priority, self.low_priority), _BANDS, strict=False):
            if priority <= limit:
                return band
        return _BANDS[-1]

    def _finding(self, r: dict) -> Finding:
        floor, severity, level = self._band(int(r["priority"]))
        count = int(r["alerts"])
        volume = min(1.0, math.log(count) / math.log(max(self.full_count, 2)))
        score = min(floor + 0.19 * volume, 0.99)
        attack = None
        if r["metadata"]:
            try:
                attack = attack_ids(json.loads(r["metadata"]))
            except ValueError:
                attack = None
        rule = f"{r['gid']}:{r['signature_id']}" + (f":{r['rev']}" if r["rev"] is not None else "")
        port = r["dst_port"] if r["dst_ports"] == 1 else None
        proto = r["proto"] or "?"
        target = f"{r['dst_ip']}:{port}/{proto}" if port is not None else f"{r['dst_ip']} ({proto})"
        if r["dst_ports"] > 1:
            target = f"{r['dst_ip']} on {r['dst_ports']} ports ({proto})"
        evidence = {
            "alerts": count, "rule": rule, "signature": r["signature"], "category": r["category"],
            "priority": int(r["priority"]), "attack": attack, "proto": r["proto"], "app_proto": r["app_proto"],
            "dst_ports": r["dst_ports"], "blocked": int(r["blocked"] or 0), "engine": r["engine"],
            "engines": r["engines"], "sensors": r["sensors"],
        }
        span = "once" if count == 1 else f"{count} times"
        why = (
            f"{r['engine'] or 'an IDS'} rule {rule} \"{r['signature']}\""
            + (f" ({r['category']})" if r["category"] else "")
            + f" fired {span} from {r['src_ip']} to {target}, priority {int(r['priority'])} -> {severity}"
            + (f"; ATT&CK {', '.join(attack)}" if attack else "")
            + (f"; {int(r['blocked'])} of them blocked" if r["blocked"] else "")
        )
        return Finding(
            detector=self.name, score=score, severity=severity,
            entity=f"{r['src_ip']}->{r['dst_ip']} {r['gid']}:{r['signature_id']}",
            src=r["src_ip"], dst=r["dst_ip"], dport=port, first_seen=r["first_seen"], last_seen=r["last_seen"],
            components={"priority": level, "volume": volume}, evidence=evidence, why=why,
        )
