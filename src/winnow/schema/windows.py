"""Windows tables of the events attacks leave: Sysmon 7/8/10/12-14/17/18/25, PowerShell 4103/4104, and the
Security/System audit of services, scheduled tasks, audit policy, log clearing, group changes and directory access.

Filled by the EVTX and Windows JSON sources (:mod:`winnow.sources.windows_events` says which event goes where);
every record is also in ``win.event`` with its complete event data. Columns that Windows logs as
``DOMAIN\\user`` keep that form; ``subject_*`` columns are the account that made the change.

``proc.access`` holds both Sysmon 10 (ProcessAccess, ``action`` = ``access``) and Sysmon 8
(CreateRemoteThread, ``action`` = ``remote_thread``): both are one process reaching into another's memory
(credential theft from LSASS, injection), with the same source and target process columns, and a hunt
for one nearly always wants the other (OCSF's Process Activity holds both, as activities Open and Inject).
One table lets a detector read source -> target once; the columns only one of them has are null in the other.
"""

from __future__ import annotations

import pyarrow as pa

from winnow.schema.endpoint import _PROC, _WHO
from winnow.schema.model import Column, Table

S, I64, B = pa.string(), pa.int64(), pa.bool_()

_SUBJECT = (
    Column("subject_user", S, "account that made the change (SubjectUserName)", "user.name", "actor.user.name"),
    Column("subject_domain", S, "its domain (SubjectDomainName)", "user.domain", "actor.user.domain"),
    Column("subject_sid", S, "its security id (SubjectUserSid; System events: the record's UserID)", "user.id",
           "actor.user.uid"),
    Column("subject_logon_id", S, "its logon session (SubjectLogonId): joins auth.logon.logon_id",
           "winlog.logon.id", "actor.session.uid"),
)

PROC_IMAGE_LOAD = Table(
    "proc.image_load",
    "One row per image (DLL, driver, executable) loaded into a process (Sysmon 7).",
    _WHO + _PROC + (
        Column("loaded", S, "path of the loaded image (ImageLoaded)", "dll.path", "module.file.path"),
        Column("file_version", S, "version resource of the loaded image", "dll.pe.file_version",
               "module.file.version"),
        Column("description", S, "its description resource", "dll.pe.description", "module.file.desc"),
        Column("product", S, "its product name resource", "dll.pe.product", "module.file.product.name"),
        Column("company", S, "its company resource", "dll.pe.company", "module.file.company_name"),
        Column("original_file_name", S, "its OriginalFileName resource (survives renaming)",
               "dll.pe.original_file_name", ""),
        Column("hashes", S, "its hashes as logged (SHA256=...,MD5=...)", "dll.hash.*", "module.file.hashes"),
        Column("signed", B, "it carries a signature (Signed)", "dll.code_signature.exists",
               "module.file.signature"),
        Column("signature", S, "signer (Signature)", "dll.code_signature.subject_name",
               "module.file.signature.certificate.subject"),
        Column("signature_status", S, "signature check result (Valid, Expired, Unavailable, ...)",
               "dll.code_signature.status", "module.file.signature.state"),
    ),
)

PROC_ACCESS = Table(
    "proc.access",
    "One row per process opening another process (Sysmon 10, action access) or starting a thread in it "
    "(Sysmon 8, action remote_thread); the source is the acting process (pid, image ...), the target the other.",
    _WHO + (
        Column("action", S, "access (Sysmon 10 ProcessAccess) or remote_thread (Sysmon 8 CreateRemoteThread)",
               "event.action", "activity_name"),
        Column("pid", I64, "source process id", "process.pid", "actor.process.pid"),
        Column("process_guid", S, "source ProcessGuid", "process.entity_id", "actor.process.uid"),
        Column("image", S, "source executable path", "process.executable", "actor.process.file.path"),
        Column("user", S, "account the source ran as (SourceUser, newer Sysmon)", "user.name", "actor.user.name"),
        Column("thread_id", I64, "source thread id (Sysmon 10 SourceThreadId)", "process.thread.id",
               "actor.process.tid"),
        Column("target_pid", I64, "target process id", "winlog.event_data.TargetProcessId", "process.pid"),
        Column("target_process_guid", S, "target ProcessGuid", "winlog.event_data.TargetProcessGUID",
               "process.uid"),
        Column("target_image", S, "target executable path (C:\\Windows\\system32\\lsass.exe ...)",
               "winlog.event_data.TargetImage", "process.file.path"),
        Column("target_user", S, "account the target ran as (TargetUser, newer Sysmon)",
               "winlog.event_data.TargetUser", "process.user.name"),
        Column("granted_access", S, "access mask granted, hex text as logged (0x1010, 0x1fffff ...; Sysmon 10)",
               "winlog.event_data.GrantedAccess", "actual_permissions"),
        Column("call_trace", S, "stack of the open call, module+offset|... (UNKNOWN frames: injected code; "
               "Sysmon 10)", "winlog.event_data.CallTrace", ""),
        Column("new_thread_id", I64, "id of the thread started in the target (Sysmon 8)",
               "winlog.event_data.NewThreadId", ""),
        Column("start_address", S, "start address of the new thread, hex text (Sysmon 8)",
               "winlog.event_data.StartAddress", ""),
        Column("start_module", S, "module holding the start address (null: none, e.g. shellcode; Sysmon 8)",
               "winlog.event_data.StartModule", "module.file.path"),
        Column("start_function", S, "exported function at the start address (LoadLibraryW ...; Sysmon 8)",
               "winlog.event_data.StartFunction", "module.function_name"),
    ),
)

