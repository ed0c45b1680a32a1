"""The process inventory of instrumented workstations: which program makes which connection.

Every connection of an instrumented host is first given a *role* (what kind of software makes such a
connection: the DNS client, the browser, the planted implant ...), see `endpoint.assign_roles`. Each
operating system then has one process *slot* per role: `SLOTS[os][role]` says which program plays it
(its image, command line, account, parent, and when it starts). Roles an OS has no own program for
are played by another role's process (`Slot.alias`): on Linux the OCSP checks come from the browser
and Kerberos, LDAP and RPC all from `sssd_be`.

Lifetimes (`Slot.epoch`):
    * BOOT: started a few seconds after the machine boots; always-on machines booted once, 1-72 h
      before the first simulated day, the others boot every day they are switched on.
    * SESSION: started when the user logs on, a new instance every day the user works.
    * ONESHOT: started by hand (an attacker's tool) shortly before its first connection of the day.
    * FIXED: the kernel's own process (Windows `System`, pid 4): never created, never logged.

Text may hold placeholders filled per host: `{u}` user name, `{m}` implant name, `{d}` tunnel
domain, `{t}` scan target.
"""

from __future__ import annotations

from dataclasses import dataclass

BOOT, SESSION, ONESHOT, FIXED = range(4)
WINDOWS, LINUX = 0, 1
OS_NAMES = ("windows", "linux")

#: Roles, in code order (a connection's role is an index into this tuple).
ROLES = (
    "system",  # Windows kernel: SMB client and server
    "wininit",
    "services",
    "lsass",  # Kerberos
    "dnscache",  # DNS client
    "w32time",  # NTP
    "wuauserv",  # OS updates
    "diagtrack",  # telemetry
    "cryptsvc",  # OCSP checks
    "gpsvc",  # LDAP, RPC endpoint mapper (group policy)
    "schedule",  # task scheduler: parent of the implant
    "defender",  # AV signatures, local loopback connections
    "edr",  # second security agent (AV cloud)
    "spooler",  # printing to a printer segment the sensor does not see
    "monagent",  # rare benign monitoring agent
    "licagent",  # rare benign licence check
    "explorer",  # the user's shell
    "browser",
    "mail",
    "chat",
    "sync",
    "smbserver",  # accepts inbound SMB on the few workstations that share folders
    "implant",  # planted beacon or fumbler
    "scanner",  # planted scan
    "uploader",  # planted large upload
    "tunnel",  # planted DNS tunnel
)
R = {name: i for i, name in enumerate(ROLES)}
#: Roles whose connections reuse a small pool of source ports (see `endpoint.reuse_ports`).
REUSE_ROLES = ("implant", "monagent", "licagent", "edr")
#: Roles that exist only on hosts where something was planted or a share is served.
OPTIONAL_ROLES = ("smbserver", "implant", "scanner", "uploader", "tunnel", "monagent", "licagent")

_SVCHOST = "C:\\Windows\\System32\\svchost.exe"


@dataclass(frozen=True)
class Slot:
    """One program of an OS's inventory.

    Attributes:
        image: executable path.
        args: Windows command line, or Linux argv joined by single spaces.
        user: account kind: "user" (the host's user) or a fixed account name.
        parent: role of the parent process, or a path (starting with "/" or a drive letter) of a
            parent that is not tracked (it exited, like userinit.exe).
        epoch: BOOT, SESSION, ONESHOT or FIXED.
        delay_s: seconds after boot / logon when it starts.
        nonblocking: connects with non-blocking sockets (auditd logs exit=-115 EINPROGRESS).
        alias: role whose process plays this role instead (the slot itself is then unused).
    """

    image: str = ""
    args: str = ""
    user: str = "user"
    parent: str = "services"
    epoch: int = BOOT
    delay_s: float = 10.0
    nonblocking: bool = False
    alias: str = ""


