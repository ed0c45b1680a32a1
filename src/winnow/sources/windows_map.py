"""Map one Windows event to rows of the normalized tables (pure functions, no I/O).

Every event gives a ``win.event`` row; Sysmon 1/3/5/11/22, Security 4688 and the Security logon
and Kerberos events also give a row of ``proc.exec``, ``proc.net``, ``proc.file``, ``proc.dns`` or
``auth.logon``. Rows are plain dicts of column -> Python value; ``ts`` (and ``creation_time``) stay
text as logged and are parsed per batch by :mod:`winnow.sources.windows_rows`. ``extra`` is a dict
of the event-data fields that have no column (values as text), or None.

Times: ``win.event`` and Security rows use the record's ``SystemTime``; Sysmon rows use the event's
own ``UtcTime`` (when the process, connection or query happened), which can differ from the time
the record was written by minutes or days (seen in the Mordor LSASS campaign).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SYSMON = "Microsoft-Windows-Sysmon"
SECURITY = "Microsoft-Windows-Security-Auditing"

#: NTSTATUS and Kerberos result codes seen in failed logons, by value
STATUS_TEXT: dict[int, str] = {
    0xC000006A: "bad password",
    0xC0000064: "no such user",
    0xC000006D: "bad user name or password",
    0xC0000234: "account locked out",
    0xC0000072: "account disabled",
    0xC000006F: "outside allowed logon hours",
    0xC0000070: "workstation not allowed",
    0xC0000071: "password expired",
    0xC0000193: "account expired",
    0xC0000133: "clock out of sync with the domain controller",
    0xC0000224: "password must be changed",
    0xC000015B: "logon type not granted",
    0xC000005E: "no logon server available",
    0xC0000413: "blocked by the authentication firewall",
    0x6: "kerberos: unknown principal",
    0x12: "kerberos: client revoked (disabled, expired or locked out)",
    0x17: "kerberos: password expired",
    0x18: "kerberos: pre-authentication failed (bad password)",
    0x25: "kerberos: clock skew too great",
    0xE: "kerberos: encryption type not supported",
}
#: FailureReason message codes, used only when no status code is logged
FAILURE_TEXT = {"%%2313": "bad user name or password", "%%2307": "account locked out",
                "%%2310": "account disabled", "%%2309": "password expired"}
#: MandatoryLabel SIDs of 4688 to integrity levels
INTEGRITY = {"S-1-16-0": "Untrusted", "S-1-16-4096": "Low", "S-1-16-8192": "Medium", "S-1-16-8448": "Medium Plus",
             "S-1-16-12288": "High", "S-1-16-16384": "System", "S-1-16-20480": "Protected"}
#: TokenElevationType of 4688 when no MandatoryLabel is logged (type 1, the default token, says nothing)
ELEVATION = {"%%1937": "High", "%%1938": "Medium"}


@dataclass(slots=True)
class EventHeader:
    """The System part of an event, whatever the log format it came from."""

    event_id: int | None
    channel: str | None = None
    provider: str | None = None
    computer: str | None = None
    record_id: int | None = None
    time: str | None = None
    level: int | None = None
    task: int | None = None
    opcode: int | None = None
    keywords: str | None = None
    user_sid: str | None = None
    process_id: int | None = None
    thread_id: int | None = None


Row = dict[str, Any]
Mapper = Callable[[EventHeader, dict], tuple[str, Row]]


# ---------------------------------------------------------------- value helpers


def text(value: Any) -> str | None:
    """A value as text for ``extra`` (JSON for nested values, lower-case booleans)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _str(value: Any) -> str | None:
    """Text, with Windows' placeholders for "nothing" ("-", "") as None."""
    if value is None:
        return None
    value = text(value)
    return None if value in ("-", "") else value


def to_int(value: Any) -> int | None:
    """Decimal or ``0x`` hexadecimal text (or a number) to int; None when it is neither."""
    if type(value) is int or value is None:
        return value
    if isinstance(value, bool):
        return None
    raw = str(value).strip()
    try:
        return int(raw, 16) if raw[:2].lower() == "0x" else int(raw)
    except ValueError:
        return None


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool) or value is None:
        return value
    low = str(value).strip().lower()
    return True if low == "true" else False if low == "false" else None


