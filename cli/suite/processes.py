"""The suite's processes: the gRPC services, the gateway, the console, and the tokens each is given."""

from __future__ import annotations

import dataclasses

from libs.config import DEFAULT_ADDRS

DATA_DIR_ENV = "CLICKTRAIL_DATA_DIR"
DEFAULT_DATA_DIR = ".clicktrail"
DATABASE_NAME = "clicktrail"
SERVING_TIMEOUT_S = 90.0
GATEWAY_TIMEOUT_S = 30.0
STOP_GRACE_S = 15.0


ADMIN = "CLICKTRAIL_ADMIN_TOKEN"
INTERNAL = "CLICKTRAIL_INTERNAL_TOKEN"
GATEWAY = "CLICKTRAIL_GATEWAY_TOKEN"
TOKEN_FILES = {ADMIN: "admin-token", INTERNAL: "internal-token", GATEWAY: "gateway-token"}


@dataclasses.dataclass(frozen=True)
class Service:
    """One gRPC service process of the suite, and the tokens it is given:
    the admin token to check the operator's calls, the internal token to call
    (or, links, to check calls from) other services, the gateway token (links)
    to check the gateway's (ingest: to believe the client address it forwards;
    attribution: the SKAdNetwork / AdAttributionKit developer copies it forwards)."""

    name: str
    module: str
    tokens: tuple[str, ...] = (ADMIN, INTERNAL)

    @property
    def addr_env(self) -> str:
        return f"CLICKTRAIL_{self.name.upper()}_ADDR"

    @property
    def default_addr(self) -> str:
        return DEFAULT_ADDRS[self.name]


# The gRPC services, started in this order; one line each.
SERVICES: list[Service] = [
    Service("links", "services.links", (ADMIN, INTERNAL, GATEWAY)),  # also serves clicktrail.accounts.v1.AccountService
    Service("ingest", "services.ingest", (ADMIN, GATEWAY)),  # the gateway token: it vouches for client addresses
    Service("attribution", "services.attribution", (ADMIN, INTERNAL, GATEWAY)),  # gateway token: SKAN developer copies
    Service("postbacks", "services.postbacks"),
    Service("analytics", "services.analytics"),
]
GATEWAY_MODULE = "gateway"
GATEWAY_TOKENS = (GATEWAY,)  # the internet-facing process: no admin, no internal token
# The operator console: its own process (its own event loop, never the gateway's);
# the gateway forwards /console to it on CLICKTRAIL_CONSOLE_HOST:PORT.
CONSOLE_MODULE = "console"
CONSOLE_SECRET = "CLICKTRAIL_CONSOLE_SECRET"  # noqa: S105 - the variable's name
