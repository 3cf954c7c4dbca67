"""The settings classes, one per process (see libs/config/__init__.py)."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any, ClassVar

from libs.config.loading import S, _load
from libs.config.values import DEFAULT_ADDRS, Count, Hosts, HttpUrl, Networks, Port, PostgresUrl, Seconds


@dataclasses.dataclass(frozen=True)
class CommonSettings:
    """What every process reads."""

    # Which process class this is, in messages.
    process: ClassVar[str] = "common"

    database_url: PostgresUrl = ""
    admin_token: str = ""
    internal_token: str = ""
    log_level: str = "info"
    log_format: str = "json"
    links_addr: str = DEFAULT_ADDRS["links"]
    ingest_addr: str = DEFAULT_ADDRS["ingest"]
    attribution_addr: str = DEFAULT_ADDRS["attribution"]
    postbacks_addr: str = DEFAULT_ADDRS["postbacks"]
    analytics_addr: str = DEFAULT_ADDRS["analytics"]
    grpc_deadline_s: Seconds = 5.0
    # gRPC over TLS (PEM file paths; all empty: plaintext). A server with a
    # cert + key serves TLS only; a client with a CA verifies the server with it.
    # The server asks for client certificates (mutual TLS, checked against the
    # CA) when grpc_tls_client_auth is true or a client cert is configured;
    # clients send grpc_tls_client_cert + key.
    grpc_tls_cert: str = ""
    grpc_tls_key: str = ""
    grpc_tls_ca: str = ""
    grpc_tls_client_auth: bool = False
    grpc_tls_client_cert: str = ""
    grpc_tls_client_key: str = ""

    @classmethod
    def load(cls: type[S], env: Mapping[str, str] | None = None, **overrides: Any) -> S:
        """Read CLICKTRAIL_<FIELD> (from ``env``, else os.environ) for every field of
        this class; keyword overrides win. A bad value raises ConfigError naming it."""
        return _load(cls, env, overrides)

    def addr_of(self, service: str) -> str:
        """Where a service's gRPC server is (accounts live in the links process)."""
        name = "links" if service == "accounts" else service
        return str(getattr(self, f"{name}_addr", ""))


@dataclasses.dataclass(frozen=True)
class ServiceSettings(CommonSettings):
    """What every gRPC service process reads (libs/grpc_server.py)."""

    # The gateway's own credential: it may only record clicks and impressions
    # (events and postbacks go on with their callers' own keys).
    gateway_token: str = ""
    # Where this process's gRPC server listens; empty means its service's default address.
    grpc_listen: str = ""
    db_pool_min: Count = 2
    db_pool_max: Count = 10
    metrics_port: Port = 0
    # Where the Prometheus endpoint of a service process listens (0.0.0.0 in containers).
    metrics_host: str = "127.0.0.1"


@dataclasses.dataclass(frozen=True)
class _PublicUrl(CommonSettings):
    # The gateway's address as the outside world sees it (tracking links, console cookies).
    public_url: HttpUrl = "http://127.0.0.1:8080"


@dataclasses.dataclass(frozen=True)
class _Partitions(CommonSettings):
    partition_days_ahead: Count = 7
    # Daily partitions of clicks, impressions and events older than this many
    # days are dropped (0 keeps them forever); rollups keep their aggregates.
    retention_days: Count = 0


@dataclasses.dataclass(frozen=True)
class _DeadLetters(CommonSettings):
    # Dead letters of the work queues (events to attribute, outbound events,
    # postback deliveries) are purged this many days after they died (0 keeps
    # them); a dead delivery stays retryable from its delivery row after that.
    queue_dead_retention_days: Count = 30


@dataclasses.dataclass(frozen=True)
class _ConsoleAddr(CommonSettings):
    # The console runs in its own process (``python -m console``, its own event loop:
    # nothing it does can hold up a click); the gateway forwards /console/* to it here.
    console_host: str = "127.0.0.1"
    console_port: Port = 8081


@dataclasses.dataclass(frozen=True)
class LinksSettings(ServiceSettings, _PublicUrl, _Partitions):
    process: ClassVar[str] = "links"
    # The tracker's own host names besides public_url's and loopback: links without a
    # custom domain answer on these; any other host that is no account's custom domain
    # is 404. "*": every host (no Host routing for them).
    tracker_hosts: Hosts = ()
    # Deferred deep links: how old a click may be for a fingerprint (IP + User-Agent)
    # match at the app's first launch; a click id match has no window but the click's
    # retention.
    deferred_deep_link_window_s: Seconds = 7200.0
    # The account whose apps the tracker's own hosts (public_url's, tracker_hosts)
    # serve /.well-known/apple-app-site-association and assetlinks.json for; empty:
    # those hosts answer 404 (a custom domain serves its own account's apps).
    association_account: str = ""


