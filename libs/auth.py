"""Who is calling: the operator (admin token), another service (internal
token), the HTTP gateway (gateway token), an account (API key) or an app (app
key, events only).

The internal and gateway tokens are not master keys: each may call only the
methods listed for it in ``ALLOWED_METHODS`` (checked by the auth interceptor
before any handler runs; anything else is PERMISSION_DENIED naming the method).

Secrets look like ``<kind>_<key id>_<secret>``. Only a SHA-256 of the whole
secret is stored; the key id finds the row and the hash is compared in constant
time. The rows live in the ``accounts`` schema (owned by the links service);
every service reads them through this module, with a short cache.
"""

from __future__ import annotations

import contextvars
import dataclasses
import hashlib
import hmac
from typing import Literal

import asyncpg

from libs.cache import TTLCache
from libs.errors import PermissionDenied, Unauthenticated
from libs.ids import new_secret

Kind = Literal["admin", "internal", "gateway", "account", "app", "postback"]
SECRET_PREFIX = {"account": "ctk", "app": "cta", "postback": "ctp"}
PREFIX_KIND = {v: k for k, v in SECRET_PREFIX.items()}
CACHE_TTL_S = 5.0
CACHE_MAX_ENTRIES = 100_000
# Metadata with which the gateway vouches (with its token) for the client address and
# User-Agent of a request it forwards with the caller's own key (ingest SendEventsJson).
GATEWAY_VOUCH_HEADER = "x-clicktrail-gateway-token"

_LINKS = "/clicktrail.links.v1.LinksService/"
_ACCOUNTS = "/clicktrail.accounts.v1.AccountService/"
_AFFILIATE = "/clicktrail.links.v1.AffiliateService/"
# What each service credential may call (full method names); deny by default.
# "internal": exactly the look-ups and actions services make of each other
# (attribution: touches, campaigns, currency; postbacks: partners; analytics
# rules and the flood finder: campaigns, sub-id lists, flags), never anything
# that mints a secret (accounts, API keys, postback tokens, apps, app keys).
# "gateway": recording touches only; events and postbacks carry their callers' keys.
ALLOWED_METHODS: dict[str, frozenset[str]] = {
    "internal": frozenset(
        [
            _LINKS + "LookupTouches",
            _LINKS + "LookupApps",  # attribution (SKAN): the app of an App Store id
            _LINKS + "GetCampaign",
            _LINKS + "ListCampaigns",
            _LINKS + "UpdateCampaign",
            _LINKS + "GetPartner",
            _LINKS + "CreatePartner",  # postbacks: a catalog creation, under the id it chose
            _LINKS + "DeletePartner",  # postbacks: the sweeper removes the partner of a failed catalog creation
            _LINKS + "ListSubIdEntries",
            _LINKS + "AddSubIdEntry",
            _LINKS + "FlagSubIds",
            _ACCOUNTS + "GetAccount",
            _AFFILIATE + "GetOffer",  # attribution: the click's offer (network, payout)
            _AFFILIATE + "RecordOfferConversions",  # attribution: conversions counted against offer caps
        ]
    ),
    "gateway": frozenset(
        [
            _LINKS + "RecordClicks",
            _LINKS + "RecordImpressions",
            _AFFILIATE + "RecordLanderClicks",  # /lp/click
            _AFFILIATE + "GetLinkQrCode",  # /qr/{slug}.svg|png (by slug only)
            _AFFILIATE + "CheckDomain",  # Caddy's on-demand TLS `ask`
            "/clicktrail.attribution.v1.SkanService/RecordSkanPostback",  # Apple's SKAN / AAK developer copies
            "/clicktrail.attribution.v1.SkanService/BatchRecordSkanPostbacks",  # the same, coalesced
            _LINKS + "LookupApps",  # SKAN developer copies on the tracker's own host: the app's account
            _LINKS + "GetAssociatedApps",  # /.well-known/apple-app-site-association, assetlinks.json
        ]
    ),
}


def check_allowed(p: Principal, method: str) -> None:
    """PermissionDenied when a service credential calls a method not on its list."""
    allowed = ALLOWED_METHODS.get(p.kind)
    if allowed is not None and method not in allowed:
        raise PermissionDenied(f"the {p.kind} token may not call {method}")


@dataclasses.dataclass(frozen=True)
class Principal:
    kind: Kind
    account_id: str = ""
    app_id: str = ""


current_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("current_principal", default=None)


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def make_secret(kind: Literal["account", "app", "postback"]) -> tuple[str, str, bytes]:
    """A new secret, its key id and its hash."""
    secret = new_secret(SECRET_PREFIX[kind])
    return secret, secret.split("_", 2)[1], hash_secret(secret)


def constant_time_equal(a: str, b: str) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