PROC_REGISTRY = Table(
    "proc.registry",
    "One row per registry change by a process (Sysmon 12 key/value created or deleted, 13 value set, "
    "14 key or value renamed).",
    _WHO + _PROC + (
        Column("action", S, "create, delete, set or rename (null when the record lost Sysmon's EventType)",
               "event.action", "activity_name"),
        Column("event_type", S, "Sysmon EventType as logged (CreateKey, DeleteKey, DeleteValue, SetValue, "
               "RenameKey ...)", "winlog.event_data.EventType", ""),
        Column("target_object", S, "registry key or value path (HKLM\\..., HKU\\...)", "registry.path",
               "reg_value.path"),
        Column("details", S, "value written (Sysmon 13 Details: DWORD (0x...), text, Binary Data)",
               "registry.data.strings", "reg_value.data"),
        Column("new_name", S, "new key or value name (Sysmon 14 NewName)", "winlog.event_data.NewName", ""),
    ),
)

PROC_PIPE = Table(
    "proc.pipe",
    "One row per named pipe created (Sysmon 17) or connected to (Sysmon 18) by a process.",
    _WHO + _PROC + (
        Column("action", S, "create or connect", "event.action", "activity_name"),
        Column("pipe_name", S, "pipe name (\\PSEXESVC, \\MSSE-1234-server, <Anonymous Pipe> ...)", "file.name",
               "file.name"),
    ),
)

PROC_TAMPER = Table(
    "proc.tamper",
    "One row per process image tampering Sysmon saw (Sysmon 25 ProcessTampering: hollowing, herpaderping).",
    _WHO + _PROC + (
        Column("tamper_type", S, "what changed (Type: Image is replaced, Image is locked for access)",
               "winlog.event_data.Type", "activity_name"),
    ),
)

PROC_SCRIPT = Table(
    "proc.script",
    "One row per PowerShell script block (4104, action script_block) or module-logging pipeline record "
    "(4103, action module), from Microsoft-Windows-PowerShell/Operational or PowerShellCore/Operational.",
    _WHO + (
        Column("action", S, "script_block (4104) or module (4103)", "event.action", "activity_name"),
        Column("pid", I64, "PowerShell process id (the record's Execution ProcessID)", "process.pid",
               "actor.process.pid"),
        Column("user_sid", S, "security id of the account running PowerShell (the record's UserID)", "user.id",
               "actor.user.uid"),
        Column("user", S, "account running PowerShell (4103 ContextInfo User)", "user.name", "actor.user.name"),
        Column("script_block_id", S, "ScriptBlockId: the parts of one long script share it (4104)",
               "powershell.file.script_block_id", "script.uid"),
        Column("message_number", I64, "part number of the script block (4104 MessageNumber)", "", ""),
        Column("message_total", I64, "number of parts of the script block (4104 MessageTotal)", "", ""),
        Column("script_text", S, "the script block's text (4104 ScriptBlockText)",
               "powershell.file.script_block_text", "script.script_content"),
        Column("script_path", S, "script file it came from (4104 Path; 4103 Script Name)", "file.path",
               "script.file.path"),
        Column("host_application", S, "command line of the hosting process (4103 Host Application)",
               "process.command_line", "actor.process.cmd_line"),
        Column("command_name", S, "cmdlet or function run (4103 Command Name)", "powershell.command.name", ""),
        Column("command_type", S, "Cmdlet, Function, Script, ... (4103 Command Type)", "powershell.command.type",
               ""),
        Column("payload", S, "pipeline details: CommandInvocation(...) and ParameterBinding(...) lines (4103 "
               "Payload)", "powershell.command.invocation_details", ""),
    ),
)

WIN_SERVICE = Table(
    "win.service",
    "One row per service installed (Security 4697, System 7045 from the Service Control Manager): psexec, "
    "remote service creation and driver loading leave these.",
    _WHO + (
        Column("action", S, "installed", "event.action", "activity_name"),
        Column("service_name", S, "service name", "service.name", "service.name"),
        Column("image_path", S, "command the service runs (7045 ImagePath, 4697 ServiceFileName)",
               "winlog.event_data.ImagePath", "process.cmd_line"),
        Column("service_type", S, "service type as logged (7045: user mode service, kernel mode driver ...; "
               "4697: 0x10 ...)", "service.type", ""),
        Column("start_type", S, "start type as logged (7045: auto start, demand start ...; 4697: 2, 3 ...)",
               "winlog.event_data.StartType", ""),
        Column("account", S, "account the service runs as (LocalSystem ...)", "winlog.event_data.AccountName",
               "user.name"),
        *_SUBJECT,
    ),
)

