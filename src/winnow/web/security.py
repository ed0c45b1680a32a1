"""Who may talk to the workbench, and which requests may change anything.

* Bound to a loopback address the server answers only requests whose ``Host`` is a loopback name
  (a web page elsewhere cannot reach it through DNS rebinding). Bound to any other address it needs
  an access token: given once as ``?token=`` (then kept in an HTTP-only cookie) or as
  ``Authorization: Bearer``.
* A state-changing request (POST) must carry the page's CSRF token (a form field or the
  ``X-CSRF-Token`` header) and must not come from another site (``Origin`` and ``Sec-Fetch-Site``).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field

COOKIE = "winnow_token"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]", "::1")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses."""
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class Guard:
    """The access token (None on loopback without one) and the secret CSRF tokens derive from."""

    token: str | None = None
    loopback: bool = True
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def csrf(self) -> str:
        return hmac.new(self.secret, b"csrf", hashlib.sha256).hexdigest()

    def host_allowed(self, host_header: str) -> bool:
        """With no token, only loopback Host names (rebinding protection)."""
        if self.token is not None:
            return True
        name = host_header.rsplit(":", 1)[0] if not host_header.endswith("]") else host_header
        return name in LOOPBACK_NAMES or is_loopback(name)

    def token_ok(self, presented: str | None) -> bool:
        return self.token is None or (presented is not None and hmac.compare_digest(presented, self.token))

    def same_site(self, origin: str | None, fetch_site: str | None, host_header: str) -> bool:
        """A POST from this site: ``Sec-Fetch-Site`` same-origin/none, and ``Origin`` (when sent) this host.

        An opaque ``Origin: null`` (a sandboxed frame, a ``data:`` page) is refused; pages are served with
        ``Referrer-Policy: same-origin`` so that the browser sends their real origin.
        """
        if fetch_site is not None and fetch_site not in ("same-origin", "none"):
            return False
        if origin is not None:
            return origin.split("://", 1)[-1] == host_header
        return True

    def csrf_ok(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented, self.csrf())


def new_token() -> str:
    return secrets.token_urlsafe(24)


def guard_for(host: str, token: str | None = None) -> Guard:
    """The guard of a server bound to ``host``: loopback needs no token; anything else gets ``token`` or a new one."""
    loopback = is_loopback(host)
    return Guard(token=token or (None if loopback else new_token()), loopback=loopback)