_WIN = {
    "system": Slot("System", "", "SYSTEM", "", FIXED, 0.0),
    "wininit": Slot("C:\\Windows\\System32\\wininit.exe", "wininit.exe", "SYSTEM",
                    "C:\\Windows\\System32\\smss.exe", BOOT, 2.0),
    "services": Slot("C:\\Windows\\System32\\services.exe", "C:\\Windows\\system32\\services.exe", "SYSTEM",
                     "wininit", BOOT, 3.0),
    "lsass": Slot("C:\\Windows\\System32\\lsass.exe", "C:\\Windows\\system32\\lsass.exe", "SYSTEM", "wininit",
                  BOOT, 3.2),
    "dnscache": Slot(_SVCHOST, "C:\\Windows\\system32\\svchost.exe -k NetworkService -p -s Dnscache",
                     "NETWORK SERVICE", "services", BOOT, 6.0),
    "w32time": Slot(_SVCHOST, "C:\\Windows\\system32\\svchost.exe -k LocalService -s W32Time",
                    "LOCAL SERVICE", "services", BOOT, 9.0),
    "wuauserv": Slot(_SVCHOST, "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s wuauserv", "SYSTEM",
                     "services", BOOT, 40.0),
    "diagtrack": Slot(_SVCHOST, "C:\\Windows\\System32\\svchost.exe -k utcsvc -p", "SYSTEM", "services",
                      BOOT, 12.0),
    "cryptsvc": Slot(_SVCHOST, "C:\\Windows\\system32\\svchost.exe -k NetworkService -p -s CryptSvc",
                     "NETWORK SERVICE", "services", BOOT, 7.0),
    "gpsvc": Slot(_SVCHOST, "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s gpsvc", "SYSTEM", "services",
                  BOOT, 5.0),
    "schedule": Slot(_SVCHOST, "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule", "SYSTEM",
                     "services", BOOT, 8.0),
    "defender": Slot("C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.24090.11-0\\MsMpEng.exe",
                     "\"C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.24090.11-0\\MsMpEng.exe\"",
                     "SYSTEM", "services", BOOT, 11.0, True),
    "edr": Slot("C:\\Program Files\\CrowdStrike\\CSFalconService.exe",
                "\"C:\\Program Files\\CrowdStrike\\CSFalconService.exe\"", "SYSTEM", "services", BOOT, 10.0, True),
    "spooler": Slot("C:\\Windows\\System32\\spoolsv.exe", "C:\\Windows\\System32\\spoolsv.exe", "SYSTEM",
                    "services", BOOT, 14.0),
    "monagent": Slot("C:\\Program Files\\MonitorAgent\\monagent.exe",
                     "\"C:\\Program Files\\MonitorAgent\\monagent.exe\" --service", "SYSTEM", "services", BOOT,
                     25.0, True),
    "licagent": Slot("C:\\Program Files\\LicenseManager\\lmgrd-client.exe",
                     "\"C:\\Program Files\\LicenseManager\\lmgrd-client.exe\" -svc", "SYSTEM", "services", BOOT,
                     30.0, True),
    "explorer": Slot("C:\\Windows\\explorer.exe", "C:\\Windows\\Explorer.EXE", "user",
                     "C:\\Windows\\System32\\userinit.exe", SESSION, 0.0),
    "browser": Slot("", "", "user", "explorer", SESSION, 20.0, True),  # image per host, see BROWSERS
    "mail": Slot("C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE",
                 "\"C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE\" ", "user", "explorer",
                 SESSION, 35.0, True),
    "chat": Slot("C:\\Users\\{u}\\AppData\\Local\\Microsoft\\Teams\\current\\Teams.exe",
                 "\"C:\\Users\\{u}\\AppData\\Local\\Microsoft\\Teams\\current\\Teams.exe\" --system-initiated",
                 "user", "explorer", SESSION, 8.0, True),
    "sync": Slot("C:\\Program Files\\Microsoft OneDrive\\OneDrive.exe",
                 "\"C:\\Program Files\\Microsoft OneDrive\\OneDrive.exe\" /background", "user", "explorer",
                 SESSION, 6.0, True),
    "smbserver": Slot(alias="system"),
    "implant": Slot("C:\\Users\\{u}\\AppData\\Roaming\\{m}.exe", "\"C:\\Users\\{u}\\AppData\\Roaming\\{m}.exe\"",
                    "user", "schedule", BOOT, 95.0, True),
    "scanner": Slot("C:\\ProgramData\\{m}\\{m}svc.exe", "C:\\ProgramData\\{m}\\{m}svc.exe -sT -Pn {t}", "user",
                    "C:\\Windows\\System32\\cmd.exe", ONESHOT, 0.0, True),
    "uploader": Slot("C:\\Users\\{u}\\Downloads\\rclone.exe",
                     "rclone.exe copy C:\\Users\\{u}\\Documents remote:backup --transfers 4", "user",
                     "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", ONESHOT, 0.0, True),
    "tunnel": Slot("C:\\Users\\Public\\{m}.exe", "C:\\Users\\Public\\{m}.exe --dns domain={d} --no-cache",
                   "user", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", ONESHOT, 0.0),
}

_LIN = {
    "system": Slot("/usr/libexec/gvfsd-smb", "/usr/libexec/gvfsd-smb --spawner :1.12 /org/gtk/gvfs/exec_spaw/3",
                   "user", "/usr/libexec/gvfsd", BOOT, 30.0),
    "wininit": Slot(alias="services"),
    "services": Slot("/usr/sbin/sssd", "/usr/sbin/sssd -i --logger=files", "root", "/sbin/init", BOOT, 2.0),
    "lsass": Slot("/usr/libexec/sssd/sssd_be",
                  "/usr/libexec/sssd/sssd_be --domain corp.acme.internal --uid 0 --gid 0 --logger=files", "root",
                  "services", BOOT, 2.5),
    "dnscache": Slot("/usr/lib/systemd/systemd-resolved", "/lib/systemd/systemd-resolved", "systemd-resolve",
                     "/sbin/init", BOOT, 1.5),
    "w32time": Slot("/usr/sbin/chronyd", "/usr/sbin/chronyd -F 1", "_chrony", "/sbin/init", BOOT, 2.0),
    "wuauserv": Slot("/usr/libexec/packagekitd", "/usr/libexec/packagekitd", "root", "/sbin/init", BOOT, 60.0),
    "diagtrack": Slot("/usr/bin/whoopsie", "/usr/bin/whoopsie -f", "whoopsie", "/sbin/init", BOOT, 4.0),
    "cryptsvc": Slot(alias="browser"),
    "gpsvc": Slot(alias="lsass"),
    "schedule": Slot("/usr/sbin/cron", "/usr/sbin/cron -f -P", "root", "/sbin/init", BOOT, 3.0),
    "defender": Slot("/opt/microsoft/mdatp/sbin/wdavdaemon", "/opt/microsoft/mdatp/sbin/wdavdaemon", "root",
                     "/sbin/init", BOOT, 5.0, True),
    "edr": Slot("/opt/CrowdStrike/falcon-sensor", "/opt/CrowdStrike/falcon-sensor", "root", "/sbin/init", BOOT,
                4.0, True),
    "spooler": Slot("/usr/sbin/cupsd", "/usr/sbin/cupsd -l", "root", "/sbin/init", BOOT, 3.5),
    "monagent": Slot("/opt/monitoragent/bin/monagent", "/opt/monitoragent/bin/monagent --config /etc/monagent.yml",
                     "root", "/sbin/init", BOOT, 20.0, True),
    "licagent": Slot("/opt/lmgr/bin/lmgrd-client", "/opt/lmgr/bin/lmgrd-client -svc", "root", "/sbin/init",
                     BOOT, 25.0, True),
    "explorer": Slot("/usr/bin/gnome-shell", "/usr/bin/gnome-shell", "user", "/usr/lib/systemd/systemd",
                     SESSION, 0.0),
    "browser": Slot("", "", "user", "explorer", SESSION, 20.0, True),
    "mail": Slot("/usr/lib/thunderbird/thunderbird", "/usr/lib/thunderbird/thunderbird", "user", "explorer",
                 SESSION, 35.0, True),
    "chat": Slot("/usr/lib/slack/slack", "/usr/lib/slack/slack --startup", "user", "explorer", SESSION, 8.0, True),
    "sync": Slot("/usr/bin/onedrive", "/usr/bin/onedrive --monitor", "user", "explorer", SESSION, 6.0, True),
    "smbserver": Slot("/usr/sbin/smbd", "/usr/sbin/smbd --foreground --no-process-group", "root", "/sbin/init",
                      BOOT, 4.0),
    "implant": Slot("/tmp/.x/{m}", "/tmp/.x/{m}", "user", "schedule", BOOT, 95.0, True),
    "scanner": Slot("/usr/bin/nmap", "nmap -sT -Pn -T4 {t}", "user", "/usr/bin/bash", ONESHOT, 0.0, True),
    "uploader": Slot("/home/{u}/.local/bin/rclone", "rclone copy /home/{u}/Documents remote:backup --transfers 4",
                     "user", "/usr/bin/bash", ONESHOT, 0.0, True),
    "tunnel": Slot("/tmp/.x/{m}", "/tmp/.x/{m} --dns domain={d} --no-cache", "user", "/usr/bin/bash", ONESHOT,
                   0.0),
}
SLOTS: tuple[tuple[Slot, ...], tuple[Slot, ...]] = (
    tuple(_WIN[r] for r in ROLES),
    tuple(_LIN[r] for r in ROLES),
)

#: Browser executables by `world.hosts.browser` code (catalog.BROWSERS order; Mac browsers become Chrome).
BROWSERS = (
    (
        ("C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
         "\"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe\" "),
        ("C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe",
         "\"C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe\" --profile-directory=Default"),
        ("C:\\Program Files\\Mozilla Firefox\\firefox.exe", "\"C:\\Program Files\\Mozilla Firefox\\firefox.exe\" "),
    ),
    (
        ("/opt/google/chrome/chrome", "/opt/google/chrome/chrome"),
        ("/opt/microsoft/msedge/msedge", "/opt/microsoft/msedge/msedge"),
        ("/usr/lib/firefox/firefox", "/usr/lib/firefox/firefox"),
    ),
)

#: Fixed Linux accounts: name -> uid.
LINUX_UIDS = {"root": 0, "systemd-resolve": 991, "_chrony": 114, "whoopsie": 117, "user": 1000}
#: Windows service accounts: kind -> (account, SID, logon id).
WINDOWS_ACCOUNTS = {
    "SYSTEM": ("NT AUTHORITY\\SYSTEM", "S-1-5-18", "0x3e7"),
    "LOCAL SERVICE": ("NT AUTHORITY\\LOCAL SERVICE", "S-1-5-19", "0x3e5"),
    "NETWORK SERVICE": ("NT AUTHORITY\\NETWORK SERVICE", "S-1-5-20", "0x3e4"),
}
#: Names planted programs take (a Windows implant is `<name>.exe` under the user's roaming profile).
IMPLANT_NAMES = ("msupdate", "onedrivesync", "teamshelper", "chromeupd", "wuauclt32", "dllhost64", "svcnet",
                 "runtimebroker2", "igfxtray32", "adobearm64", "javaupd", "vmtoolsd32")
FIRST_NAMES = ("anna", "ben", "carla", "david", "emma", "felix", "grace", "hugo", "ines", "jonas", "kim", "leo",
               "mia", "noah", "olga", "paul", "rosa", "sam", "tina", "umar", "vera", "will", "yara", "zoe")
LAST_NAMES = ("adams", "baker", "clark", "diaz", "evans", "fischer", "garcia", "hall", "ito", "jones", "khan",
              "lopez", "meyer", "novak", "okafor", "patel", "quinn", "rossi", "schmidt", "tanaka", "weber", "young")