@dataclasses.dataclass(frozen=True)
class _Cred:
    account_id: str
    app_id: str
    kind: str
    secret_hash: bytes


class KeyStore:
    """Verifies bearer secrets against accounts.credentials."""

    def __init__(
        self, pool: asyncpg.Pool, admin_token: str = "", internal_token: str = "", gateway_token: str = ""
    ) -> None:
        self._pool = pool
        self._admin = admin_token
        self._internal = internal_token
        self._gateway = gateway_token
        # key id -> its live credential (None: no such key; cached as long).
        self._creds: TTLCache[str, _Cred | None] = TTLCache(CACHE_TTL_S, maxsize=CACHE_MAX_ENTRIES)
        self._apps: TTLCache[str, frozenset[str]] = TTLCache(CACHE_TTL_S, maxsize=CACHE_MAX_ENTRIES)

    def is_gateway(self, secret: str) -> bool:
        """Whether ``secret`` is the gateway's token: a request the gateway forwards with its
        caller's own key carries it beside, to vouch for the client address it names."""
        return constant_time_equal(secret, self._gateway)

    def invalidate(self, key_id: str | None = None) -> None:
        self._creds.invalidate(key_id)

    async def _lookup(self, key_id: str) -> _Cred | None:
        async def load() -> _Cred | None:
            row = await self._pool.fetchrow(
                "SELECT account_id, coalesce(app_id, '') AS app_id, kind, secret_hash"
                " FROM accounts.credentials WHERE key_id = $1 AND revoke_time IS NULL",
                key_id,
            )
            return _Cred(row["account_id"], row["app_id"], row["kind"], bytes(row["secret_hash"])) if row else None

        return await self._creds.get_or_load(key_id, load)

    async def account_apps(self, account_id: str, *, fresh: bool = False) -> frozenset[str]:
        """The account's live apps (those with an unrevoked app key)."""

        async def load() -> frozenset[str]:
            rows = await self._pool.fetch(
                "SELECT app_id FROM accounts.credentials"
                " WHERE account_id = $1 AND kind = 'app' AND revoke_time IS NULL",
                account_id,
            )
            return frozenset(r["app_id"] for r in rows)

        return await self._apps.get_or_load(account_id, load, fresh=fresh)

    async def verify(self, secret: str, *, account_id_hint: str = "") -> Principal:
        """The principal for a bearer secret; Unauthenticated when it is not valid."""
        if constant_time_equal(secret, self._admin):
            return Principal("admin", account_id=account_id_hint)
        if constant_time_equal(secret, self._internal):
            return Principal("internal", account_id=account_id_hint)
        if constant_time_equal(secret, self._gateway):
            return Principal("gateway")  # acts for no account
        parts = secret.split("_", 2)
        if len(parts) != 3 or parts[0] not in PREFIX_KIND or not parts[1] or len(secret) > 200:
            raise Unauthenticated("invalid credentials")
        cred = await self._lookup(parts[1])
        # Hash and compare even on a miss, so timing tells nothing.
        expected = cred.secret_hash if cred else b"\0" * 32
        ok = hmac.compare_digest(hash_secret(secret), expected)
        if not cred or not ok or cred.kind != PREFIX_KIND[parts[0]]:
            raise Unauthenticated("invalid credentials")
        kind: Kind = cred.kind  # type: ignore[assignment]
        return Principal(kind, account_id=cred.account_id, app_id=cred.app_id)


def principal() -> Principal:
    p = current_principal.get()
    if p is None:
        raise Unauthenticated("missing credentials: send 'authorization: Bearer <api key>'")
    return p


def require_account() -> str:
    """The calling account's id. The internal token acts for the account named
    in ``x-account-id``."""
    p = principal()
    if p.kind == "account":
        return p.account_id
    if p.kind in ("internal", "admin") and p.account_id:
        return p.account_id
    if p.kind == "app":
        raise PermissionDenied("an app key can only send events; use the account API key")
    if p.kind == "postback":
        raise PermissionDenied("a postback token can only send postbacks; use the account API key")
    raise PermissionDenied("this call acts for an account: use its API key")


def require_admin() -> Principal:
    p = principal()
    if p.kind != "admin":
        raise PermissionDenied("this call needs the operator admin token")
    return p


def require_internal() -> Principal:
    p = principal()
    if p.kind not in ("internal", "admin"):
        raise PermissionDenied("this call is for Clicktrail services only")
    return p


def require_gateway() -> Principal:
    """Recording touches: the gateway token (or the operator's admin token)."""
    p = principal()
    if p.kind not in ("gateway", "admin"):
        raise PermissionDenied("this call is for the Clicktrail gateway only: use CLICKTRAIL_GATEWAY_TOKEN")
    return p
