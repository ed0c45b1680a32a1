"""Obfuscated or downloading PowerShell: script text scored on generic obfuscation and download-cradle features.

Droppers (Emotet's macros), Invoke-Obfuscation and download cradles leave PowerShell no administrator writes. The
features are the techniques Invoke-Obfuscation implements and Revoke-Obfuscation measures (Bohannon and Holmes,
2017), each a sub-score in [0, 1] (``components``) with its counts in ``evidence``. Counted ones reach 1 at
``<feature>_full`` occurrences, scaled down when rarer than ``min_density`` per 1,000 characters:

* ``concat`` string literals joined to split words (``('ne'+'w-'+'item')``); ``ticks`` backticks inside
  identifiers (``Se`cUr`iT``; not escapes such as `` `n`` nor generic arities ``List`1``); ``format`` ``-f``
  reordering (three or more placeholders out of order, or a format string built by concatenation); ``chars``
  ``[char]`` casts and numeric arrays (and ``-join`` with them); ``mixed_case`` randomly cased words
  (``neT.WEbcLiENt``: not lower, upper, Title, camel or PascalCase, or four case flips with 45 % capitals);
* ``base64`` the longest base64 run from ``base64_min`` to ``base64_full``, 1 for ``-EncodedCommand`` (any
  prefix; decoded from UTF-16LE and scored with the rest) or ``FromBase64String`` with a long run;
* ``invoke`` dynamic execution, 1 when obfuscated (``&('i'+'ex')``, ``.( $env:comspec[4,15,25]-join'')``),
  ``plain_invoke`` for ``iex`` / ``Invoke-Expression`` / ``[scriptblock]::Create``; ``download`` a cradle
  (Net.WebClient, Invoke-WebRequest, Invoke-RestMethod, BITS, XMLHTTP, HttpClient), 1 with execution in the text,
  ``download_alone`` without; ``characters`` the share of special characters from ``special_low`` to
  ``special_high`` (texts of ``min_length`` or more; Shannon entropy is evidence only).

Words are looked for after backticks are removed and ``'+'`` joins closed, an Authenticode ``# SIG #`` block
dropped. **Score** = 1 - prod(1 - w_f * s_f) (a noisy-OR; ``weight_obfuscation`` for the six obfuscation
features). Fewer than ``min_features`` features at ``present_at`` (``characters`` does not count: it follows from
the others) cap it at 0.59: one feature alone is at most low; an encoded command with a cradle is two.

Inputs: ``proc.script`` (4104 blocks, parts joined in order; 4103 payloads and host applications), ``win.event``
of the Windows PowerShell log (800 pipeline text, ``HostApplication`` of 400/403/800, from event data or an
export's ``Message``), ``proc.exec`` command lines of powershell.exe / pwsh.exe and the PowerShell part of others
that start it (``cmd /c powershell ...``). An Ibis pre-filter keeps rows with a cheap signal (``'+'``, a backtick
before a letter, ``{1}``, ``[char``, ``-enc``, ``webclient``, ``iex``...); Python scores those. One finding per
(host, text with white space collapsed): a text logged as a 4104, an 800 and a command line is one finding.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from collections import Counter
from typing import Any, ClassVar

import ibis

from winnow.detections.base import Detector
from winnow.detections.registry import register
from winnow.engine import Engine, Window, fetch
from winnow.scoring import Finding

CLASSIC = "Windows PowerShell"
IMAGES = ("\\powershell.exe", "\\pwsh.exe", "\\powershell_ise.exe", "/pwsh")
SIGNALS = ("'+'", "' + '", '"+"', '" + "', '\\"+\\"', "{1}", "[char", "frombase64", "-enc", "-e ", "-ec ",
           "webclient", "download", "iex", "invoke-expression", "invoke-webrequest", "iwr ", "bitstransfer",
           "invoke-restmethod", "irm ", "scriptblock", "xmlhttp", "httpclient", "invokecommand", "comspec", "pshome",
           "shellid")
TICK_SIGNAL = "[A-Za-z0-9_]`[cdghijklmopqswxyzA-Z_]"  # a backtick before a letter that is no escape (RE2 and Java)
COUNTED = ("concat", "ticks", "format", "chars", "mixed_case")
OBFUSCATION = (*COUNTED, "base64")
_SIG = re.compile(r"#\s*SIG\s*#\s*Begin signature block.*?(?:#\s*SIG\s*#\s*End signature block|\Z)", re.S | re.I)
_CONCAT = re.compile(r"""['"]\s*\)*\s*\+\s*\(*\s*['"]""")
_TICK = re.compile(r"(?<=\w)`(?![abefnrtuv])(?=[A-Za-z_])")
_FORMAT_OP = re.compile(r"(?<=[\s)'\"])-f(?![\w-])", re.I)
_CHAR = re.compile(r"\[\s*char\s*(?:\[\s*\])?\s*\]|(?:\d{2,3}\s*,\s*){7,}\d{2,3}", re.I)
_JOIN = re.compile(r"-join\b|\[string\]::join", re.I)
_B64 = re.compile(r"[A-Za-z0-9+/]{20,}={0,2}")
_ENC = re.compile(r"(?<![\w-])[-/]e(?:c|n|nc|ncodedcommand|ncodedcomman|ncodedcomma|ncodedcomm|ncodedcom|ncodedco|"
                  r"ncodedc|ncoded|ncode|ncod|nco)?\s+['\"]?([A-Za-z0-9+/]{20,}={0,2})", re.I)
