"""Windows account names in one form, shared by the identity detectors (guessing, roasting, dcsync).

Security events spell one account several ways: ``alice``, ``ALICE``, ``CORP\\alice``,
``alice@CORP.LOCAL`` (a 4769's TargetUserName). :func:`account` keeps the bare name in lower case, so
counts of distinct accounts are counts of people, not of spellings. ``-`` and empty names are null.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

#: addresses that say "this machine", not where an attempt came from
LOCAL_ADDRESSES = ("-", "", "127.0.0.1", "::1", "0.0.0.0", "::")
#: the bare name: after the last backslash, before the first @ (Java and RE2 syntax alike)
_BARE = r"^(?:.*\\)?([^@]*)"


def account(name: ir.StringValue) -> ir.StringValue:
    """The bare account name in lower case: no ``DOMAIN\\`` prefix, no ``@realm`` suffix; null for ``-``."""
    bare = name.lower().re_extract(_BARE, 1)
    return ibis.ifelse(bare.isin(("-", "")), ibis.null("string"), bare)


def address(ip: ir.StringValue) -> ir.StringValue:
    """A source address, null when it only names the local machine."""
    return ibis.ifelse(ip.isin(LOCAL_ADDRESSES), ibis.null("string"), ip)


def py_account(name: str | None) -> str | None:
    """:func:`account` in Python, for settings (account lists) compared with the engine's values."""
    if not name:
        return None
    bare = name.lower().rsplit("\\", 1)[-1].split("@", 1)[0]
    return None if bare in ("-", "") else bare
