"""Endpoint, authentication and Windows tables (Sysmon, Security, auditd, sshd/sudo) and the conn-process join."""

from __future__ import annotations

import pyarrow as pa

from winnow.schema.model import ENDPOINTS, TS, Column, Table

S, I64, I32, F64, B = pa.string(), pa.int64(), pa.int32(), pa.float64(), pa.bool_()

_WHO = (
    Column("ts", TS, "when the event happened (UTC)", "@timestamp", "time"),
    Column("host", S, "host the event was logged on (computer name or hostname)", "host.name", "device.hostname"),
    Column("event_id", I64, "Windows event id (Sysmon 1, Security 4688, ...); null for auditd/syslog",
           "event.code", "metadata.event_code"),
    Column("record_id", I64, "event record id (EVTX) or audit serial number (auditd)",
           "event.sequence", "metadata.sequence"),
)
_PROC = (
    Column("pid", I64, "process id", "process.pid", "process.pid"),
    Column("process_guid", S, "Sysmon ProcessGuid (or host:pid:start for auditd): unique per process instance",
           "process.entity_id", "process.uid"),
    Column("image", S, "executable path", "process.executable", "process.file.path"),
    Column("user", S, "account the process ran as (DOMAIN\\user, or the Linux user name / uid)",
           "user.name", "actor.user.name"),
)

PROC_EXEC = Table(
    "proc.exec",
    "One row per process start or end (Sysmon 1 and 5, Security 4688, auditd execve).",
    _WHO + _PROC + (
        Column("action", S, "start or end", "event.action", "activity_name"),
        Column("ppid", I64, "parent process id", "process.parent.pid", "process.parent_process.pid"),
        Column("parent_process_guid", S, "parent's ProcessGuid", "process.parent.entity_id",
               "process.parent_process.uid"),
        Column("parent_image", S, "parent executable path", "process.parent.executable",
               "process.parent_process.file.path"),
        Column("command_line", S, "full command line (auditd: decoded execve arguments joined by spaces)",
               "process.command_line", "process.cmd_line"),
        Column("parent_command_line", S, "parent's command line", "process.parent.command_line",
               "process.parent_process.cmd_line"),
        Column("cwd", S, "working directory", "process.working_directory", "process.file.parent_folder"),
        Column("hashes", S, "image hashes as logged (SHA256=...,MD5=...)", "process.hash.*", "process.file.hashes"),
        Column("integrity_level", S, "Windows integrity level", "", "process.integrity"),
        Column("logon_id", S, "logon session id (Windows LogonId, auditd ses)", "winlog.logon.id",
               "process.session.uid"),
        Column("uid", I64, "numeric user id (auditd uid)", "user.id", "actor.user.uid"),
        Column("auid", I64, "audit (login) user id (auditd auid)", "", ""),
    ),
)

PROC_NET = Table(
    "proc.net",
    "One row per network connection seen on an endpoint with the process that made or accepted it "
    "(Sysmon 3, auditd connect/accept/bind). No byte counts: join net.conn for those (net.conn_proc).",
    _WHO + _PROC + (
        Column("action", S, "connect, accept or bind", "event.action", "activity_name"),
        Column("direction", S, "outbound (the process initiated) or inbound", "network.direction",
               "connection_info.direction"),
        Column("proto", S, "transport protocol: tcp, udp", "network.transport", "connection_info.protocol_name"),
        *ENDPOINTS,
        Column("dst_hostname", S, "responder name when the log resolved it", "destination.domain",
               "dst_endpoint.hostname"),
        Column("family", S, "address family: inet, inet6, unix", "", ""),
        Column("success", B, "the call succeeded (auditd success=yes; Sysmon logs only established ones)",
               "event.outcome", "status_id"),
    ),
)

PROC_FILE = Table(
    "proc.file",
    "One row per file created by a process (Sysmon 11, auditd creat), or opened under an audit watch rule "
    "(auditd open/openat).",
    _WHO + _PROC + (
        Column("action", S, "create or open", "event.action", "activity_name"),
        Column("path", S, "target file path", "file.path", "file.path"),
        Column("creation_time", TS, "file creation time reported by the event (UTC)", "file.created",
               "file.created_time"),
    ),
)

PROC_DNS = Table(
    "proc.dns",
    "One row per DNS lookup made by a process (Sysmon 22).",
    _WHO + _PROC + (
        Column("query", S, "queried name", "dns.question.name", "query.hostname"),
        Column("status", I64, "query status code (0 = success)", "", "rcode_id"),
        Column("results", S, "answers as logged (semicolon separated)", "dns.answers.data", "answers.rdata"),
    ),
)

