"""Sysmon events attacks leave, beyond process, network, file and DNS: their mappings as data.

7 image loaded -> ``proc.image_load``; 8 CreateRemoteThread and 10 ProcessAccess -> ``proc.access``;
12/13/14 registry -> ``proc.registry``; 17/18 named pipes -> ``proc.pipe``; 25 ProcessTampering ->
``proc.tamper``. Times are the event's ``UtcTime``, as for the other Sysmon rows. Sysmon 10 spells
``SourceProcessGUID`` / ``TargetProcessGUID`` where 8 spells ``...Guid``: both are read.
"""

from __future__ import annotations

from typing import Any

from winnow.sources.windows_map import (
    PROC_USED,
    TIME,
    Mapping,
    Rule,
    boolean,
    const,
    field,
    nonempty,
    sysmon_proc,
    to_int,
)

_IMAGE_LOAD_USED = PROC_USED | {"ImageLoaded", "FileVersion", "Description", "Product", "Company",
                                "OriginalFileName", "Hashes", "Signed", "Signature", "SignatureStatus"}

_IMAGE_LOAD = Mapping("proc.image_load", sysmon_proc(
    field("loaded", nonempty, "ImageLoaded"), field("file_version", nonempty, "FileVersion"),
    field("description", nonempty, "Description"), field("product", nonempty, "Product"),
    field("company", nonempty, "Company"), field("original_file_name", nonempty, "OriginalFileName"),
    field("hashes", nonempty, "Hashes"), field("signed", boolean, "Signed"),
    field("signature", nonempty, "Signature"), field("signature_status", nonempty, "SignatureStatus"),
), _IMAGE_LOAD_USED)


def _either(first: Any, second: Any) -> str | None:
    return nonempty(first) or nonempty(second)


def _either_int(first: Any, second: Any) -> int | None:
    return to_int(_either(first, second))


def _access_rules(action: str, *rules: Rule) -> tuple[Rule, ...]:
    return (
        Rule("ts", lambda utc, logged: utc or logged, ("UtcTime", TIME), passed=(1,)), const("action", action),
        field("pid", to_int, "SourceProcessId"),
        Rule("process_guid", _either, ("SourceProcessGUID", "SourceProcessGuid")),
        field("image", nonempty, "SourceImage"), field("user", nonempty, "SourceUser"),
        field("target_pid", to_int, "TargetProcessId"),
        Rule("target_process_guid", _either, ("TargetProcessGUID", "TargetProcessGuid")),
        field("target_image", nonempty, "TargetImage"), field("target_user", nonempty, "TargetUser"),
        *rules,
    )


_ACCESS_BOTH = frozenset({"UtcTime", "SourceProcessId", "SourceProcessGUID", "SourceProcessGuid", "SourceImage",
                          "SourceUser", "TargetProcessId", "TargetProcessGUID", "TargetProcessGuid", "TargetImage",
                          "TargetUser"})

_PROCESS_ACCESS = Mapping("proc.access", _access_rules(
    "access", field("thread_id", to_int, "SourceThreadId"), field("granted_access", nonempty, "GrantedAccess"),
    field("call_trace", nonempty, "CallTrace"),
), _ACCESS_BOTH | {"SourceThreadId", "GrantedAccess", "CallTrace"})

_REMOTE_THREAD = Mapping("proc.access", _access_rules(
    "remote_thread", field("new_thread_id", to_int, "NewThreadId"), field("start_address", nonempty, "StartAddress"),
    field("start_module", nonempty, "StartModule"), field("start_function", nonempty, "StartFunction"),
), _ACCESS_BOTH | {"NewThreadId", "StartAddress", "StartModule", "StartFunction"})

#: Sysmon's registry EventType -> action
REGISTRY_ACTIONS = {"createkey": "create", "createvalue": "create", "deletekey": "delete", "deletevalue": "delete",
                    "setvalue": "set", "renamekey": "rename", "renamevalue": "rename"}


def _registry_action(event_type: Any, fallback: str | None) -> str | None:
    """The action from Sysmon's EventType; the event id's own when a shipper overwrote it (NXLog's INFO)."""
    return REGISTRY_ACTIONS.get((nonempty(event_type) or "").lower(), fallback)


def _registry(fallback: str | None) -> Mapping:
    """Sysmon 12 (fallback None: create or delete), 13 (set) or 14 (rename)."""
    return Mapping("proc.registry", sysmon_proc(
        Rule("action", lambda event_type: _registry_action(event_type, fallback), ("EventType",)),
        field("event_type", nonempty, "EventType"),
        field("target_object", nonempty, "TargetObject"), field("details", nonempty, "Details"),
        field("new_name", nonempty, "NewName"),
    ), PROC_USED | {"EventType", "TargetObject", "Details", "NewName"})


def _pipe(action: str) -> Mapping:
    return Mapping("proc.pipe", sysmon_proc(const("action", action), field("pipe_name", nonempty, "PipeName")),
                   PROC_USED | {"PipeName", "EventType"})


_TAMPER = Mapping("proc.tamper", sysmon_proc(field("tamper_type", nonempty, "Type")), PROC_USED | {"Type"})

#: Sysmon event id -> mapping, for the events of this module
SYSMON_ATTACK_EVENTS: dict[int, Mapping] = {
    7: _IMAGE_LOAD, 8: _REMOTE_THREAD, 10: _PROCESS_ACCESS, 12: _registry(None), 13: _registry("set"),
    14: _registry("rename"), 17: _pipe("create"), 18: _pipe("connect"), 25: _TAMPER,
}