_WORD = re.compile(r"\b[A-Za-z]{4,}\b")
_SHAPE = re.compile(r"(?:[a-z]+|[A-Z](?=[A-Z][a-z]{2}))?(?:[A-Z][a-z]{2,}|[A-Z][a-z](?=[A-Z][a-z]{2}|[A-Z]{2}|$)"
                    r"|[A-Z]{2,}(?=[A-Z][a-z])|[A-Z]{2,}s?$|(?<=[a-z]{2})[A-Z]$)*")
_OBF_INVOKE = re.compile(r"(?<![\w)\]])[&.]\s*\(\s*(?:['\"(]|\$[\w:]+\s*\[)|\$(?:env:comspec|env:public|pshome|shellid)"
                         r"\s*\[\s*\d|verbosepreference[\w.()\s]{0,20}\)?\s*\[\s*\d", re.I)
_PLAIN_INVOKE = re.compile(r"\b(?:iex|invoke-expression)\b|\[scriptblock\]::create|invokecommand\.invokescript", re.I)
_CRADLES = {"Net.WebClient": r"\.(?:downloadstring|downloadfile|downloaddata|openread)\b|net\.webclient",
            "Invoke-WebRequest": r"\b(?:invoke-webrequest|iwr)\b", "BITS": r"\bstart-bitstransfer\b",
            "Invoke-RestMethod": r"\b(?:invoke-restmethod|irm)\b", "XMLHTTP": r"xmlhttp|winhttprequest",
            "HttpClient": r"net\.http\.httpclient"}
_EXECUTE = re.compile(r"\b(?:start-process|saps|invoke-item|ii|rundll32|regsvr32|mshta)\b", re.I)
_LAUNCH = re.compile(r"\b(?:powershell|pwsh)(?:\.exe)?\b", re.I)
_HOST_APP = re.compile(r"HostApplication=([^\r\n]*)")
_USER_ID = re.compile(r"UserId=([^\r\n]+)")
_MESSAGE_800 = re.compile(r"command line:\s*(.*?)\s*\.?\s*Context Information:", re.S)