@dataclasses.dataclass(frozen=True)
class IngestSettings(ServiceSettings, _Partitions):
    process: ClassVar[str] = "ingest"


@dataclasses.dataclass(frozen=True)
class AttributionSettings(ServiceSettings, _DeadLetters):
    process: ClassVar[str] = "attribution"
    # A batch of events claimed by an attribution consumer that died is attributed
    # again after this long (a live consumer finishes a batch in well under a second).
    attribution_lease_s: Seconds = 120.0
    # Apple Ads (AdServices): Apple's attribution API (the install's token is POSTed
    # to it as text/plain), the timeout of one call, and the wait before asking again
    # after a 404 (Apple: not ready yet; retry up to 3 times 5 s apart).
    apple_ads_url: HttpUrl = "https://api-adservices.apple.com/api/v1/"
    apple_ads_timeout_s: Seconds = 10.0
    apple_ads_retry_s: Seconds = 5.0
    # The Apple Ads resolver runs in a process of its own, which this process starts,
    # restarts and stops (python -m services.attribution.apple_ads_worker): in the
    # attribution process it shared one event loop with the engine, and its work stretched
    # every batch the engine attributes (make bench). False: in this process.
    apple_ads_process: bool = True
    # SKAdNetwork / AdAttributionKit: also accept postbacks signed with Apple's
    # AdAttributionKit development keys (apple-development-identifier/0 and /1: any
    # device in Developer Mode makes them). Off in production.
    skan_development_keys: bool = False


@dataclasses.dataclass(frozen=True)
class PostbacksSettings(ServiceSettings, _DeadLetters):
    process: ClassVar[str] = "postbacks"
    # Destinations in these networks are allowed even when private/loopback/link-local
    # (comma-separated CIDRs, e.g. 127.0.0.0/8).
    postback_allowed_networks: Networks = ()
    # Attempts per delivery and the backoff (full jitter, base * 2^n capped):
    # 25 attempts from 10 s to 3 h span about 24 hours on average.
    postback_max_attempts: Count = 25
    postback_retry_base_s: Seconds = 10.0
    postback_retry_cap_s: Seconds = 10800.0
    postback_connect_timeout_s: Seconds = 5.0
    postback_timeout_s: Seconds = 15.0
    # Requests in flight per dispatcher process, and per destination host.
    postback_concurrency: Count = 512
    postback_host_concurrency: Count = 32
    postback_batch_size: Count = 200
    # A claimed delivery comes back to the queue after this long if its dispatcher died.
    postback_lease_s: Seconds = 60.0
    postback_poll_s: Seconds = 1.0
    # Requests in flight per account (a slow or black-holed endpoint of one
    # account never takes more of the dispatcher's slots than this).
    postback_account_concurrency: Count = 64
    # Postback templates an account may have (CreateTemplate beyond: RESOURCE_EXHAUSTED).
    postback_templates_per_account: Count = 200
    # Name resolution of postback hosts (aiodns, no thread pool): DNS servers
    # (comma-separated "ip" or "ip:port"; empty: /etc/resolv.conf), the timeout
    # of one lookup, and how long a failed lookup (NXDOMAIN, timeout) is cached.
    postback_dns_servers: str = ""
    postback_dns_timeout_s: Seconds = 2.0
    postback_dns_negative_ttl_s: Seconds = 30.0


