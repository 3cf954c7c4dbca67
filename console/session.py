"""The console session: the account's API key, encrypted and authenticated
(Fernet) in an HttpOnly, SameSite=Strict cookie, and CSRF tokens tied to it."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

import orjson
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

COOKIE = "ct_console"
# Before sign-in: a random value the sign-in form's CSRF token is tied to.
PRE_COOKIE = "ct_console_pre"
COOKIE_PATH = "/console"
MAX_AGE_S = 12 * 3600
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _derive(secret: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret.encode())


def secure_default(public_url: str, setting: str) -> bool:
    """"true"/"false" win; "auto" (the default): Secure unless the public URL
    is plain http on a loopback name (local use without TLS)."""
    value = setting.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    parts = urlsplit(public_url)
    return not (parts.scheme == "http" and (parts.hostname or "") in LOCAL_HOSTS)


@dataclasses.dataclass(frozen=True)
class Session:
    api_key: str
    sid: str  # random per sign-in; CSRF tokens are derived from it
    account_id: str
    account_name: str
    time_zone: str
    currency: str


class SessionCodec:
    def __init__(self, secret: str, *, secure: bool) -> None:
        if not secret:
            raise ValueError("CLICKTRAIL_CONSOLE_SECRET is empty")
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(secret, b"clicktrail-console-session")))
        self._csrf_key = _derive(secret, b"clicktrail-console-csrf")
        self.secure = secure

    # -- session cookie -------------------------------------------------------

    def new(self, api_key: str, account: Any) -> Session:
        return Session(
            api_key, secrets.token_urlsafe(16), account.account_id, account.name,
            account.time_zone or "UTC", account.currency_code or "USD",
        )  # fmt: skip

    def encode(self, session: Session) -> str:
        return self._fernet.encrypt(orjson.dumps(dataclasses.asdict(session))).decode("ascii")

    def decode(self, value: str) -> Session | None:
        try:
            data = orjson.loads(self._fernet.decrypt(value.encode("ascii"), ttl=MAX_AGE_S))
            return Session(**data)
        except (InvalidToken, ValueError, TypeError, UnicodeEncodeError):
            return None

    def cookie(self, name: str, value: str, max_age: int = MAX_AGE_S) -> bytes:
        parts = [f"{name}={value}", f"Path={COOKIE_PATH}", f"Max-Age={max_age}", "HttpOnly", "SameSite=Strict"]
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts).encode("ascii")

    def clear(self, name: str) -> bytes:
        return self.cookie(name, "", 0)

    # -- CSRF -----------------------------------------------------------------

    def csrf(self, bound_to: str) -> str:
        """The form token for a session id (or the pre-sign-in cookie value)."""
        return hmac.new(self._csrf_key, bound_to.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, bound_to: str, token: str) -> bool:
        return bool(bound_to) and bool(token) and hmac.compare_digest(self.csrf(bound_to), token)
