"""Who may do what: API keys sent as `Authorization: Bearer <key>`, and file links that carry their own signature.

Search keys (`MMINDEX_API__SEARCH_KEYS`) may search and fetch files; admin keys (`MMINDEX_API__ADMIN_KEYS`) may do
everything. Keys are compared in constant time, each against every configured key. With no key configured
everything is open, and `mmindex serve` listens on loopback only (`check_bind`).

A browser's `<img>` and `<video>` cannot send a header, so the file links in a search answer are signed: an HMAC
of the URI and an expiry, keyed with a secret derived from the configured keys (every server behind a load
balancer derives the same one), valid for `MMINDEX_API__LINK_TTL_S`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import time
from enum import IntEnum
from urllib.parse import urlencode

from fastapi import HTTPException, Request

from shared.config import ApiSettings
from shared.errors import PermanentError


class Role(IntEnum):
    """What a key may do; a higher role may do what a lower one may."""

    SEARCH = 1
    ADMIN = 2


class Access:
    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self._keys = [(key.get_secret_value().encode(), Role.SEARCH) for key in settings.search_keys] + [
            (key.get_secret_value().encode(), Role.ADMIN) for key in settings.admin_keys
        ]
        material = b"\x00".join(sorted(key for key, _ in self._keys))
        self._secret = hashlib.sha256(b"mmindex file links\x00" + material).digest()

    @property
    def keyed(self) -> bool:
        return bool(self._keys)

    def role_of(self, authorization: str | None) -> Role | None:
        """The role of the key a request sends; None for none or a wrong one. Every key is compared, whatever
        matches first, so the time taken says nothing about which key came close."""
        sent = (authorization or "").encode("utf-8", "replace")
        role: Role | None = None
        for key, key_role in self._keys:
            if hmac.compare_digest(sent, b"Bearer " + key) and (role is None or key_role > role):
                role = key_role
        return role

    def require(self, request: Request, role: Role) -> None:
        """Refuse the request unless its key may act as `role`: 401 without a valid key, 403 with a lesser one."""
        if not self.keyed:
            return
        granted = self.role_of(request.headers.get("authorization"))
        if granted is None:
            raise HTTPException(401, "missing or wrong API key (send Authorization: Bearer <key>)")
        if granted < role:
            raise HTTPException(403, "this needs an admin key (MMINDEX_API__ADMIN_KEYS)")

    def link(self, uri: str, now: float | None = None) -> str:
        """`/v1/files?...` for `uri`, signed when keys are configured."""
        if not self.keyed:
            return "/v1/files?" + urlencode({"uri": uri})
        expires = int((time.time() if now is None else now) + self.settings.link_ttl_s)
        return "/v1/files?" + urlencode({"uri": uri, "exp": expires, "sig": self._signature(uri, expires)})

    def signed(self, uri: str, expires: str | None, signature: str | None) -> bool:
        """True when the link's signature is this server's for `uri` and it has not expired."""
        if not (expires and signature and expires.isdigit()) or int(expires) < time.time():
            return False
        return hmac.compare_digest(signature.encode(), self._signature(uri, int(expires)).encode())

    def _signature(self, uri: str, expires: int) -> str:
        message = f"{uri}\n{expires}".encode("utf-8", "surrogatepass")
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:40]


def check_bind(host: str, settings: ApiSettings) -> None:
    """Without keys the server must not be reachable from other machines: refuse any address but loopback."""
    if settings.keyed:
        return
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise PermanentError(
            f"refusing to listen on {host} without API keys: set MMINDEX_API__ADMIN_KEYS (and"
            " MMINDEX_API__SEARCH_KEYS), or listen on 127.0.0.1"
        )