@dataclasses.dataclass(frozen=True)
class AnalyticsSettings(ServiceSettings):
    process: ClassVar[str] = "analytics"
    # Rollups: a pass every interval folds in raw rows older than the lag (rows
    # commit a little after their timestamp); hours that closed more than
    # recount_after ago are recounted once from the raw tables to catch any row
    # that committed later than the lag.
    analytics_rollup_interval_s: Seconds = 1.0
    analytics_rollup_lag_s: Seconds = 2.0
    analytics_recount_after_s: Seconds = 600.0
    # How often a pass looks for past days of the derived tables (sub-id reports
    # by day) that a fold, a recount or a cost change left stale.
    analytics_derived_refresh_s: Seconds = 10.0
    # The sub-id flood finder (services/analytics/floods.py): every interval (0:
    # never) it flags each (campaign, sub field, value) with at least min_clicks
    # clicks (every verdict) over the last window_days UTC days (today included)
    # and installs / clicks below max_install_rate (0.0005 = 0.05 %); the links
    # service gives later clicks of a flagged value `flood_sub_id` until the flag
    # expires, flag_ttl_s after the last run that found it.
    analytics_flood_interval_s: float = 600.0
    analytics_flood_window_days: int = 7
    analytics_flood_min_clicks: int = 1000
    analytics_flood_max_install_rate: float = 0.0005
    analytics_flood_flag_ttl_s: float = 21600.0
    # How often the automation rules are checked.
    rules_interval_s: Seconds = 300.0


@dataclasses.dataclass(frozen=True)
class GatewaySettings(_ConsoleAddr):
    process: ClassVar[str] = "gateway"
    gateway_token: str = ""
    gateway_host: str = "127.0.0.1"
    gateway_port: Port = 8080
    # Proxies whose X-Forwarded-For the gateway believes (comma-separated CIDRs).
    trusted_proxies: Networks = ()
    # Click coalescing into one RecordClicks call.
    gateway_batch_max: Count = 256
    gateway_batch_delay_ms: Seconds = 1.0
    gateway_channels: Count = 2
    max_query_bytes: Count = 8192
    # Requests per second (0 = no limit) per client address (IPv4; IPv6 by /64) on
    # /c + /i, on /v1/events and on /postback, per app / API key on /v1/events and
    # per postback token on /postback; bursts of two seconds' worth; per gateway
    # replica; over it: 429.
    rate_limit_touches_per_ip: float = 50.0
    # Per address above per key / token: one back end or one network's postback server
    # sends for many keys and tenants, whose own limits then apply.
    rate_limit_events_per_ip: float = 200.0
    rate_limit_postbacks_per_ip: float = 1000.0
    rate_limit_events_per_key: float = 1000.0
    rate_limit_postbacks_per_token: float = 500.0
    # A request body (/v1/events, POST /postback) must arrive within this many
    # seconds (else 408); /v1/events requests in flight at once per gateway
    # process and per key (over it: 503 with Retry-After).
    gateway_body_timeout_s: Seconds = 10.0
    gateway_events_concurrency: Count = 256
    gateway_events_concurrency_per_key: Count = 64


@dataclasses.dataclass(frozen=True)
class ConsoleSettings(_PublicUrl, _ConsoleAddr):
    process: ClassVar[str] = "console"
    # The secret that encrypts the session cookie (empty: the console answers 503),
    # and whether that cookie is Secure ("auto": Secure unless public_url is plain
    # http on 127.0.0.1/localhost).
    console_secret: str = ""
    console_secure_cookie: str = "auto"
    # A console sign-in lasts this long (server-side; sign-out ends it at once).
    console_session_ttl_s: Count = 43200


@dataclasses.dataclass(frozen=True)
class Settings(
    LinksSettings,
    IngestSettings,
    AttributionSettings,
    PostbacksSettings,
    AnalyticsSettings,
    GatewaySettings,
    ConsoleSettings,
):
    """Every field: the whole suite in one process (`make run`), the CLI, the tests."""

    process: ClassVar[str] = "suite"


SuiteSettings = Settings

# The class each gRPC service process reads (libs/grpc_server.run_service).
SERVICE_SETTINGS: dict[str, type[ServiceSettings]] = {
    "links": LinksSettings,
    "ingest": IngestSettings,
    "attribution": AttributionSettings,
    "postbacks": PostbacksSettings,
    "analytics": AnalyticsSettings,
}
PROCESS_SETTINGS: dict[str, type[CommonSettings]] = {
    **SERVICE_SETTINGS,
    "gateway": GatewaySettings,
    "console": ConsoleSettings,
    "suite": Settings,
}


def load_process_settings(process: str, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """What a process's entry point reads: only its own class's variables
    (PROCESS_SETTINGS[process]). Typed as Settings so code that annotates the full
    class takes it; it has every field that process's code uses."""
    return typing.cast(Settings, PROCESS_SETTINGS[process].load(env, **overrides))


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Every field of every process (Settings.load): CLICKTRAIL_<FIELD> from ``env``
    (else os.environ); keyword overrides win."""
    return Settings.load(env, **overrides)
