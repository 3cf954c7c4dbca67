"""Console sessions, kept on the server (console.sessions): the HttpOnly,
SameSite=Strict cookie holds only a random token; the row (found by the
token's SHA-256) holds the account's API key encrypted (Fernet, keyed from the
console secret), expires after CLICKTRAIL_CONSOLE_SESSION_TTL_S and is deleted
at sign-out. CSRF tokens are tied to the session."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

COOKIE = "ct_console"
# Before sign-in: a random value the sign-in form's CSRF token is tied to.
PRE_COOKIE = "ct_console_pre"
COOKIE_PATH = "/console"
MAX_AGE_S = 12 * 3600
MIGRATIONS = Path(__file__).parent / "migrations"
SCHEMA = "console"
# A session cookie's token: token_urlsafe(32) is 43 characters.
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _derive(secret: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret.encode())


def secure_default(public_url: str, setting: str) -> bool:
    """ "true"/"false" win; "auto" (the default): Secure unless the public URL
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
    api_key: str  # in memory only: decrypted from the session row, never in a cookie
    sid: str  # the row's key (hex SHA-256 of the cookie's token); CSRF tokens are derived from it
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

    # -- the API key at rest -----------------------------------------------------

    def seal(self, api_key: str) -> str:
        return self._fernet.encrypt(api_key.encode()).decode("ascii")

    def unseal(self, sealed: str) -> str | None:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, ValueError, UnicodeError):
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


def _hash(token: str) -> bytes | None:
    """The row key of a cookie token; None for anything that is not one of ours."""
    if not 32 <= len(token) <= 64 or not set(token) <= _TOKEN_CHARS:
        return None
    return hashlib.sha256(token.encode("ascii")).digest()


class SessionStore:
    """Sign-ins in console.sessions: create at sign-in, look up per request, delete at sign-out."""

    def __init__(self, pool: asyncpg.Pool, codec: SessionCodec, ttl_s: int = MAX_AGE_S) -> None:
        self.pool = pool
        self.codec = codec
        self.ttl_s = ttl_s

    async def create(self, api_key: str, account: Any) -> tuple[str, Session]:
        """A new session: the cookie's token and the session."""
        token = secrets.token_urlsafe(32)
        key = _hash(token)
        assert key is not None
        session = Session(
            api_key, key.hex(), account.account_id, account.name, account.time_zone or "UTC",
            account.currency_code or "USD",
        )  # fmt: skip
        async with self.pool.acquire() as conn:
            await conn.execute("DELETE FROM console.sessions WHERE expires_at < now()")
            await conn.execute(
                "INSERT INTO console.sessions (session_hash, account_id, api_key_sealed, account_name, time_zone,"
                " currency_code, expires_at) VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))",
                key, session.account_id, self.codec.seal(api_key), session.account_name, session.time_zone,
                session.currency, float(self.ttl_s),
            )  # fmt: skip
        return token, session

    async def get(self, token: str) -> Session | None:
        """The live session of a cookie token (None: unknown, expired or signed out)."""
        key = _hash(token)
        if key is None:
            return None
        row = await self.pool.fetchrow(
            "SELECT account_id, api_key_sealed, account_name, time_zone, currency_code FROM console.sessions"
            " WHERE session_hash = $1 AND expires_at > now()",
            key,
        )
        if row is None:
            return None
        api_key = self.codec.unseal(row["api_key_sealed"])
        if api_key is None:  # sealed under another console secret: sign in again
            return None
        return Session(
            api_key, key.hex(), row["account_id"], row["account_name"], row["time_zone"], row["currency_code"]
        )

    async def revoke(self, token: str) -> None:
        key = _hash(token)
        if key is not None:
            await self.pool.execute("DELETE FROM console.sessions WHERE session_hash = $1", key)
