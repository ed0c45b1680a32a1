"""Map one Windows event to rows of the normalized tables (pure functions, no I/O).

Every event gives a ``win.event`` row; Sysmon 1/3/5/11/22, Security 4688 and the Security logon
and Kerberos events also give a row of ``proc.exec``, ``proc.net``, ``proc.file``, ``proc.dns`` or
``auth.logon`` (mapped here); the events attacks leave in other tables are mapped in
:mod:`~winnow.sources.windows_map_sysmon` and :mod:`~winnow.sources.windows_map_audit`, and
:mod:`~winnow.sources.windows_events` holds the one table of (log, event id) -> mapping. Rows are
plain dicts of column -> Python value; ``ts`` (and ``creation_time``) stay text as logged and are parsed
per batch by :mod:`winnow.sources.windows_rows`. ``extra`` is a dict of the event-data fields that have no
column (values as text), or None.

The mappings are data: each mapped kind of event has a :class:`Mapping`, a list of :class:`Rule` (a column
computed by a pure function of event-data fields) and the fields that have a column. Row by row, a mapping
is called on one event; the EVTX source also runs the same rules column-wise over a block of events, each
function once per distinct combination of its inputs, so every mapping rule is written once, here.

Times: ``win.event`` and Security rows use the record's ``SystemTime``; Sysmon rows use the event's
own ``UtcTime`` (when the process, connection or query happened), which can differ from the time
the record was written by minutes or days (seen in the Mordor LSASS campaign).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as field_
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

#: ``json.dumps(value, ensure_ascii=False, separators=(",", ":"))``, with the encoder built once (``dumps`` with
#: options builds one per call)
compact_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


# ---------------------------------------------------------------- value helpers


def text(value: Any) -> str | None:
    """A value as text for ``extra`` (JSON for nested values, lower-case booleans)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return compact_json(value)
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


# ---------------------------------------------------------------- mapping rules as data

#: input naming the record's SystemTime (``EventHeader.time``) rather than an event-data field
TIME = "@time"
#: input naming the record's System UserID (``EventHeader.user_sid``)
USER_SID = "@user_sid"
#: input naming the record's Execution ProcessID (``EventHeader.process_id``)
PROCESS_ID = "@process_id"
#: header inputs: the EventHeader attribute and the ``win.event`` column each stands for
HEADER_INPUTS: dict[str, tuple[str, str]] = {TIME: ("time", "ts"), USER_SID: ("user_sid", "user_sid"),
                                             PROCESS_ID: ("process_id", "process_id")}
#: prefix of an input naming a column computed by an earlier rule of the same mapping
COMPUTED = "$"


@dataclass(frozen=True, slots=True)
class Rule:
    """One column of a mapped row: ``column = fn(*inputs)``.

    An input is an event-data field name (its value as decoded from JSON, None when absent), a header input
    (:data:`HEADER_INPUTS`: :data:`TIME`, :data:`USER_SID`, :data:`PROCESS_ID`), or ``"$column"``, the value an
    earlier rule gave. Columns starting with ``_`` are intermediate values, not written. ``fn`` must be pure:
    the same rules run row by row (:meth:`Mapping.__call__`) and column-wise, once per distinct combination of
    input values (:mod:`winnow.sources.windows_columns`).
    """

    column: str
    fn: Callable[..., Any]
    inputs: tuple[str, ...] = ()
    #: positions of inputs that ``fn`` only ever returns as they are, never looks at (``value or fallback``: the
    #: fallback): column-wise, ``fn`` then runs once per distinct combination of the other inputs
    passed: tuple[int, ...] = ()


def const(column: str, value: Any) -> Rule:
    """A column with the same value in every row."""
    return Rule(column, lambda: value)


def field(column: str, fn: Callable[[Any], Any], name: str) -> Rule:
    """A column from one event-data field through one helper."""
    return Rule(column, fn, (name,))


