"""Security, System and PowerShell events attacks leave: their mappings as data.

* ``win.service``: Security 4697 and System 7045 (Service Control Manager), a service installed.
* ``win.task``: Security 4698-4702, a scheduled task created, deleted, enabled, disabled or updated.
* ``win.audit``: Security 4719 audit policy changed, 1102 Security log cleared, System 104 a log cleared
  (1102 and 104 carry their fields in ``UserData``; see :func:`~winnow.sources.windows_map.user_data`).
* ``auth.group``: Security 4728/4729, 4732/4733, 4756/4757, a member added to or removed from a group.
* ``win.ds_access``: Security 4662, an operation on a directory object (DCSync reads its properties).
* ``proc.script``: PowerShell 4104 script blocks and 4103 module logging.

Times are the record's ``SystemTime``.
"""

from __future__ import annotations

import html
import re
from typing import Any

from winnow.sources.windows_map import (
    PROCESS_ID,
    TIME,
    USER_SID,
    Mapping,
    Rule,
    const,
    field,
    identity,
    nonempty,
    to_int,
)

_SUBJECT_USED = frozenset({"SubjectUserName", "SubjectDomainName", "SubjectUserSid", "SubjectLogonId"})


def _subject(sid_fallback: bool = False) -> tuple[Rule, ...]:
    """The ``subject_*`` columns; with ``sid_fallback`` the record's UserID stands in for a missing SubjectUserSid."""
    sid = Rule("subject_sid", lambda sid, user_sid: nonempty(sid) or nonempty(user_sid), ("SubjectUserSid", USER_SID)) \
        if sid_fallback else field("subject_sid", nonempty, "SubjectUserSid")
    return (field("subject_user", nonempty, "SubjectUserName"), field("subject_domain", nonempty, "SubjectDomainName"),
            sid, field("subject_logon_id", nonempty, "SubjectLogonId"))


def _logged(*rules: Rule) -> tuple[Rule, ...]:
    return (Rule("ts", identity, (TIME,)), *rules)


# ---------------------------------------------------------------- services

def _first_of(first: Any, second: Any) -> str | None:
    return nonempty(first) or nonempty(second)


_SERVICE_USED = _SUBJECT_USED | {"ServiceName", "ImagePath", "ServiceFileName", "ServiceType", "StartType",
                                 "ServiceStartType", "AccountName", "ServiceAccount"}

_SERVICE = Mapping("win.service", _logged(
    const("action", "installed"), field("service_name", nonempty, "ServiceName"),
    Rule("image_path", _first_of, ("ImagePath", "ServiceFileName")), field("service_type", nonempty, "ServiceType"),
    Rule("start_type", _first_of, ("StartType", "ServiceStartType")),
    Rule("account", _first_of, ("AccountName", "ServiceAccount")), *_subject(sid_fallback=True),
), _SERVICE_USED)


# ---------------------------------------------------------------- scheduled tasks

_EXEC = re.compile(r"<Exec>(.*?)</Exec>", re.S)
_COMMAND = re.compile(r"<Command>(.*?)</Command>", re.S)
_ARGUMENTS = re.compile(r"<Arguments>(.*?)</Arguments>", re.S)


def task_command(content: Any) -> str | None:
    """The Exec actions of a task's XML, ``command arguments``, ``; `` between actions (None when it has none)."""
    xml = nonempty(content)
    if not xml:
        return None
    commands = []
    for action in _EXEC.findall(xml):
        command, arguments = _COMMAND.search(action), _ARGUMENTS.search(action)
        parts = [html.unescape(m.group(1).strip()) for m in (command, arguments) if m and m.group(1).strip()]
        if parts:
            commands.append(" ".join(parts))
    return "; ".join(commands) or None


def _task(action: str) -> Mapping:
    return Mapping("win.task", _logged(
        const("action", action), field("task_name", nonempty, "TaskName"),
        Rule("task_content", _first_of, ("TaskContent", "TaskContentNew")),
        Rule("command", task_command, ("$task_content",)), *_subject(),
    ), _SUBJECT_USED | {"TaskName", "TaskContent", "TaskContentNew"})


# ---------------------------------------------------------------- audit policy and log clearing

#: 4719 CategoryId message codes
AUDIT_CATEGORIES = {"%%8272": "System", "%%8273": "Logon/Logoff", "%%8274": "Object Access",
                    "%%8275": "Privilege Use", "%%8276": "Detailed Tracking", "%%8277": "Policy Change",
                    "%%8278": "Account Management", "%%8279": "DS Access", "%%8280": "Account Logon"}
#: 4719 AuditPolicyChanges message codes
AUDIT_CHANGES = {"%%8448": "success removed", "%%8449": "success added", "%%8450": "failure removed",
                 "%%8451": "failure added"}


def _category(value: Any) -> str | None:
    code = nonempty(value)
    return None if code is None else AUDIT_CATEGORIES.get(code.strip(), code)


def _changes(value: Any) -> str | None:
    codes = nonempty(value)
    if codes is None:
        return None
    return ", ".join(AUDIT_CHANGES.get(code.strip(), code.strip()) for code in codes.split(",") if code.strip())


