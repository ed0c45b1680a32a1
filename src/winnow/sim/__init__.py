"""Seeded simulator of an enterprise network that writes Zeek logs and a truth file.

`simulate(out, hosts, days, seed)` writes `out/zeek/<date>/{conn,dns,http,ssl}.log` in Zeek 6 TSV
format and `out/truth.json` listing everything planted (C2 beacons, scanners, fumblers, a DNS tunnel,
a large upload) and the rare benign periodic agents. Instrumented workstations also get endpoint logs
(`out/endpoint/<date>/{sysmon.json,audit.log}`) and `out/endpoint_truth.parquet` names the process
behind each of their connections (`endpoint`, `endpoint_procs`, `endpoint_format`). Modules, in the
order the world is built:
`network` (company and hosts), `internet` (sites, CDNs), `browsing`, `dns`, `internal`, `periodic`
(hard negatives), `attacks` (`beacons`, `scans`, `exfil`); traffic flows through `transport`/`web`
into `frames`, and `zeek_format`/`zeek_writer` write it out.
"""

from __future__ import annotations

from winnow.sim.core import simulate

__all__ = ["simulate"]