@dataclass(frozen=True, slots=True)
class Mapping:
    """How one kind of event becomes a row of ``table``: its rules, and the fields they use (the rest is ``extra``).

    Calling it maps one event; the rules are compiled once into a straight-line function (no loop over
    rules, no lookup of input kinds per event): about 3x faster on the per-record paths (Sysmon JSON).
    """

    table: str
    rules: tuple[Rule, ...]
    used: frozenset[str]
    #: the event's fields sit in a ``UserData`` element (1102, 104): lift them to the top first (:func:`user_data`)
    unwrap: bool = False
    _mapped: Callable[[EventHeader, dict], Row] = field_(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_mapped", _compile(self.rules, self.used))

    def __call__(self, head: EventHeader, data: dict) -> tuple[str, Row]:
        """The table and row of one event (``host``, ``event_id``, ``record_id``, the rules' columns, ``extra``)."""
        return self.table, self._mapped(head, user_data(data) if self.unwrap else data)


def user_data(data: dict) -> dict:
    """Event data with the fields of its ``UserData`` element at the top level.

    EVTX renders ``{"UserData": {"LogFileCleared": {"#attributes": .., "SubjectUserName": ..}}}``, Winlogbeat
    ``{"UserData": {"xml_name": "LogFileCleared", "SubjectUserName": ..}}``; flat exports (Mordor) have the
    fields at the top already and are returned as they are.
    """
    wrapped = data.get("UserData")
    if not isinstance(wrapped, dict):
        return data
    out = {k: v for k, v in data.items() if k != "UserData"}
    inner = [v for v in wrapped.values() if isinstance(v, dict)]
    for part in inner or [wrapped]:
        out.update((k, v) for k, v in part.items() if k not in ("#attributes", "xml_name"))
    return out


def _compile(rules: tuple[Rule, ...], used: frozenset[str]) -> Callable[[EventHeader, dict], Row]:
    """One function computing every rule in order, as :class:`Rule` defines them (inputs: event-data field,
    :data:`TIME` or an earlier rule's ``$column``; ``_`` columns not written), then ``extra``."""
    env: dict[str, Any] = {"_who": _who, "_rest": _rest, "_used": used}
    body = ["def mapped(head, data):", "    get = data.get", "    row = _who(head)"]
    latest: dict[str, str] = {}
    for i, rule in enumerate(rules):
        args = []
        for name in rule.inputs:
            if name in HEADER_INPUTS:
                args.append(f"head.{HEADER_INPUTS[name][0]}")
            elif name[0] == COMPUTED:
                args.append(latest[name[1:]])
            else:
                args.append(f"get({name!r})")
        env[f"f{i}"] = rule.fn
        body.append(f"    v{i} = f{i}({', '.join(args)})")
        latest[rule.column] = f"v{i}"
        if rule.column[0] != "_":
            body.append(f"    row[{rule.column!r}] = v{i}")
    body += ["    row['extra'] = _rest(data, _used)", "    return row"]
    exec("\n".join(body), env)  # noqa: S102  (source built from rule positions and column names only)
    return env["mapped"]


# ---------------------------------------------------------------- Sysmon


def _first(value: Any, fallback: Any) -> Any:
    return value or fallback


def _sysmon_proc(*rules: Rule) -> tuple[Rule, ...]:
    return (Rule("ts", _first, ("UtcTime", TIME), passed=(1,)), field("pid", to_int, "ProcessId"),
            field("process_guid", _str, "ProcessGuid"), field("image", _str, "Image"), field("user", _str, "User"),
            *rules)


_PROC_USED = frozenset({"UtcTime", "ProcessId", "ProcessGuid", "Image", "User"})
_START_USED = _PROC_USED | {"CommandLine", "ParentProcessId", "ParentProcessGuid", "ParentImage", "ParentCommandLine",
                            "CurrentDirectory", "Hashes", "IntegrityLevel", "LogonId"}

_SYSMON_START = Mapping("proc.exec", _sysmon_proc(
    const("action", "start"), field("command_line", _str, "CommandLine"), field("ppid", to_int, "ParentProcessId"),
    field("parent_process_guid", _str, "ParentProcessGuid"), field("parent_image", _str, "ParentImage"),
    field("parent_command_line", _str, "ParentCommandLine"), field("cwd", _str, "CurrentDirectory"),
    field("hashes", _str, "Hashes"), field("integrity_level", _str, "IntegrityLevel"),
    field("logon_id", _str, "LogonId"),
), _START_USED)

_SYSMON_END = Mapping("proc.exec", _sysmon_proc(const("action", "end")), _PROC_USED)

_NET_USED = _PROC_USED | {"Protocol", "Initiated", "SourceIp", "SourcePort", "DestinationIp", "DestinationPort",
                          "DestinationHostname", "SourceIsIpv6"}


def _outbound(initiated: Any) -> bool:
    return _bool(initiated) is not False


def _swapped(outbound: bool, src_port: int | None, dst_port: int | None) -> bool:
    # src_* must be the originator of the connection. Outbound (Initiated=true): Sysmon's Source is this
    # host, the originator. Inbound (Initiated=false): Sysmon versions disagree. Many log the local,
    # accepting side as "Source" (EVTX samples: Source 10.0.2.17:139 <- Destination 10.0.2.18:49184) but
    # others log the remote originator there (Mordor: Source 172.18.39.5:58193 -> Destination .39.7:445).
    # The accepting side is the one on the service port, so when the logged Source has the lower port it is
    # the local side: swap so that src_* is the remote originator (and the resolved name follows its side).
    return not outbound and src_port is not None and dst_port is not None and src_port < dst_port


def _pick(swapped: bool, logged: Any, other: Any) -> Any:
    """The logged side's value, or the other side's when the sides are swapped."""
    return other if swapped else logged


def _proto(value: Any) -> str | None:
    return (_str(value) or "").lower() or None


def _family(value: Any) -> str | None:
    ipv6 = _bool(value)
    return None if ipv6 is None else "inet6" if ipv6 else "inet"


_SYSMON_NET = Mapping("proc.net", _sysmon_proc(
    field("_outbound", _outbound, "Initiated"),
    field("_src_ip", _ip, "SourceIp"), field("_src_port", to_int, "SourcePort"),
    field("_dst_ip", _ip, "DestinationIp"), field("_dst_port", to_int, "DestinationPort"),
    field("_src_name", _str, "SourceHostname"), field("_dst_name", _str, "DestinationHostname"),
    Rule("_swapped", _swapped, ("$_outbound", "$_src_port", "$_dst_port")),
    Rule("action", lambda outbound: "connect" if outbound else "accept", ("$_outbound",)),
    Rule("direction", lambda outbound: "outbound" if outbound else "inbound", ("$_outbound",)),
    field("proto", _proto, "Protocol"),
    Rule("src_ip", _pick, ("$_swapped", "$_src_ip", "$_dst_ip"), passed=(1, 2)),
    Rule("src_port", _pick, ("$_swapped", "$_src_port", "$_dst_port"), passed=(1, 2)),
    Rule("dst_ip", _pick, ("$_swapped", "$_dst_ip", "$_src_ip"), passed=(1, 2)),
    Rule("dst_port", _pick, ("$_swapped", "$_dst_port", "$_src_port"), passed=(1, 2)),
    Rule("dst_hostname", _pick, ("$_swapped", "$_dst_name", "$_src_name"), passed=(1, 2)),
    field("family", _family, "SourceIsIpv6"), const("success", True),
), _NET_USED)

_FILE_USED = _PROC_USED | {"TargetFilename", "CreationUtcTime"}

_SYSMON_FILE = Mapping("proc.file", _sysmon_proc(
    const("action", "create"), field("path", _str, "TargetFilename"),
    field("creation_time", _str, "CreationUtcTime"),
), _FILE_USED)

_DNS_USED = _PROC_USED | {"QueryName", "QueryStatus", "QueryResults"}

_SYSMON_DNS = Mapping("proc.dns", _sysmon_proc(
    field("query", _str, "QueryName"), field("status", to_int, "QueryStatus"), field("results", _str, "QueryResults"),
), _DNS_USED)


# ---------------------------------------------------------------- Security


_EXEC_USED = frozenset({"NewProcessName", "CommandLine", "NewProcessId", "ProcessId", "ParentProcessName",
                        "MandatoryLabel"})


def _identity(value: Any) -> Any:
    return value


def _exec_user(target_domain: Any, target_user: Any, subject_domain: Any, subject_user: Any) -> str | None:
    return _account(target_domain, target_user) or _account(subject_domain, subject_user)


def _exec_logon_id(target_logon: Any, subject_logon: Any) -> str | None:
    target = _str(target_logon)
    return target if target not in (None, "0x0") else _str(subject_logon)


def _integrity(mandatory_label: Any, elevation: Any) -> str | None:
    label = _str(mandatory_label)
    return INTEGRITY.get(label.upper(), label) if label else ELEVATION.get(_str(elevation) or "")


_SECURITY_EXEC = Mapping("proc.exec", (
    Rule("ts", _identity, (TIME,)), const("action", "start"), field("pid", to_int, "NewProcessId"),
    field("image", _str, "NewProcessName"), field("command_line", _str, "CommandLine"),
    field("ppid", to_int, "ProcessId"), field("parent_image", _str, "ParentProcessName"),
    Rule("user", _exec_user, ("TargetDomainName", "TargetUserName", "SubjectDomainName", "SubjectUserName")),
    Rule("logon_id", _exec_logon_id, ("TargetLogonId", "SubjectLogonId")),
    Rule("integrity_level", _integrity, ("MandatoryLabel", "TokenElevationType")),
), _EXEC_USED)


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


def _reason(failed: bool, sub_status: Any, status: Any, failure_reason: Any) -> str | None:
    if not failed:
        return None
    reason = status_reason(sub_status, status)
    if reason is None:
        reason = FAILURE_TEXT.get(_str(failure_reason) or "", _str(failure_reason))
    return reason


def _logon_type(value: Any) -> str | None:
    return None if value is None else str(value)


def _port(value: Any) -> int | None:
    return to_int(_str(value))


def _workstation(name: Any, workstation: Any) -> str | None:
    return _str(name) or _str(workstation)


def _auth(event_id: int) -> Mapping:
    """The mapping of one Security logon or Kerberos event id."""
    action, failed = LOGON_EVENTS[event_id]
    side = "Subject" if event_id == 4672 else "Target"  # 4672: the privileged account is the subject
    if event_id in _KERBEROS or event_id == 4776:
        outcome = Rule("_failed", lambda status: failed or bool(to_int(status)), ("Status",))
    else:
        outcome = const("_failed", failed)
    if event_id in _KERBEROS or event_id == 4776:
        method = const("method", "kerberos" if event_id in _KERBEROS else "ntlm")
    else:
        method = field("method", _proto, "AuthenticationPackageName")
    return Mapping("auth.logon", (
        Rule("ts", _identity, (TIME,)), const("action", action), outcome,
        Rule("outcome", lambda failed_: "failure" if failed_ else "success", ("$_failed",)),
        field("user", _str, f"{side}UserName"), field("domain", _str, f"{side}DomainName"),
        field("src_ip", _ip, "IpAddress"), field("src_port", _port, "IpPort"),
        field("logon_type", _logon_type, "LogonType"), method,
        Rule("reason", _reason, ("$_failed", "SubStatus", "Status", "FailureReason")),
        const("subject_user", None) if event_id == 4672 else field("subject_user", _str, "SubjectUserName"),
        field("logon_id", _str, f"{side}LogonId"), field("process", _str, "ProcessName"),
        field("pid", to_int, "ProcessId"), Rule("workstation", _workstation, ("WorkstationName", "Workstation")),
        field("service", _str, "ServiceName"), field("ticket_encryption", _str, "TicketEncryptionType"),
    ), _AUTH_USED)


#: the helpers the other mapping modules (:mod:`~winnow.sources.windows_map_sysmon`,
#: :mod:`~winnow.sources.windows_map_audit`) build their rules from
nonempty, boolean, account, identity, sysmon_proc, PROC_USED = _str, _bool, _account, _identity, _sysmon_proc, \
    _PROC_USED
#: the helpers :mod:`~winnow.sources.windows_map_columns` has column-wise twins of
ip, first, pick, swapped = _ip, _first, _pick, _swapped

SYSMON_EVENTS: dict[int, Mapping] = {1: _SYSMON_START, 5: _SYSMON_END, 3: _SYSMON_NET, 11: _SYSMON_FILE,
                                     22: _SYSMON_DNS}
SECURITY_EVENTS: dict[int, Mapping] = {4688: _SECURITY_EXEC, **{eid: _auth(eid) for eid in LOGON_EVENTS}}


def win_event_row(head: EventHeader, data_json: str | None, extra: dict | None = None) -> Row:
    """The ``win.event`` row: the header, and the complete event data as JSON text."""
    return {"ts": head.time, "host": head.computer, "event_id": head.event_id, "record_id": head.record_id,
            "channel": head.channel, "provider": head.provider, "level": head.level, "task": head.task,
            "opcode": head.opcode, "keywords": head.keywords, "user_sid": head.user_sid,
            "process_id": head.process_id, "thread_id": head.thread_id, "data": data_json, "extra": extra}
