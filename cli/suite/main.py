"""``python -m cli.suite``: set the suite up, supervise it until Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import os

from cli.suite.output import Out
from cli.suite.processes import DATABASE_NAME, SERVICES
from cli.suite.setup import EmbeddedPostgres, SuiteError, _short_path, data_dir, make_plan
from cli.suite.supervisor import supervise
from libs.config import ConfigError


def main() -> int:
    out = Out(["suite", "gateway", "console", *(s.name for s in SERVICES)])
    embedded: list[EmbeddedPostgres] = []

    def start_db() -> tuple[str, str]:
        url = os.environ.get("CLICKTRAIL_DATABASE_URL", "")
        if url:
            return url, "CLICKTRAIL_DATABASE_URL"
        pgdata = data_dir() / "pgdata"
        out.say(f"starting the embedded PostgreSQL in {pgdata}")
        pg = EmbeddedPostgres(pgdata)
        embedded.append(pg)
        asyncio.run(pg.ensure_database(DATABASE_NAME))
        return pg.uri(DATABASE_NAME), f"embedded PostgreSQL, data in {_short_path(pgdata)}"

    try:
        plan = make_plan(out, start_db)
        code = asyncio.run(supervise(plan, out))
    except ConfigError as exc:
        out.say(f"error: {exc}")
        code = 2
    except SuiteError as exc:
        out.say(f"error: {exc}")
        code = 1
    except KeyboardInterrupt:
        code = 130
    finally:
        for pg in embedded:
            out.say("stopping the embedded PostgreSQL")
            try:
                pg.stop()
            except Exception as exc:
                out.say(f"could not stop the embedded PostgreSQL: {exc}")
    out.say("stopped" if code == 0 else f"exit {code}")
    return code