AUTH_LOGON = Table(
    "auth.logon",
    "One row per authentication event: Windows Security 4624/4625/4634/4648/4672/4720/4768/4769/4776, "
    "sshd, PAM, sudo and Zeek ssh.",
    _WHO + (
        Column("action", S, "logon, logoff, explicit_credentials, special_privileges, user_created, tgt_request, "
               "service_ticket, credential_validation, setcred, sudo, disconnect, session_open, session_close, "
               "invalid_user, pam_failure",
               "event.action", "activity_name"),
        Column("outcome", S, "success, failure or unknown", "event.outcome", "status"),
        Column("user", S, "account the logon was for (target user)", "user.name", "user.name"),
        Column("domain", S, "account domain", "user.domain", "user.domain"),
        Column("src_ip", S, "address the attempt came from", "source.ip", "src_endpoint.ip", check="address"),
        Column("src_port", I32, "port the attempt came from", "source.port", "src_endpoint.port", check="port"),
        Column("dst_ip", S, "address of the server authenticated to (network sources)", "destination.ip",
               "dst_endpoint.ip", check="address"),
        Column("dst_port", I32, "port of the server authenticated to", "destination.port", "dst_endpoint.port",
               check="port"),
        Column("logon_type", S, "Windows logon type number, or ssh / sudo / console", "winlog.logon.type",
               "logon_type"),
        Column("method", S, "password, publickey, keyboard-interactive, none, kerberos, ntlm, negotiate, ...",
               "", "auth_protocol"),
        Column("reason", S, "why it failed (status/sub-status text, invalid user, ...)", "event.reason",
               "status_detail"),
        Column("subject_user", S, "account that asked (Windows SubjectUserName, sudo caller)",
               "user.effective.name", "actor.user.name"),
        Column("logon_id", S, "logon session id", "winlog.logon.id", "session.uid"),
        Column("process", S, "process that handled the logon (sshd, lsass, sudo ...)", "process.name",
               "actor.process.name"),
        Column("pid", I64, "process id of the handler", "process.pid", "actor.process.pid"),
        Column("attempts", I64, "authentication attempts this row stands for (Zeek ssh auth_attempts); 0 for rows "
               "that echo or describe an attempt counted on another row (PAM after sshd, Invalid user)", "", "count"),
        Column("command", S, "sudo command line", "process.command_line", "process.cmd_line"),
        Column("workstation", S, "client workstation name (Windows WorkstationName / Workstation)",
               "source.domain", "src_endpoint.hostname"),
        Column("service", S, "service the ticket is for (Kerberos 4769 ServiceName)", "service.name",
               "service.name"),
        Column("ticket_encryption", S, "Kerberos ticket encryption type as logged (0x17 = RC4: Kerberoasting)",
               "", "encryption_details.algorithm"),
    ),
)

WIN_EVENT = Table(
    "win.event",
    "Every Windows event record (EVTX or JSON export), whatever its id: the raw layer the mapped "
    "tables are drawn from.",
    _WHO + (
        Column("channel", S, "event log channel (Security, Microsoft-Windows-Sysmon/Operational, ...)",
               "winlog.channel", "metadata.log_name"),
        Column("provider", S, "provider name", "winlog.provider_name", "metadata.product.name"),
        Column("level", I64, "level (0-5)", "log.level", "severity_id"),
        Column("task", I64, "task number", "winlog.task", ""),
        Column("opcode", I64, "opcode", "winlog.opcode", ""),
        Column("keywords", S, "keywords mask as hex text", "winlog.keywords", ""),
        Column("user_sid", S, "security id in the System section", "winlog.user.identifier", "actor.user.uid"),
        Column("process_id", I64, "Execution ProcessID of the logging process", "winlog.process.pid", ""),
        Column("thread_id", I64, "Execution ThreadID", "winlog.process.thread.id", ""),
        Column("data", S, "EventData / UserData fields as a JSON object", "winlog.event_data", "unmapped"),
    ),
)

NET_CONN_PROC = Table(
    "net.conn_proc",
    "Each net.conn row joined to the endpoint process that opened (or accepted) it, from proc.net on the "
    "5-tuple within a clock-skew tolerance. One row per (connection, side); unmatched connections to or from "
    "an instrumented host are kept with match = unmatched.",
    (
        Column("ts", TS, "connection start (net.conn ts, UTC)", "@timestamp", "time"),
        Column("uid", S, "the connection's uid in net.conn", "zeek.session_id", "metadata.correlation_uid"),
        *ENDPOINTS,
        Column("proto", S, "transport protocol", "network.transport", "connection_info.protocol_name"),
        Column("src_bytes", I64, "payload bytes sent by the originator", "source.bytes", "traffic.bytes_out",
               check="count"),
        Column("dst_bytes", I64, "payload bytes sent by the responder", "destination.bytes", "traffic.bytes_in",
               check="count"),
        Column("side", S, "which end the process is on: src (it connected) or dst (it accepted)", "", ""),
        Column("host", S, "endpoint host name", "host.name", "device.hostname"),
        Column("pid", I64, "process id", "process.pid", "process.pid"),
        Column("process_guid", S, "process instance id", "process.entity_id", "process.uid"),
        Column("image", S, "executable path", "process.executable", "process.file.path"),
        Column("command_line", S, "command line (from proc.exec when known)", "process.command_line",
               "process.cmd_line"),
        Column("user", S, "account the process ran as", "user.name", "actor.user.name"),
        Column("match", S, "exact, skew (matched within the tolerance), ambiguous or unmatched", "", ""),
        Column("skew_s", F64, "endpoint time minus network time for the chosen match, seconds", "", ""),
        Column("candidates", I64, "endpoint events that fit the 5-tuple and tolerance", "", ""),
    ),
)

ENDPOINT_TABLES = (PROC_EXEC, PROC_NET, PROC_FILE, PROC_DNS, AUTH_LOGON, WIN_EVENT, NET_CONN_PROC)