def _ip(value: Any) -> str | None:
    """An address as logged, without the IPv4-mapped ``::ffff:`` prefix; "-" is None."""
    ip = _str(value)
    if ip is not None and ip.lower().startswith("::ffff:") and "." in ip:
        ip = ip[7:]
    return ip


def _account(domain: Any, user: Any) -> str | None:
    user, domain = _str(user), _str(domain)
    if user is None:
        return None
    return f"{domain}\\{user}" if domain else user


def _rest(data: dict, used: frozenset[str]) -> dict | None:
    rest = {k: text(v) for k, v in data.items() if k not in used and v is not None}
    return rest or None


def status_reason(*codes: Any) -> str | None:
    """Words for the first non-success status code (hex text or number), else the code as logged."""
    for code in codes:
        value = to_int(code)
        if value:
            return STATUS_TEXT.get(value, str(code).lower())
    return None


def _who(head: EventHeader) -> Row:
    return {"host": head.computer, "event_id": head.event_id, "record_id": head.record_id}


# ---------------------------------------------------------------- Sysmon


def _sysmon_proc(head: EventHeader, data: dict) -> Row:
    row = _who(head)
    row.update(ts=data.get("UtcTime") or head.time, pid=to_int(data.get("ProcessId")),
               process_guid=_str(data.get("ProcessGuid")), image=_str(data.get("Image")), user=_str(data.get("User")))
    return row


_PROC_USED = frozenset({"UtcTime", "ProcessId", "ProcessGuid", "Image", "User"})
_START_USED = _PROC_USED | {"CommandLine", "ParentProcessId", "ParentProcessGuid", "ParentImage", "ParentCommandLine",
                            "CurrentDirectory", "Hashes", "IntegrityLevel", "LogonId"}


def _sysmon_start(head: EventHeader, data: dict) -> tuple[str, Row]:
    row = _sysmon_proc(head, data)
    row.update(action="start", command_line=_str(data.get("CommandLine")), ppid=to_int(data.get("ParentProcessId")),
               parent_process_guid=_str(data.get("ParentProcessGuid")), parent_image=_str(data.get("ParentImage")),
               parent_command_line=_str(data.get("ParentCommandLine")), cwd=_str(data.get("CurrentDirectory")),
               hashes=_str(data.get("Hashes")), integrity_level=_str(data.get("IntegrityLevel")),
               logon_id=_str(data.get("LogonId")), extra=_rest(data, _START_USED))
    return "proc.exec", row


def _sysmon_end(head: EventHeader, data: dict) -> tuple[str, Row]:
    row = _sysmon_proc(head, data)
    row.update(action="end", extra=_rest(data, _PROC_USED))
    return "proc.exec", row


_NET_USED = _PROC_USED | {"Protocol", "Initiated", "SourceIp", "SourcePort", "DestinationIp", "DestinationPort",
                          "DestinationHostname", "SourceIsIpv6"}


def _sysmon_net(head: EventHeader, data: dict) -> tuple[str, Row]:
    row = _sysmon_proc(head, data)
    outbound = _bool(data.get("Initiated")) is not False
    src = (_ip(data.get("SourceIp")), to_int(data.get("SourcePort")))
    dst = (_ip(data.get("DestinationIp")), to_int(data.get("DestinationPort")))
    dst_name = _str(data.get("DestinationHostname"))
    # src_* must be the originator of the connection. Outbound (Initiated=true): Sysmon's Source is this
    # host, the originator. Inbound (Initiated=false): Sysmon versions disagree. Many log the local,
    # accepting side as "Source" (EVTX samples: Source 10.0.2.17:139 <- Destination 10.0.2.18:49184) but
    # others log the remote originator there (Mordor: Source 172.18.39.5:58193 -> Destination .39.7:445).
    # The accepting side is the one on the service port, so when the logged Source has the lower port it is
    # the local side: swap so that src_* is the remote originator (and the resolved name follows its side).
    if not outbound and src[1] is not None and dst[1] is not None and src[1] < dst[1]:
        src, dst = dst, src
        dst_name = _str(data.get("SourceHostname"))
    ipv6 = _bool(data.get("SourceIsIpv6"))
    row.update(action="connect" if outbound else "accept", direction="outbound" if outbound else "inbound",
               proto=(_str(data.get("Protocol")) or "").lower() or None, src_ip=src[0], src_port=src[1],
               dst_ip=dst[0], dst_port=dst[1], dst_hostname=dst_name,
               family=None if ipv6 is None else "inet6" if ipv6 else "inet", success=True,
               extra=_rest(data, _NET_USED))
    return "proc.net", row


