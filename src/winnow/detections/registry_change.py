r"""Registry changes at the places attackers write to: autostarts, security switches, accounts, shares.

Sysmon 12/13/14 (``proc.registry``) log every registry change a Sysmon configuration keeps. Most are
noise; a few locations are where persistence, defence evasion and credential theft happen, and they are
public knowledge (MITRE ATT&CK T1547, T1546, T1562, T1112, T1136; Microsoft's documentation of each key).
``locations`` lists them: a name, a case-insensitive regular expression over the key path
(``target_object``), the ATT&CK technique, a weight (how alarming a change there is by itself) and what
it means. A change matching one scores its weight, then:

* **writer** ``+writer_bonus`` when the process writing is a script host or registry tool (reg.exe,
  powershell.exe, regedit.exe ...; ``script_hosts``) or runs from a user-writable folder (``\\Users\\``,
  ``\\ProgramData\\``, ``\\Temp\\`` ...; ``writable_dirs``): people and malware, not installers;
  ``-installer_discount`` when it is an installer or the OS servicing stack (msiexec.exe,
  TrustedInstaller.exe, TiWorker.exe; ``installers``);
* **value** ``+value_bonus`` when the value written names a script host, a user-writable path or runs
  code the way attackers do (``suspicious_values``: an autostart that runs ``powershell -enc`` or
  ``C:\\Users\\Public\\x.exe``, a service that runs ``%COMSPEC% /c echo … > \\.\pipe\…``);
* **switch off**: a location marked ``off`` (a security switch) counts only when the value turns the
  protection off or the key is deleted (``DWORD (0x00000000)``, deletion), and ``on`` locations only when
  they turn a dangerous feature on (``DWORD (0x00000001)``), so routine re-writes of the same value do not
  fire.

One finding per (host, location, writing image) and episode (changes more than ``gap_hours`` apart are
separate findings): the changes as evidence (count, key paths, values, first and last time), the
location's weight and the modifiers as components.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any, ClassVar

from winnow.detections._episodes import episode_label, episodes
from winnow.detections._records import checked, pattern
from winnow.detections._windows_paths import SCRIPT_HOSTS, USER_WRITABLE
from winnow.detections.base import Detector
from winnow.detections.registry import register
from winnow.engine import Engine, Window, fetch
from winnow.scoring import Finding

#: (name, key-path regex, ATT&CK technique, weight, condition: "" any change / "off" / "on", meaning)
LOCATIONS: tuple[tuple[str, str, str, float, str, str], ...] = (
    ("run_key", r"\\Microsoft\\Windows\\CurrentVersion\\(Run|RunOnce|RunOnceEx|RunServices|RunServicesOnce|"
     r"Policies\\Explorer\\Run)\\", "T1547.001", 0.5, "", "an autostart Run key"),
    ("startup_folder", r"\\Explorer\\(User )?Shell Folders\\(Common )?Startup$", "T1547.001", 0.7, "",
     "the Startup folder's location"),
    ("winlogon", r"\\Windows NT\\CurrentVersion\\Winlogon\\(Shell|Userinit|Notify|Taskman|AppSetup|GPExtensions)",
     "T1547.004", 0.7, "", "what Winlogon starts at logon"),
    ("boot_execute", r"\\Session Manager\\(BootExecute|SetupExecute|Execute|S0InitialCommand)$", "T1547",
     0.7, "", "what the Session Manager runs at boot"),
    ("ifeo", r"\\Image File Execution Options\\[^\\]+\\(Debugger|GlobalFlag|VerifierDlls)$", "T1546.012",
     0.7, "", "a debugger or verifier attached to a program (Image File Execution Options)"),
    ("silent_exit", r"\\SilentProcessExit\\[^\\]+\\(MonitorProcess|ReportingMode|DumpType|LocalDumpFolder)$",
     "T1546.012", 0.7, "", "a program run (or a dump taken) when another exits (SilentProcessExit)"),
    ("appinit", r"\\Windows NT\\CurrentVersion\\Windows\\(AppInit_DLLs|LoadAppInit_DLLs)$", "T1546.010", 0.7,
     "", "DLLs loaded into every GUI process (AppInit_DLLs)"),
    ("lsa_packages", r"\\Control\\Lsa\\(OSConfig\\)?(Security Packages|Authentication Packages|"
     r"Notification Packages)$", "T1547.002", 0.7, "", "DLLs the LSA loads (security, authentication or "
     "password-filter packages)"),
    ("wdigest", r"\\SecurityProviders\\WDigest\\UseLogonCredential$", "T1112", 0.8, "on",
     "WDigest keeping clear-text passwords in memory"),
    ("lsa_protection", r"\\Control\\Lsa\\(RunAsPPL|LsaCfgFlags|DisableRestrictedAdmin)$", "T1562.001", 0.6,
     "off", "LSA protection"),
    ("print_extension", r"\\Control\\Print\\(Monitors\\|Environments\\[^\\]+\\Print Processors\\)|"
     r"\\CurrentVersion\\Print\\Printers\\[^\\]+\\CopyFiles\\", "T1547.010", 0.7, "",
     "a DLL the print spooler loads (port monitor, print processor or printer CopyFiles)"),
    ("netsh_helper", r"\\Microsoft\\NetSh\\", "T1546.007", 0.7, "", "a netsh helper DLL"),
    ("time_provider", r"\\W32Time\\TimeProviders\\[^\\]+\\DllName$", "T1547.003", 0.7, "",
     "a time-provider DLL"),
    ("com_hijack", r"^HKU\\[^\\]+\\Software\\Classes\\CLSID\\[^\\]+\\(InprocServer32|LocalServer32)",
     "T1546.015", 0.6, "", "a per-user COM server overriding the machine's (COM hijack)"),
    ("shell_open_hijack", r"(\\Software\\Classes|_Classes)\\(ms-settings|exefile|mscfile|Folder|"
     r"Launcher\.SystemSettings|AppX[0-9a-z]+)\\shell\\open\\command", "T1548.002", 0.8, "",
     "a per-user shell open command that auto-elevating programs run (UAC bypass)"),
    ("service_binary", r"\\CurrentControlSet\\Services\\[^\\]+\\(ImagePath|ServiceDll|FailureCommand)$",
     "T1543.003", 0.5, "", "the program a service runs"),
    ("active_setup", r"\\Active Setup\\Installed Components\\[^\\]+\\StubPath$", "T1547.014", 0.6, "",
     "an Active Setup command run at logon"),
    ("office_test", r"\\Software\\Microsoft\\Office test\\Special\\Perf", "T1137.002", 0.8, "",
     "a DLL Office loads at start (Office test)"),
    ("pending_gpo", r"\\IEAK\\GroupPolicy\\PendingGPOs\\", "T1547", 0.7, "",
     "an INF file run at the next logon (IEAK pending GPOs)"),
    ("update_orchestrator", r"\\WindowsUpdate\\Orchestrator\\UScheduler(_Oobe)?\\[^\\]+\\(cmdLine|startArg|"
     r"pauseArg)$", "T1053", 0.7, "", "a command the Update Orchestrator runs as SYSTEM"),
    ("script_policy", r"\\PowerShell\\1\\ShellIds\\[^\\]+\\ExecutionPolicy$", "T1562.001", 0.5, "",
     "PowerShell's execution policy"),
    ("ps_lockdown", r"\\Session Manager\\Environment\\__PSLockdownPolicy$", "T1562.001", 0.7, "",
     "PowerShell Constrained Language Mode"),
    ("eventlog_channel", r"\\WINEVT\\Channels\\[^\\]+\\Enabled$", "T1562.002", 0.5, "off",
     "an event log channel"),
    ("eventlog_service", r"\\Services\\EventLog\\[^\\]+\\(MaxSize|Retention|File|AutoBackupLogFiles)$",
     "T1562.002", 0.5, "", "where or how much an event log keeps"),
    ("defender", r"\\Microsoft\\Windows Defender\\(Exclusions\\|Real-Time Protection\\Disable|DisableAntiSpyware|"
     r"DisableAntiVirus|Features\\TamperProtection)", "T1562.001", 0.7, "", "Microsoft Defender's settings or "
     "exclusions"),
    ("firewall", r"\\FirewallPolicy\\[^\\]+\\EnableFirewall$", "T1562.004", 0.6, "off", "the Windows firewall"),
    ("uac", r"\\Policies\\System\\(EnableLUA|ConsentPromptBehaviorAdmin|PromptOnSecureDesktop)$", "T1548.002",
     0.6, "off", "User Account Control"),
    ("remote_uac", r"\\Policies\\System\\LocalAccountTokenFilterPolicy$", "T1021.002", 0.6, "on",
     "full admin rights for remote local-account logons"),
    ("rdp_enable", r"\\Terminal Server\\fDenyTSConnections$", "T1021.001", 0.6, "off",
     "the refusal of Remote Desktop connections"),
    ("rdp_nla", r"\\Terminal Server\\WinStations\\RDP-Tcp\\(UserAuthentication|PortNumber)$", "T1021.001",
     0.6, "", "Remote Desktop's network-level authentication or port"),
    ("new_share", r"\\Services\\LanmanServer\\Shares\\", "T1135", 0.6, "", "a file share"),
    ("null_session", r"\\LanmanServer\\Parameters\\(NullSessionPipes|NullSessionShares|RestrictNullSessAccess)$",
     "T1021.002", 0.75, "", "what anonymous (null-session) SMB clients may open"),
    ("local_account", r"^HKLM\\SAM\\SAM\\Domains\\Account\\Users\\", "T1136.001", 0.6, "",
     "a local account (the SAM)"),
    ("safeboot", r"\\Control\\SafeBoot\\(Minimal|Network)\\", "T1562.009", 0.6, "",
     "what runs in Safe Mode"),
    ("registry_link", r"\\SymbolicLinkValue$", "T1112", 0.8, "", "a registry symbolic link (redirecting a key "
     "elsewhere: a privilege-escalation primitive)"),
)

#: (location, regex over "key = value"): changes Windows itself makes there, never counted
BENIGN: tuple[tuple[str, str], ...] = (
    # the User Profile Service links each user's Software\Classes to its <sid>_Classes hive at logon
    ("registry_link", r"^HKU\\[^\\]+\\Software\\Classes\\SymbolicLinkValue = \\REGISTRY\\USER\\S-[0-9-]+_Classes$"),
)

#: values that turn a switch off / on, as Sysmon writes them
_OFF = re.compile(r"^DWORD \(0x0+\)$", re.I)
_ON = re.compile(r"^DWORD \(0x0*1\)$", re.I)


@register
class RegistryChange(Detector):
    """Args:
    locations: (name, key-path regex, ATT&CK technique, weight, condition, meaning) of each watched
        location; condition "" counts any change, "off" only turning it off (DWORD 0 or deletion), "on"
        only turning it on (DWORD 1).
    script_hosts: image names (lower case) of script hosts and registry tools that make a change more
        suspicious.
    writable_dirs: path fragments (lower case) of user-writable folders; a writer or a written value there is
        more suspicious.
    installers: image names (lower case) of installers and the OS servicing stack.
    benign: (location, regex over "key = value") of changes Windows itself makes at a watched location.
    writer_bonus: added when the writer is a script host or runs from a user-writable folder.
    value_bonus: added when the value written names a script host, a user-writable path or one of
        ``suspicious_values``.
    suspicious_values: fragments (lower case) of written values that run code the way attackers do: a
        command interpreter (%COMSPEC%, cmd /c), a named pipe (Meterpreter's getsystem), encoded
        PowerShell, a URL.
    installer_discount: taken off when the writer is an installer.
    gap_hours: changes of one (host, location, writer) further apart than this are separate findings.
    examples: changes kept as evidence per finding.
    limit: most findings kept, highest scores first.
    """

    name: ClassVar[str] = "registry_change"
    description: ClassVar[str] = (
        "registry changes (Sysmon 12/13/14) at autostart, security-switch, account and share locations (ATT&CK)"
    )
    tables: ClassVar[tuple[str, ...]] = ("proc.registry",)

    def __init__(self, locations: tuple[tuple[str, str, str, float, str, str], ...] = LOCATIONS,
                 script_hosts: tuple[str, ...] = SCRIPT_HOSTS,
                 writable_dirs: tuple[str, ...] = USER_WRITABLE,
                 installers: tuple[str, ...] = ("msiexec.exe", "trustedinstaller.exe", "tiworker.exe",
                                                "wuauclt.exe", "usoclient.exe", "musnotification.exe"),
                 suspicious_values: tuple[str, ...] = ("%comspec%", "cmd.exe /c", "cmd /c", "\\\\.\\pipe\\",
                                                       " -enc", "frombase64", "http://", "https://"),
                 benign: tuple[tuple[str, str], ...] = BENIGN, writer_bonus: float = 0.15,
                 value_bonus: float = 0.1, installer_discount: float = 0.2,
                 gap_hours: float = 12.0, examples: int = 5, limit: int = 500) -> None:
        self.locations = locations
        self.script_hosts = script_hosts
        self.writable_dirs = writable_dirs
        self.installers = installers
        self.benign = benign
        fields = ("name", "key regex", "technique", "weight", "condition", "meaning")
        self._compiled = [(pattern("registry_change.locations", loc[1]), loc)
                          for loc in checked("registry_change.locations", locations, fields)]
        self._benign = [(name, pattern("registry_change.benign", regex))
                        for name, regex in checked("registry_change.benign", benign, ("location", "regex"))]
        self.suspicious_values = suspicious_values
        self.writer_bonus = writer_bonus
        self.value_bonus = value_bonus
        self.installer_discount = installer_discount
        self.gap_hours = gap_hours
        self.examples = examples
        self.limit = limit

    def find(self, engine: Engine, window: Window) -> list[Finding]:
        table = engine.table("proc.registry", window)
        if table is None:
            return []
        combined = "(?i)(?:" + "|".join(f"(?:{loc[1]})" for loc in self.locations) + ")"
        rows = table.filter(table.target_object.re_search(combined).fill_null(False))
        keep = [c for c in ("ts", "host", "event_id", "record_id", "image", "user", "process_guid", "action",
                            "event_type", "target_object", "details") if c in table.columns]
        groups: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
        for row in fetch(rows.select(*keep)).to_pylist():
            location = self._location(row)
            if location is not None:
                groups[(row.get("host") or "?", location[0], row.get("image") or "?")].append(row)
        by_name = {loc[0]: loc for loc in self.locations}
        findings = []
        for (host, name, image), rows in groups.items():
            parts = episodes(rows, self.gap_hours)
            findings += [self._finding(by_name[name], host, image, part, episode_label(part, len(parts) > 1))
                         for part in parts]
        findings.sort(key=lambda f: (-f.score, f.entity))
        return findings[: self.limit]

    def _location(self, row: dict) -> tuple | None:
        """The first watched location ``row`` changes in a way that counts, or None."""
        key, value = row.get("target_object") or "", (row.get("details") or "").strip()
        deleted = (row.get("action") or "") == "delete" or (row.get("event_type") or "").startswith("Delete")
        for regex, loc in self._compiled:
            if not regex.search(key):
                continue
            condition = loc[4]
            if condition == "off" and not (deleted or _OFF.match(value)):
                continue
            if condition == "on" and not _ON.match(value):
                continue
            if any(name == loc[0] and regex.search(f"{key} = {value}") for name, regex in self._benign):
                return None
            return loc
        return None

    def _finding(self, loc: tuple, host: str, image: str, rows: list[dict], label: str = "") -> Finding:
        name, _, technique, weight, _, meaning = loc
        exe = image.replace("/", "\\").rsplit("\\", 1)[-1].lower()
        low = image.lower()
        writer = self.writer_bonus if (exe in self.script_hosts or any(d in low for d in self.writable_dirs)) else 0.0
        installer = -self.installer_discount if exe in self.installers else 0.0
        values = [(r.get("details") or "").lower() for r in rows]
        marks = (*self.script_hosts, *self.writable_dirs, *self.suspicious_values)
        value = self.value_bonus if any(m in v for v in values for m in marks) else 0.0
        score = max(0.0, min(1.0, weight + writer + value + installer))
        ts = [r["ts"] for r in rows if r.get("ts") is not None]
        keys = sorted({r.get("target_object") or "" for r in rows})
        evidence: dict[str, Any] = {
            "location": name, "technique": technique, "meaning": meaning, "image": image, "changes": len(rows),
            "keys": keys[: self.examples], "event_ids": sorted({r["event_id"] for r in rows if r.get("event_id")}),
            "examples": [{k: r.get(k) for k in ("ts", "record_id", "event_type", "target_object", "details", "user")}
                         for r in rows[: self.examples]],
        }
        what = ", ".join(f"{r.get('event_type') or r.get('action') or 'change'} {_tail(r.get('target_object'))}"
                         + (f" = {r['details'][:60]}" if r.get("details") else "") for r in rows[:2])
        more = f" and {len(rows) - 2} more" if len(rows) > 2 else ""
        why = (f"{exe} on {host} changed {meaning} ({technique}): {what}{more}"
               + ("; the writer is a script host or runs from a user-writable folder" if writer else "")
               + ("; the value runs a script host, a user-writable file, a pipe or a URL" if value else "")
               + ("; the writer is an installer" if installer else ""))
        return Finding(
            detector=self.name, score=score, entity=f"{host}: {name} by {exe}{label}", host=host,
            user=rows[0].get("user"), first_seen=min(ts) if ts else None, last_seen=max(ts) if ts else None,
            components={"location": weight, "writer": writer, "value": value, "installer": installer},
            evidence=evidence, why=why,
        )


def _tail(key: str | None, parts: int = 3) -> str:
    """The last ``parts`` components of a registry path (HKLM\\...\\Run\\Updater -> ...\\Run\\Updater)."""
    pieces = (key or "").split("\\")
    return ("…\\" if len(pieces) > parts else "") + "\\".join(pieces[-parts:])
