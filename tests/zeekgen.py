"""Write small Zeek TSV conn logs for tests (the real format, headers included)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

FIELDS = ("ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto service duration orig_bytes resp_bytes "
          "conn_state local_orig local_resp missed_bytes history orig_pkts orig_ip_bytes resp_pkts resp_ip_bytes "
          "tunnel_parents").split()
TYPES = ("time string addr port addr port enum string interval count count string bool bool count string count "
         "count count count set[string]").split()


#: Zeek's Site::local_nets in these fixtures: the private address space (Zeek's private_address_space_is_local)
LOCAL_NETS = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")]


def zeek_local(address: str) -> str:
    """``T``/``F`` as Zeek writes ``local_orig``/``local_resp`` for ``address`` with :data:`LOCAL_NETS`."""
    ip = ipaddress.ip_address(address)
    return "T" if any(ip in net for net in LOCAL_NETS if net.version == ip.version) else "F"


def conn_line(ts: float, uid: str, src: str, sport: int, dst: str, dport: int, duration: float | None = 1.0,
              sbytes: int = 100, dbytes: int = 200, proto: str = "tcp", state: str = "SF",
              service: str = "-", local: tuple[str, str] | None = None) -> str:
    """One conn.log line; ``local`` = (local_orig, local_resp) as written (``-`` for unset), default from LOCAL_NETS."""
    dur = "-" if duration is None else f"{duration:.6f}"
    lo, lr = local or (zeek_local(src), zeek_local(dst))
    return "\t".join([f"{ts:.6f}", uid, src, str(sport), dst, str(dport), proto, service, dur, str(sbytes),
                      str(dbytes), state, lo, lr, "0", "ShADadFf", "5", "400", "5", "500", "(empty)"])


def write_conn_log(path: Path, lines: list[str], close: bool = True) -> Path:
    header = ["#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-", "#path\tconn",
              "#open\t2026-11-02-00-00-00", "#fields\t" + "\t".join(FIELDS), "#types\t" + "\t".join(TYPES)]
    text = "\n".join(header + lines) + "\n" + ("#close\t2026-11-03-00-00-00\n" if close else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def long_conn_fixture(folder: Path) -> Path:
    """A day with one rare long SSH session, a long VPN session shared by 4 hosts, and short noise."""
    t0 = 1793577600.0  # 2026-11-02T00:00:00Z
    lines = [conn_line(t0 + 10, "CLong1", "10.0.0.5", 50000, "203.0.113.9", 22, 30000.0, 5_000_000, 90_000,
                       service="ssh")]
    for i in range(4):
        lines.append(conn_line(t0 + 20 + i, f"CVpn{i}", f"10.0.0.{20 + i}", 40000 + i, "198.51.100.1", 443,
                               20000.0, 1_000_000, 2_000_000, service="ssl"))
    for i in range(50):
        lines.append(conn_line(t0 + 100 + i * 60, f"CShort{i}", f"10.0.0.{30 + i % 10}", 30000 + i,
                               f"192.0.2.{i % 7}", 80, 0.5))
    lines.append(conn_line(t0 + 5000, "CNoDur", "10.0.0.40", 1234, "192.0.2.99", 53, None, 0, 0, "udp", "S0"))
    lines.sort()
    return write_conn_log(folder / "conn.log", lines)


DNS_FIELDS = ("ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto trans_id rtt query qclass qclass_name qtype "
              "qtype_name rcode rcode_name AA TC RD RA Z answers TTLs rejected").split()
DNS_TYPES = ("time string addr port addr port enum count interval string count string count string count string "
             "bool bool bool bool count vector[string] vector[interval] bool").split()
_QTYPES = {"A": 1, "TXT": 16, "AAAA": 28}


def dns_line(ts: float, uid: str, src: str, dst: str, query: str, qtype: str = "A", answers: str = "-") -> str:
    """One dns.log line of a NOERROR answer (``answers`` comma separated, ``-`` for none)."""
    ttls = "-" if answers == "-" else ",".join("300.000000" for _ in answers.split(","))
    return "\t".join([f"{ts:.6f}", uid, src, "53000", dst, "53", "udp", "1", "0.001", query, "1", "C_INTERNET",
                      str(_QTYPES[qtype]), qtype, "0", "NOERROR", "F", "F", "T", "T", "0", answers, ttls, "F"])


def write_dns_log(path: Path, lines: list[str]) -> Path:
    header = ["#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-", "#path\tdns",
              "#open\t2026-11-02-00-00-00", "#fields\t" + "\t".join(DNS_FIELDS), "#types\t" + "\t".join(DNS_TYPES)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(header + sorted(lines)) + "\n#close\t2026-11-03-00-00-00\n", encoding="utf-8")
    return path