_FILE_USED = _PROC_USED | {"TargetFilename", "CreationUtcTime"}


def _sysmon_file(head: EventHeader, data: dict) -> tuple[str, Row]:
    row = _sysmon_proc(head, data)
    row.update(action="create", path=_str(data.get("TargetFilename")),
               creation_time=_str(data.get("CreationUtcTime")), extra=_rest(data, _FILE_USED))
    return "proc.file", row


_DNS_USED = _PROC_USED | {"QueryName", "QueryStatus", "QueryResults"}


def _sysmon_dns(head: EventHeader, data: dict) -> tuple[str, Row]:
    row = _sysmon_proc(head, data)
    row.update(query=_str(data.get("QueryName")), status=to_int(data.get("QueryStatus")),
               results=_str(data.get("QueryResults")), extra=_rest(data, _DNS_USED))
    return "proc.dns", row


# ---------------------------------------------------------------- Security


_EXEC_USED = frozenset({"NewProcessName", "CommandLine", "NewProcessId", "ProcessId", "ParentProcessName",
                        "MandatoryLabel"})


def _security_exec(head: EventHeader, data: dict) -> tuple[str, Row]:
    row = _who(head)
    target = _account(data.get("TargetDomainName"), data.get("TargetUserName"))
    subject = _account(data.get("SubjectDomainName"), data.get("SubjectUserName"))
    target_logon = _str(data.get("TargetLogonId"))
    label = _str(data.get("MandatoryLabel"))
    level = INTEGRITY.get(label.upper(), label) if label else ELEVATION.get(_str(data.get("TokenElevationType")) or "")
    row.update(ts=head.time, action="start", pid=to_int(data.get("NewProcessId")),
               image=_str(data.get("NewProcessName")), command_line=_str(data.get("CommandLine")),
               ppid=to_int(data.get("ProcessId")),
               parent_image=_str(data.get("ParentProcessName")), user=target or subject,
               logon_id=target_logon if target_logon not in (None, "0x0") else _str(data.get("SubjectLogonId")),
               integrity_level=level, extra=_rest(data, _EXEC_USED))
    return "proc.exec", row


#: Security event id -> (action, the event stands for a failure whatever its status)
LOGON_EVENTS: dict[int, tuple[str, bool]] = {
    4624: ("logon", False), 4625: ("logon", True), 4634: ("logoff", False), 4647: ("logoff", False),
    4648: ("explicit_credentials", False), 4672: ("special_privileges", False), 4720: ("user_created", False),
    4768: ("tgt_request", False), 4769: ("service_ticket", False), 4771: ("tgt_request", True),
    4776: ("credential_validation", False),
}
_KERBEROS = {4768, 4769, 4771}
_AUTH_USED = frozenset({"TargetUserName", "TargetDomainName", "IpAddress", "IpPort", "LogonType",
                        "AuthenticationPackageName", "SubjectUserName", "TargetLogonId", "ProcessName", "ProcessId",
                        "Status", "SubStatus", "WorkstationName", "Workstation", "ServiceName",
                        "TicketEncryptionType"})