WIN_TASK = Table(
    "win.task",
    "One row per scheduled task created (Security 4698), deleted (4699), enabled (4700), disabled (4701) or "
    "updated (4702).",
    _WHO + (
        Column("action", S, "created, deleted, enabled, disabled or updated", "event.action", "activity_name"),
        Column("task_name", S, "task path and name (\\Microsoft\\Windows\\...)", "winlog.event_data.TaskName",
               "job.name"),
        Column("task_content", S, "the task's XML definition (TaskContent; 4702 TaskContentNew)",
               "winlog.event_data.TaskContent", "job.file.path"),
        Column("command", S, "the task's Exec actions, command and arguments (from the XML; ; between actions)",
               "process.command_line", "job.cmd_line"),
        *_SUBJECT,
    ),
)

WIN_AUDIT = Table(
    "win.audit",
    "One row per change to what Windows records: audit policy changed (Security 4719), Security log cleared "
    "(1102), another log cleared (System 104).",
    _WHO + (
        Column("action", S, "policy_changed or log_cleared", "event.action", "activity_name"),
        *_SUBJECT,
        Column("channel", S, "log that was cleared (1102: Security; 104: its Channel field)",
               "winlog.event_data.Channel", "metadata.log_name"),
        Column("backup_path", S, "where the cleared log was backed up (104 BackupPath)", "", ""),
        Column("category", S, "audit category changed, in words when known (4719 CategoryId)",
               "winlog.event_data.CategoryId", ""),
        Column("subcategory", S, "audit subcategory changed, code as logged (4719 SubcategoryId, %%12544 ...)",
               "winlog.event_data.SubcategoryId", ""),
        Column("subcategory_guid", S, "audit subcategory GUID (4719 SubcategoryGuid)",
               "winlog.event_data.SubcategoryGuid", ""),
        Column("changes", S, "what changed, in words when known (4719 AuditPolicyChanges: success removed, "
               "failure added ...)", "winlog.event_data.AuditPolicyChanges", ""),
    ),
)

AUTH_GROUP = Table(
    "auth.group",
    "One row per member added to or removed from a security-enabled group (Security 4728/4729 global, "
    "4732/4733 local, 4756/4757 universal).",
    _WHO + (
        Column("action", S, "member_added or member_removed", "event.action", "activity_name"),
        Column("group_scope", S, "global, local or universal", "", "group.type"),
        Column("group_name", S, "group name (TargetUserName: Administrators, Domain Admins ...)", "group.name",
               "group.name"),
        Column("group_domain", S, "group domain (TargetDomainName; Builtin for local groups)", "group.domain",
               "group.domain"),
        Column("group_sid", S, "group security id (TargetSid; S-1-5-32-544 = Administrators)", "group.id",
               "group.uid"),
        Column("member_name", S, "member's distinguished name (MemberName; null for local accounts)",
               "user.target.name", "user.name"),
        Column("member_sid", S, "member's security id (MemberSid)", "user.target.id", "user.uid"),
        *_SUBJECT,
    ),
)

WIN_DS_ACCESS = Table(
    "win.ds_access",
    "One row per audited operation on an Active Directory (or other audited) object (Security 4662). "
    "DCSync shows as properties holding the replication rights GUIDs 1131f6aa-9c07-11d1-f79f-00c04fc2dcd2, "
    "1131f6ad-9c07-11d1-f79f-00c04fc2dcd2 or 89e95b76-444d-4c62-991a-0facbeda640c used by an account "
    "that is not a domain controller.",
    _WHO + (
        *_SUBJECT,
        Column("object_server", S, "object server (DS for Active Directory)", "", ""),
        Column("object_type", S, "object class, often a GUID (%{19195a5b-...} = domainDNS)", "", ""),
        Column("object_name", S, "object distinguished name or GUID", "", ""),
        Column("operation_type", S, "operation (Object Access, Query ...)", "event.action", "activity_name"),
        Column("access_mask", S, "access mask as logged (0x100 = control access)", "", ""),
        Column("access_list", S, "accesses as logged (%%7688 ...)", "", ""),
        Column("properties", S, "properties and extended rights used, GUIDs as logged ({1131f6aa-...} ...)", "",
               ""),
        Column("additional_info", S, "AdditionalInfo as logged", "", ""),
    ),
)

WINDOWS_TABLES = (PROC_IMAGE_LOAD, PROC_ACCESS, PROC_REGISTRY, PROC_PIPE, PROC_TAMPER, PROC_SCRIPT, WIN_SERVICE,
                  WIN_TASK, WIN_AUDIT, AUTH_GROUP, WIN_DS_ACCESS)