_POLICY = Mapping("win.audit", _logged(
    const("action", "policy_changed"), *_subject(), field("category", _category, "CategoryId"),
    field("subcategory", nonempty, "SubcategoryId"), field("subcategory_guid", nonempty, "SubcategoryGuid"),
    field("changes", _changes, "AuditPolicyChanges"),
), _SUBJECT_USED | {"CategoryId", "SubcategoryId", "SubcategoryGuid", "AuditPolicyChanges"})

_SECURITY_CLEARED = Mapping("win.audit", _logged(
    const("action", "log_cleared"), *_subject(sid_fallback=True), const("channel", "Security"),
), _SUBJECT_USED, unwrap=True)

_LOG_CLEARED = Mapping("win.audit", _logged(
    const("action", "log_cleared"), *_subject(sid_fallback=True), field("channel", nonempty, "Channel"),
    field("backup_path", nonempty, "BackupPath"),
), _SUBJECT_USED | {"Channel", "BackupPath"}, unwrap=True)


# ---------------------------------------------------------------- group membership

def _group(action: str, scope: str) -> Mapping:
    return Mapping("auth.group", _logged(
        const("action", action), const("group_scope", scope), field("group_name", nonempty, "TargetUserName"),
        field("group_domain", nonempty, "TargetDomainName"), field("group_sid", nonempty, "TargetSid"),
        field("member_name", nonempty, "MemberName"), field("member_sid", nonempty, "MemberSid"), *_subject(),
    ), _SUBJECT_USED | {"TargetUserName", "TargetDomainName", "TargetSid", "MemberName", "MemberSid"})


GROUP_EVENTS = {4728: ("member_added", "global"), 4729: ("member_removed", "global"),
                4732: ("member_added", "local"), 4733: ("member_removed", "local"),
                4756: ("member_added", "universal"), 4757: ("member_removed", "universal")}


# ---------------------------------------------------------------- directory service access

_DS_ACCESS = Mapping("win.ds_access", _logged(
    *_subject(), field("object_server", nonempty, "ObjectServer"), field("object_type", nonempty, "ObjectType"),
    field("object_name", nonempty, "ObjectName"), field("operation_type", nonempty, "OperationType"),
    field("access_mask", nonempty, "AccessMask"), field("access_list", nonempty, "AccessList"),
    field("properties", nonempty, "Properties"), field("additional_info", nonempty, "AdditionalInfo"),
), _SUBJECT_USED | {"ObjectServer", "ObjectType", "ObjectName", "OperationType", "AccessMask", "AccessList",
                    "Properties", "AdditionalInfo"})


# ---------------------------------------------------------------- PowerShell

def context_info(value: Any) -> dict[str, str]:
    """4103 ContextInfo (``Host Application = ...`` lines) as a dict; empty values left out."""
    info = nonempty(value)
    if not info:
        return {}
    out = {}
    for line in info.splitlines():
        key, sep, val = line.partition("=")
        if sep and key.strip() and val.strip():
            out[key.strip()] = val.strip()
    return out


def _context(key: str) -> Any:
    return lambda info: info.get(key)


_SCRIPT_BLOCK = Mapping("proc.script", _logged(
    const("action", "script_block"), Rule("pid", identity, (PROCESS_ID,)), Rule("user_sid", identity, (USER_SID,)),
    field("script_block_id", nonempty, "ScriptBlockId"), field("message_number", to_int, "MessageNumber"),
    field("message_total", to_int, "MessageTotal"), field("script_text", nonempty, "ScriptBlockText"),
    field("script_path", nonempty, "Path"),
), frozenset({"ScriptBlockId", "MessageNumber", "MessageTotal", "ScriptBlockText", "Path"}))

_MODULE = Mapping("proc.script", _logged(
    const("action", "module"), Rule("pid", identity, (PROCESS_ID,)), Rule("user_sid", identity, (USER_SID,)),
    field("_info", context_info, "ContextInfo"), Rule("user", _context("User"), ("$_info",)),
    Rule("script_path", _context("Script Name"), ("$_info",)),
    Rule("host_application", _context("Host Application"), ("$_info",)),
    Rule("command_name", _context("Command Name"), ("$_info",)),
    Rule("command_type", _context("Command Type"), ("$_info",)), field("payload", nonempty, "Payload"),
), frozenset({"ContextInfo", "Payload"}))


#: (log, event id) -> mapping, for the events of this module; logs as :mod:`winnow.sources.windows_events` names them
AUDIT_EVENTS: dict[tuple[str, int], Mapping] = {
    ("security", 4697): _SERVICE, ("system", 7045): _SERVICE,
    ("security", 4698): _task("created"), ("security", 4699): _task("deleted"),
    ("security", 4700): _task("enabled"), ("security", 4701): _task("disabled"),
    ("security", 4702): _task("updated"),
    ("security", 4719): _POLICY, ("security", 1102): _SECURITY_CLEARED, ("system", 104): _LOG_CLEARED,
    **{("security", eid): _group(action, scope) for eid, (action, scope) in GROUP_EVENTS.items()},
    ("security", 4662): _DS_ACCESS,
    ("powershell", 4104): _SCRIPT_BLOCK, ("powershell", 4103): _MODULE,
}
