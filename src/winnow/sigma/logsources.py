"""Where a Sigma rule reads: its logsource as a lake table plus a row filter, its fields as columns.

Windows rules all read ``win.event``, the raw layer that holds every event with its event data as a JSON
object (``data``): a Sysmon category becomes the Sysmon channel and its event ids (pySigma's own Sysmon
mapping), a service its channel (pySigma's Windows mapping), ``process_creation`` also Security 4688
(whose fields are named differently: :data:`ALTERNATES`). Fields of the System section are columns of
``win.event`` (:data:`SYSTEM_COLUMNS`); every other field is read from ``data`` by name (from the one
element of ``UserData`` when the event has user data instead of event data; Defender's ``Threat Name``
for ``ThreatName``).

Linux rules with a category read the typed tables the auditd source writes (``proc.exec``, ``proc.net``,
``proc.file``) under the field names of :data:`LINUX_FIELDS`; the lake keeps no raw auditd or syslog
record, so ``service: auditd`` and keyword rules on syslog are reported as unsupported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sigma.pipelines.common import windows_logsource_mapping
from sigma.pipelines.sysmon.sysmon import sysmon_generic_logsource_eventid_mapping
from sigma.pipelines.windows.windows import windows_generic_category_channel_mapping

SYSMON = "Microsoft-Windows-Sysmon/Operational"

#: Sigma field names of the System section -> win.event column
SYSTEM_COLUMNS = {
    "EventID": "event_id", "Channel": "channel", "Provider_Name": "provider", "Provider": "provider",
    "Computer": "host", "ComputerName": "host", "Hostname": "host", "Level": "level", "Task": "task",
    "Opcode": "opcode", "Keywords": "keywords", "EventRecordID": "record_id", "SecurityUserID": "user_sid",
    "UserID": "user_sid",
}
#: integer columns of win.event (compared as numbers; as text for wildcards)
INTEGER_COLUMNS = {"event_id", "level", "task", "opcode", "record_id", "process_id", "thread_id",
                   "pid", "ppid", "src_port", "dst_port", "uid", "auid"}

#: Sysmon field name -> the Security 4688 field holding the same thing (read when the Sysmon one is absent)
ALTERNATES = {"Image": ("NewProcessName",), "ParentImage": ("ParentProcessName",), "LogonId": ("SubjectLogonId",)}

#: Linux categories -> (table, Sigma field -> column)
LINUX_FIELDS: dict[str, tuple[str, dict[str, str]]] = {
    "process_creation": ("proc.exec", {
        "Image": "image", "CommandLine": "command_line", "ParentImage": "parent_image",
        "ParentCommandLine": "parent_command_line", "User": "user", "CurrentDirectory": "cwd", "ProcessId": "pid",
        "ParentProcessId": "ppid", "LogonId": "logon_id", "Computer": "host", "uid": "uid", "auid": "auid"}),
    "network_connection": ("proc.net", {
        "Image": "image", "User": "user", "DestinationIp": "dst_ip", "DestinationPort": "dst_port",
        "DestinationHostname": "dst_hostname", "SourceIp": "src_ip", "SourcePort": "src_port", "Protocol": "proto",
        "ProcessId": "pid", "Computer": "host"}),
    "file_event": ("proc.file", {
        "TargetFilename": "path", "Image": "image", "User": "user", "ProcessId": "pid", "Computer": "host"}),
}

_FIELD_NAME = re.compile(r"^[A-Za-z0-9_@-]+$")
#: Defender writes its event data names with spaces ("Threat Name") where rules write ThreatName
DEFENDER = "Windows Defender"
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


class Unsupported(Exception):
    """A rule Winnow cannot run; ``reason`` is a short, countable label, ``detail`` says what exactly."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Clause:
    """Rows of one channel (or any, when empty) and one of ``event_ids`` (or any, when empty)."""

    channels: tuple[str, ...] = ()
    event_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Source:
    """The table a rule reads and the rows of it (any of ``clauses``; all rows when there is none).

    ``fields`` maps Sigma field names to columns for typed tables; None means win.event (System columns,
    the rest from the event data).
    """

    table: str
    clauses: tuple[Clause, ...] = ()
    linux: bool = False

    @property
    def key(self) -> str:
        """Rules of one key are evaluated in one scan."""
        parts = [self.table] + [f"{'|'.join(c.channels)}#{','.join(map(str, c.event_ids))}" for c in self.clauses]
        return " ".join(parts)

    def column(self, field: str) -> tuple[str, str | tuple[str, ...]]:
        """``("column", name)`` or ``("json", keys)`` for a Sigma field; :class:`Unsupported` when unmapped."""
        if self.table != "win.event":
            mapping = LINUX_FIELDS[_category_of(self.table)][1]
            if field not in mapping:
                raise Unsupported("unmapped field", f"{field} has no column in {self.table}")
            return "column", mapping[field]
        if field in SYSTEM_COLUMNS:
            return "column", SYSTEM_COLUMNS[field]
        if not _FIELD_NAME.match(field):
            raise Unsupported("unmapped field", f"field name {field!r} cannot be read from the event data")
        keys = (field, *ALTERNATES.get(field, ()))
        if any(DEFENDER in c for clause in self.clauses for c in clause.channels):
            spaced = _CAMEL.sub(" ", field)
            keys += (spaced,) if spaced != field else ()
        return "json", keys


def _category_of(table: str) -> str:
    return next(c for c, (t, _) in LINUX_FIELDS.items() if t == table)


def _channels(service: str) -> tuple[str, ...]:
    value = windows_logsource_mapping.get(service)
    if value is None:
        raise Unsupported("unmapped logsource", f"windows service {service!r} has no known channel")
    return (value,) if isinstance(value, str) else tuple(value)


def _ids(value: int | list[int]) -> tuple[int, ...]:
    return (value,) if isinstance(value, int) else tuple(value)


def source_for(product: str | None, category: str | None, service: str | None) -> Source:
    """The :class:`Source` of a rule's logsource; :class:`Unsupported` when the lake has no such events."""
    if product == "windows":
        return Source("win.event", _windows_clauses(category, service))
    if product == "linux":
        if category in LINUX_FIELDS and service is None:
            return Source(LINUX_FIELDS[category][0], (), linux=True)
        what = f"service {service!r}" if service else f"category {category!r}"
        raise Unsupported("no raw linux log table", f"linux {what}: the lake keeps auditd and syslog only as "
                          "typed rows (proc.exec, proc.net, proc.file, auth.logon)")
    raise Unsupported("unmapped logsource", f"product {product!r} is not a Windows or Linux log")


def _windows_clauses(category: str | None, service: str | None) -> tuple[Clause, ...]:
    if category is None:
        return (Clause(_channels(service)),) if service else ()
    if category in windows_generic_category_channel_mapping:
        info = windows_generic_category_channel_mapping[category]
        return (Clause(_channels(info["service"]), _ids(info["EventID"])),)
    if category in sysmon_generic_logsource_eventid_mapping:
        clauses = [Clause((SYSMON,), _ids(sysmon_generic_logsource_eventid_mapping[category]))]
        if category == "process_creation":
            clauses.append(Clause(("Security",), (4688,)))
        return tuple(clauses)
    raise Unsupported("unmapped logsource", f"windows category {category!r} has no known event source")
