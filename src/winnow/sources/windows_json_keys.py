"""The keys of the Windows JSON exports: which fill the event header, which are the shipper's envelope."""

from __future__ import annotations

#: flat keys that fill the event header, by header field, first found wins
FLAT_HEADER: dict[str, tuple[str, ...]] = {
    "event_id": ("EventID", "EventId"),
    "channel": ("Channel",),
    "provider": ("SourceName", "Provider", "EventSourceName", "ProviderName"),
    "computer": ("Hostname", "Computer", "ComputerName"),
    "record_id": ("RecordNumber", "EventRecordID"),
    "time": ("TimeCreated", "TimeGenerated", "@timestamp", "EventTime"),
    "level": ("Level", "EventLevel"),
    "task": ("Task",),
    "opcode": ("OpcodeValue", "Opcode"),
    "keywords": ("Keywords",),
    "user_sid": ("UserID", "UserSid"),
    "process_id": ("ExecutionProcessID",),
    "thread_id": ("ThreadID",),
}
HEADER_KEYS = frozenset(k for keys in FLAT_HEADER.values() for k in keys)
#: flat keys added by the shipper (NXLog, Logstash, Sentinel): not event data
ENVELOPE = frozenset({
    "Message", "@version", "tags", "host", "port", "Severity", "SeverityValue", "SourceModuleName",
    "SourceModuleType", "EventReceivedTime", "EventType", "Category", "AccountName", "AccountType", "Domain",
    "ProviderGuid", "Version", "ERROR_EVT_UNRESOLVED", "ActivityID", "RelatedActivityID", "TenantId", "SourceSystem",
    "MG", "ManagementGroupName", "Type", "_ResourceId", "EventOriginId", "SourceComputerId", "TimeCollected",
    "Activity", "EventLevelName", "EventData",
})
#: envelope keys that events also use as event data, with the shipper's own values: NXLog's ``EventType`` (the
#: record's level) and Sentinel's ``Type`` (its table). Any other value is event data: Sysmon's registry and pipe
#: events have an EventType (CreateKey, SetValue, ConnectPipe ...), its 25 a Type (Image is replaced ...)
SHIPPER_VALUES = {
    "EventType": frozenset({"INFO", "WARNING", "ERROR", "CRITICAL", "VERBOSE", "AUDIT_SUCCESS", "AUDIT_FAILURE"}),
    "Type": frozenset({"WindowsEvent", "SecurityEvent", "Event"}),
}
#: Winlogbeat ``winlog`` keys that fill the header
WINLOG_USED = frozenset({"event_id", "channel", "provider_name", "computer_name", "record_id", "event_data",
                          "user_data", "process", "user"})
