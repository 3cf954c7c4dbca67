"""`make run`: the whole suite on one machine, in the foreground.

    .venv/bin/python -m cli.suite

- Database: CLICKTRAIL_DATABASE_URL, or else an embedded PostgreSQL kept in
  ``$CLICKTRAIL_DATA_DIR/pgdata`` (default ``.clicktrail/pgdata``), so a second
  run keeps the data.
- Tokens: CLICKTRAIL_ADMIN_TOKEN / CLICKTRAIL_INTERNAL_TOKEN /
  CLICKTRAIL_GATEWAY_TOKEN, or else read from (first run: generated into)
  ``.clicktrail/admin-token`` / ``internal-token`` / ``gateway-token``, mode 0600.
  Each process gets only the tokens it needs (``Service.tokens``): the gateway
  only its gateway token, never the admin or internal token.
- Each gRPC service in SERVICES runs as its own process on its address
  (CLICKTRAIL_<NAME>_ADDR, default 127.0.0.1:5005x); once every one reports
  SERVING on grpc.health.v1, the gateway starts on
  CLICKTRAIL_GATEWAY_HOST:CLICKTRAIL_GATEWAY_PORT (default 127.0.0.1:8080).
- Child logs are forwarded, each line prefixed with the child's name.
- Ctrl-C / SIGTERM: the gateway, then the services get SIGTERM (SIGKILL after
  a grace period; a second Ctrl-C kills at once), the embedded PostgreSQL is
  stopped, exit 0. A child that dies on its own stops everything, exit 1.
"""

from __future__ import annotations

import os

# Before gRPC loads: the supervisor forks its children (preexec_fn sets their
# parent-death signal) while its health-check channels have threads in gRPC.
# With gRPC's fork support on, the child's post-fork handler restarts the epoll
# poller, which dies on EBADF when the child closes inherited descriptors before
# exec, and the child aborts before it runs (grpc/grpc#43055, #13873). The
# children exec at once and never use the parent's gRPC state.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

from cli.suite.main import main
from cli.suite.processes import SERVICES, Service

__all__ = ["SERVICES", "Service", "main"]