def _security_auth(head: EventHeader, data: dict) -> tuple[str, Row]:
    action, failed = LOGON_EVENTS[head.event_id or 0]
    eid = head.event_id
    row = _who(head)
    user, domain = _str(data.get("TargetUserName")), _str(data.get("TargetDomainName"))
    logon_id = _str(data.get("TargetLogonId"))
    if eid == 4672:  # the privileged account is the subject
        user, domain, logon_id = _str(data.get("SubjectUserName")), _str(data.get("SubjectDomainName")), \
            _str(data.get("SubjectLogonId"))
    status = data.get("Status")
    if eid in _KERBEROS or eid == 4776:
        failed = failed or bool(to_int(status))
    reason = None
    if failed:
        reason = status_reason(data.get("SubStatus"), status)
        if reason is None:
            reason = FAILURE_TEXT.get(_str(data.get("FailureReason")) or "", _str(data.get("FailureReason")))
    if eid in _KERBEROS:
        method = "kerberos"
    elif eid == 4776:
        method = "ntlm"
    else:
        method = (_str(data.get("AuthenticationPackageName")) or "").lower() or None
    logon_type = data.get("LogonType")
    row.update(ts=head.time, action=action, outcome="failure" if failed else "success", user=user, domain=domain,
               src_ip=_ip(data.get("IpAddress")), src_port=to_int(_str(data.get("IpPort"))),
               logon_type=None if logon_type is None else str(logon_type), method=method, reason=reason,
               subject_user=_str(data.get("SubjectUserName")) if eid != 4672 else None, logon_id=logon_id,
               process=_str(data.get("ProcessName")), pid=to_int(data.get("ProcessId")),
               workstation=_str(data.get("WorkstationName")) or _str(data.get("Workstation")),
               service=_str(data.get("ServiceName")), ticket_encryption=_str(data.get("TicketEncryptionType")),
               extra=_rest(data, _AUTH_USED))
    return "auth.logon", row


SYSMON_EVENTS: dict[int, Mapper] = {1: _sysmon_start, 5: _sysmon_end, 3: _sysmon_net, 11: _sysmon_file,
                                    22: _sysmon_dns}
SECURITY_EVENTS: dict[int, Mapper] = {4688: _security_exec, **dict.fromkeys(LOGON_EVENTS, _security_auth)}


def mapper(head: EventHeader) -> Mapper | None:
    """The function mapping this event to a normalized table, or None when only ``win.event`` takes it."""
    provider, channel = head.provider or "", head.channel or ""
    if provider == SYSMON or channel.startswith(SYSMON):
        return SYSMON_EVENTS.get(head.event_id or -1)
    if provider == SECURITY or channel == "Security":
        return SECURITY_EVENTS.get(head.event_id or -1)
    return None


def win_event_row(head: EventHeader, data_json: str | None, extra: dict | None = None) -> Row:
    """The ``win.event`` row: the header, and the complete event data as JSON text."""
    return {"ts": head.time, "host": head.computer, "event_id": head.event_id, "record_id": head.record_id,
            "channel": head.channel, "provider": head.provider, "level": head.level, "task": head.task,
            "opcode": head.opcode, "keywords": head.keywords, "user_sid": head.user_sid,
            "process_id": head.process_id, "thread_id": head.thread_id, "data": data_json, "extra": extra}


def map_event(head: EventHeader, data: dict | None, data_json: str | None = None,
              extra: dict | None = None) -> list[tuple[str, Row]]:
    """All rows of one event: ``("win.event", row)`` first, then the mapped table's row if any.

    Args:
        head: the System fields.
        data: the event data (EventData / UserData fields); None to decode ``data_json`` only when a
            table maps the event (EVTX keeps the parser's JSON text for the rest).
        data_json: ``data`` as JSON text if the caller has it, else rendered here.
        extra: header fields with no ``win.event`` column.
    """
    if data_json is None and data:
        data_json = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    rows = [("win.event", win_event_row(head, data_json, extra))]
    mapping = mapper(head)
    if mapping is not None:
        if data is None and data_json is not None and data_json.startswith("{"):
            data = json.loads(data_json)
        rows.append(mapping(head, data if isinstance(data, dict) else {}))
    return rows