@register
class PowerShell(Detector):
    """Args:
    concat_full: string-literal joins ('a'+'b') at which the concat sub-score is 1.
    tick_full: backticks inside identifiers at which the ticks sub-score is 1.
    format_full: -f format reorderings at which the format sub-score is 1.
    char_full: [char] casts and numeric char arrays at which the chars sub-score is 1.
    mixed_case_full: randomly cased words at which the mixed_case sub-score is 1.
    min_density: occurrences per 1,000 characters a counted feature needs for its full sub-score.
    base64_min: shortest base64 run (characters) that counts.
    base64_full: base64 run length at which the base64 sub-score is 1.
    plain_invoke: invoke sub-score of a plain iex / Invoke-Expression / [scriptblock]::Create.
    download_alone: download sub-score of a cradle with no execution in the same text.
    special_low: share of special characters above which the characters sub-score rises.
    special_high: share of special characters at which the characters sub-score is 1.
    min_length: shortest text (characters) whose share of special characters is scored.
    weight_obfuscation: weight of each obfuscation feature (concat, ticks, format, chars, base64, mixed_case).
    weight_invoke: weight of the invoke feature.
    weight_download: weight of the download feature.
    weight_characters: weight of the characters feature.
    present_at: sub-score at which a feature counts as present.
    min_features: features present needed for a score of medium or more (fewer: capped at 0.59).
    min_score: findings scoring below this are left out.
    excerpt: characters of the text kept in the evidence.
    limit: most findings kept, highest scores first.
    """

    name: ClassVar[str] = "powershell"
    description: ClassVar[str] = (
        "obfuscated or downloading PowerShell (4104/4103 script blocks, Windows PowerShell 800/400, powershell.exe "
        "command lines): string splitting, backticks, -f reordering, [char], base64, random case, iex, cradles"
    )
    tables: ClassVar[tuple[str, ...]] = ("proc.script", "win.event", "proc.exec")

    def __init__(self, concat_full: int = 10, tick_full: int = 4, format_full: int = 2, char_full: int = 5,
                 mixed_case_full: int = 5, min_density: float = 2.0, base64_min: int = 64, base64_full: int = 400,
                 plain_invoke: float = 0.6, download_alone: float = 0.5, special_low: float = 0.3,
                 special_high: float = 0.45, min_length: int = 200, weight_obfuscation: float = 0.5,
                 weight_invoke: float = 0.4, weight_download: float = 0.5, weight_characters: float = 0.25,
                 present_at: float = 0.5, min_features: int = 2, min_score: float = 0.4, excerpt: int = 300,
                 limit: int = 500) -> None:
        self.concat_full, self.tick_full, self.format_full = concat_full, tick_full, format_full
        self.char_full, self.mixed_case_full, self.min_density = char_full, mixed_case_full, min_density
        self.base64_min, self.base64_full = base64_min, base64_full
        self.plain_invoke, self.download_alone = plain_invoke, download_alone
        self.special_low, self.special_high, self.min_length = special_low, special_high, min_length
        self.weight_obfuscation, self.weight_invoke = weight_obfuscation, weight_invoke
        self.weight_download, self.weight_characters = weight_download, weight_characters
        self.present_at, self.min_features, self.min_score = present_at, min_features, min_score
        self.excerpt, self.limit = excerpt, limit

    def find(self, engine: Engine, window: Window) -> list[Finding]:
        groups: dict[tuple[str, str], tuple[str, list[dict]]] = {}
        for item in [*self._scripts(engine, window), *self._classic(engine, window), *self._commands(engine, window)]:
            text = (item.pop("text") or "").strip()
            if text:
                groups.setdefault(((item["host"] or "").lower(), _digest(text)), (text, []))[1].append(item)
        findings = [f for text, items in groups.values() if (f := self._finding(text, items)) is not None]
        findings.sort(key=lambda f: (-f.score, f.entity))
        return findings[: self.limit]

    @staticmethod
    def _signal(text: ibis.Value) -> ibis.Value:
        low = text.lower()
        return ibis.or_(text.re_search(TICK_SIGNAL), *(low.contains(s) for s in SIGNALS))

    def _scripts(self, engine: Engine, window: Window) -> list[dict]:
        """4104 blocks (every part's record carries the whole block's text) and 4103 payloads and host applications."""
        script = engine.table("proc.script", window)
        if script is None:
            return []
        cols = ["ts", "host", "event_id", "record_id", "pid", "user", "user_sid", "script_block_id", "message_number",
                "message_total", "script_text", "payload", "host_application"]
        text = ibis.coalesce(script.script_text, "") + "\n" + ibis.coalesce(script.payload, "") + "\n" + ibis.coalesce(
            script.host_application, "")
        rows = fetch(script.filter(self._signal(text)).select(*cols)).to_pylist()
        split = sorted({r["script_block_id"] for r in rows if r["script_block_id"] and (r["message_total"] or 1) > 1})
        if split:
            parts = fetch(script.filter(script.script_block_id.isin(split)).select(*cols)).to_pylist()
            rows = [r for r in rows if r["script_block_id"] not in split] + parts
        out, blocks = [], {}
        for r in rows:
            base = {"source": "proc.script", "ts": r["ts"], "host": r["host"], "event_id": r["event_id"],
                    "record_id": r["record_id"], "pid": r["pid"], "user": r["user"] or r["user_sid"],
                    "script_block_id": r["script_block_id"]}
            if r["script_block_id"] and r["script_text"]:
                block = blocks.setdefault((r["host"], r["script_block_id"]), {})
                block[r["message_number"] or 0] = (base, r["script_text"])
            out.extend({**base, "text": r[k]} for k in ("payload", "host_application") if r[k])
            if r["script_text"] and not r["script_block_id"]:
                out.append({**base, "text": r["script_text"]})
        for parts in blocks.values():
            joined = "".join(parts[n][1] for n in sorted(parts))
            out.extend({**base, "text": joined} for base, _ in parts.values())
        return out

    def _classic(self, engine: Engine, window: Window) -> list[dict]:
        """Windows PowerShell 800 pipeline text and the HostApplication of 400/403/800."""
        events = engine.table("win.event", window)
        if events is None:
            return []
        rows = events.filter((events.channel == CLASSIC) & events.event_id.isin((400, 403, 800)))
        rows = rows.filter(self._signal(ibis.coalesce(rows.data, rows.extra, "")))
        out = []
        for r in fetch(rows.select("ts", "host", "event_id", "record_id", "process_id", "user_sid", "data",
                                   "extra")).to_pylist():
            extra = _loads(r["extra"])
            message = str(extra.get("Message") or "") if isinstance(extra, dict) else ""
            strings = _strings(_loads(r["data"])) or [message]
            texts = []
            if r["event_id"] == 800:  # the pipeline: the first EventData string, or inside an export's Message
                found = _MESSAGE_800.search(strings[0])
                texts.append(found.group(1) if found and "Context Information:" in strings[0] else strings[0])
            texts += [m.group(1).strip() for s in strings for m in _HOST_APP.finditer(s)]
            user = next((m.group(1) for s in strings for m in _USER_ID.finditer(s)), r["user_sid"])
            base = {"source": "win.event", "ts": r["ts"], "host": r["host"], "event_id": r["event_id"],
                    "record_id": r["record_id"], "pid": r["process_id"] or None, "user": user, "script_block_id": None}
            out.extend({**base, "text": t} for t in dict.fromkeys(texts) if t)
        return out

    def _commands(self, engine: Engine, window: Window) -> list[dict]:
        """Command lines of powershell.exe / pwsh.exe, and the PowerShell part of others that start it."""
        procs = engine.table("proc.exec", window)
        if procs is None:
            return []
        image, line = procs.image.lower().fill_null(""), procs.command_line.lower().fill_null("")
        started = ibis.or_(*(image.endswith(i) for i in IMAGES), line.contains("powershell"), line.contains("pwsh"))
        rows = procs.filter((procs.action.fill_null("start") == "start") & started
                            & self._signal(procs.command_line.fill_null("")))
        out = []
        for r in fetch(rows.select("ts", "host", "event_id", "record_id", "pid", "user", "image",
                                   "command_line")).to_pylist():
            text, image = r.pop("command_line"), (r.pop("image") or "").lower()
            if not image.endswith(IMAGES) and (m := _LAUNCH.search(text)):
                text = text[m.start():]
            out.append({"source": "proc.exec", "script_block_id": None, "text": text, **r})
        return out

    def features(self, text: str) -> tuple[dict[str, float], dict[str, Any]]:
        """Sub-scores and evidence of one PowerShell text (an encoded command is decoded and scored with it)."""
        text = _SIG.sub("", text)
        decoded = [d for m in _ENC.finditer(text) if (d := _decode(m.group(1)))]
        full = "\n".join([text, *decoded])
        plain = re.sub(r"""['"]\s*\+\s*['"]""", "", full.replace("`", ""))
        casts = len(_CHAR.findall(full))
        counts = {"concat": len(_CONCAT.findall(full)), "ticks": len(_TICK.findall(full)),
                  "format": _reorders(full), "chars": casts + (len(_JOIN.findall(full)) if casts else 0),
                  "mixed_case": sum(_irregular(w) for w in _WORD.findall(_B64.sub(" ", plain)))}
        fulls = {"concat": self.concat_full, "ticks": self.tick_full, "format": self.format_full,
                 "chars": self.char_full, "mixed_case": self.mixed_case_full}
        kchars = max(len(full), 1) / 1000
        sub = {f: min(1.0, counts[f] / fulls[f]) * min(1.0, counts[f] / kchars / self.min_density) for f in COUNTED}
        longest = max((len(r) for r in _B64.findall(full) if re.search(r"[a-z]", r) and re.search(r"[A-Z]", r)
                       and re.search(r"\d", r)), default=0)
        encoded = bool(decoded or _ENC.search(text))
        long_run = longest >= self.base64_min
        sub["base64"] = 1.0 if encoded or (long_run and "frombase64string" in plain.lower()) else (
            _ramp(longest, self.base64_min, self.base64_full) if long_run else 0.0)
        obfuscated, calls = len(_OBF_INVOKE.findall(plain)), len(_PLAIN_INVOKE.findall(plain))
        sub["invoke"] = 1.0 if obfuscated else self.plain_invoke if calls else 0.0
        cradles = [name for name, rx in _CRADLES.items() if re.search(rx, plain, re.I)]
        executes = bool(obfuscated or calls or _EXECUTE.search(plain))
        sub["download"] = (1.0 if executes else self.download_alone) if cradles else 0.0
        visible = Counter(c for c in full if not c.isspace())
        total = max(sum(visible.values()), 1)
        special = sum(n for c, n in visible.items() if not c.isalnum()) / total
        sub["characters"] = _ramp(special, self.special_low, self.special_high) if len(full) >= self.min_length else 0.0
        entropy = -sum(n / total * math.log2(n / total) for n in visible.values())
        evidence = {"counts": {**counts, "longest_base64": longest, "invocations": calls,
                               "obfuscated_invocations": obfuscated}, "encoded_command": encoded,
                    "downloads": cradles, "executes": executes, "special_share": round(special, 3),
                    "entropy_bits": round(entropy, 3), "length": len(full),
                    "decoded_excerpt": decoded[0][: self.excerpt] if decoded else None}
        return sub, evidence

    def score(self, sub: dict[str, float]) -> float:
        """The noisy-OR of the weighted sub-scores, capped at 0.59 with fewer than ``min_features`` present."""
        weights = {**dict.fromkeys(OBFUSCATION, self.weight_obfuscation), "invoke": self.weight_invoke,
                   "download": self.weight_download, "characters": self.weight_characters}
        score = 1 - math.prod(1 - min(1.0, weights[f] * s) for f, s in sub.items())
        present = [f for f, s in sub.items() if f != "characters" and s >= self.present_at]
        return min(score, 0.59) if len(present) < self.min_features else score

    def _finding(self, text: str, items: list[dict]) -> Finding | None:
        sub, evidence = self.features(text)
        score = self.score(sub)
        if score < self.min_score:
            return None
        host = min(items, key=lambda i: (i["ts"] is None, i["ts"]))["host"] or ""
        users = sorted({str(i["user"]) for i in items if i["user"]})
        present = [f for f, s in sub.items() if s >= self.present_at] or [max(sub, key=lambda f: sub[f])]
        evidence.update({
            "features": present, "excerpt": text[: self.excerpt], "events": len(items),
            "sources": sorted({f"{i['source']} {i['event_id']}" for i in items}),
            "event_ids": sorted({i["event_id"] for i in items if i["event_id"] is not None}),
            "record_ids": sorted({i["record_id"] for i in items if i["record_id"] is not None})[:20],
            "pids": sorted({i["pid"] for i in items if i["pid"]})[:10], "users": users[:10],
            "script_block_ids": sorted({i["script_block_id"] for i in items if i["script_block_id"]})[:10],
        })
        stamps = [i["ts"] for i in items if i["ts"] is not None]
        return Finding(detector=self.name, score=score, entity=f"{host} powershell {_digest(text)[:12]}",
                       host=host or None, user=users[0] if users else None, first_seen=min(stamps, default=None),
                       last_seen=max(stamps, default=None), components={f: round(s, 4) for f, s in sub.items()},
                       evidence=evidence, why=self._why(host, sub, evidence, present))

    def _why(self, host: str, sub: dict[str, float], ev: dict[str, Any], present: list[str]) -> str:
        c = ev["counts"]
        said = {"concat": f"{c['concat']} string-concatenation splits", "ticks": f"{c['ticks']} backtick escapes",
                "format": f"{c['format']} -f format reorderings", "chars": f"{c['chars']} [char] casts and joins",
                "base64": "an encoded command" if ev["encoded_command"] else f"a {c['longest_base64']}-character "
                "base64 run", "mixed_case": f"{c['mixed_case']} randomly cased words",
                "invoke": "an obfuscated Invoke-Expression" if c["obfuscated_invocations"] else "Invoke-Expression",
                "download": f"a {'/'.join(ev['downloads'])} download" + (" it runs" if ev["executes"] else ""),
                "characters": f"{ev['special_share']:.0%} special characters"}
        parts = [said[f] for f in present]
        listed = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
        obfuscated = any(sub[f] >= self.present_at for f in OBFUSCATION)
        verdict = ("obfuscated download cradle" if obfuscated and sub["download"] else "download cradle"
                   if sub["download"] else "obfuscated PowerShell" if obfuscated else "dynamic PowerShell")
        return f"PowerShell on {host or 'an unknown host'} ran text with {listed}: {verdict}"


