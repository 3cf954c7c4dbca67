"""The one config loader: every setting comes from a CLICKTRAIL_* environment
variable, read and validated by pydantic-settings, one settings class per process.

    LinksSettings.load()                       # what `python -m services.links` reads
    load_settings(database_url="postgres://...")  # every field (the suite, the CLI, tests)

A value that does not parse is an error naming the variable (``ConfigError``:
``CLICKTRAIL_GRPC_TLS_CLIENT_AUTH='ture': Input should be a valid boolean ...``),
never a silent default: booleans take 1/0, true/false, yes/no, on/off; numbers,
CIDR lists (comma-separated), ports and URLs are checked. An empty variable
counts as unset. Variables of other processes are not read (the gateway does not
see CLICKTRAIL_POSTBACK_*).

The classes are frozen dataclasses (``dataclasses.replace`` works); each
process's class holds only its fields:

    CommonSettings          database, tokens, logging, service addresses, gRPC deadline and TLS
    ServiceSettings         + what every gRPC service process needs (listen address, pool, metrics, gateway token)
    LinksSettings / IngestSettings / AttributionSettings / PostbacksSettings / AnalyticsSettings
    GatewaySettings         CommonSettings + the HTTP gateway's
    ConsoleSettings         CommonSettings + the console's
    Settings                all of them (the suite in one process, the CLI, tests)
"""

from __future__ import annotations

from libs.config.processes import (
    PROCESS_SETTINGS,
    SERVICE_SETTINGS,
    AnalyticsSettings,
    AttributionSettings,
    CommonSettings,
    ConsoleSettings,
    GatewaySettings,
    IngestSettings,
    LinksSettings,
    PostbacksSettings,
    ServiceSettings,
    Settings,
    SuiteSettings,
    load_process_settings,
    load_settings,
)
from libs.config.values import DEFAULT_ADDRS, ENV_PREFIX, ConfigError

__all__ = [
    "DEFAULT_ADDRS",
    "ENV_PREFIX",
    "PROCESS_SETTINGS",
    "SERVICE_SETTINGS",
    "AnalyticsSettings",
    "AttributionSettings",
    "CommonSettings",
    "ConfigError",
    "ConsoleSettings",
    "GatewaySettings",
    "IngestSettings",
    "LinksSettings",
    "PostbacksSettings",
    "ServiceSettings",
    "Settings",
    "SuiteSettings",
    "load_process_settings",
    "load_settings",
]
