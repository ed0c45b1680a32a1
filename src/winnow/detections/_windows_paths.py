"""Where people and malware run from on Windows, shared by the endpoint detectors' defaults.

Each detector keeps its own setting (``registry_change.writable_dirs``, ``pipes.user_writable`` ...);
these are the one definition of their defaults.
"""

from __future__ import annotations

#: path fragments (lower case) of folders any user can write to: downloads, profiles, temp, shared data
USER_WRITABLE = ("\\users\\", "\\programdata\\", "\\temp\\", "\\tmp\\", "\\appdata\\", "\\downloads\\",
                 "\\desktop\\", "\\perflogs\\", "\\windows\\tasks\\", "\\$recycle.bin\\")

#: image names (lower case) of script hosts, shells and living-off-the-land tools people drive by hand
SCRIPT_HOSTS = ("powershell.exe", "pwsh.exe", "powershell_ise.exe", "cmd.exe", "wscript.exe", "cscript.exe",
                "mshta.exe", "rundll32.exe", "regsvr32.exe", "msbuild.exe", "installutil.exe", "wmic.exe",
                "reg.exe", "regedit.exe", "regini.exe", "bitsadmin.exe", "net.exe", "net1.exe")