def _ramp(value: float, low: float, high: float) -> float:
    return 0.0 if value <= low else 1.0 if value >= high else (value - low) / (high - low)


def _irregular(word: str) -> bool:
    """Randomly cased: not lower, upper, Title, camel or PascalCase; or four case flips with 45 % capitals."""
    if word.islower() or word.isupper() or word.istitle():
        return False
    flips = sum(a.isupper() != b.isupper() for a, b in zip(word, word[1:], strict=False))
    return not _SHAPE.fullmatch(word) or (flips >= 4 and sum(c.isupper() for c in word) >= 0.45 * len(word))


def _reorders(text: str) -> int:
    """-f operators whose format string is built by concatenation or has three or more placeholders out of order."""
    n = 0
    for m in _FORMAT_OP.finditer(text):
        before = text[max(0, m.start() - 400): m.start()].rstrip()
        if before.endswith(")") and before[:-1].rstrip()[-1:] in ("'", '"'):
            n += 1
        elif before[-1:] in ("'", '"'):
            literal = before[before.rfind(before[-1], 0, len(before) - 1) + 1: -1]
            order = list(dict.fromkeys(int(i) for i in re.findall(r"\{(\d+)\}", literal)))
            n += len(order) >= 3 and order != sorted(order)
    return n


def _decode(payload: str) -> str:
    try:
        return base64.b64decode(payload + "=" * (-len(payload) % 4), validate=True).decode("utf-16-le")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ""


def _digest(text: str) -> str:
    """The text's identity: SHA-256 of it with white space runs made one space and outer quotes dropped."""
    return hashlib.sha256(re.sub(r"\s+", " ", text).strip(" '\"").encode()).hexdigest()


def _loads(text: str | None) -> Any:
    try:
        return json.loads(text) if text else {}
    except ValueError:
        return {}


def _strings(value: Any) -> list[str]:
    """Every string of a JSON value, in order (an event's EventData)."""
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return [value] if isinstance(value, str) else [s for v in items for s in _strings(v)]
