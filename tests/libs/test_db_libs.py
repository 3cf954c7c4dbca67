"""Migrations, partitions and group commit against a real Postgres."""

import asyncio
import datetime as dt

import asyncpg
import pytest

from libs.groupcommit import GroupCommitter, copy_committer
from libs.migrations import migrate
from libs.partitions import drop_expired_partitions, ensure_daily_partitions


async def test_concurrent_migrations_apply_each_file_once(db_url, tmp_path):
    (tmp_path / "0001_init.sql").write_text("CREATE TABLE demo.t (id int PRIMARY KEY);")
    (tmp_path / "0002_add.sql").write_text("INSERT INTO demo.t VALUES (1);")
    conns = [await asyncpg.connect(db_url) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(c, "demo", tmp_path) for c in conns))
        assert sorted(v for r in results for v in r) == [1, 2]
        assert await conns[0].fetchval("SELECT count(*) FROM demo.t") == 1
        (tmp_path / "0003_more.sql").write_text("INSERT INTO demo.t VALUES (2);")
        assert await migrate(conns[0], "demo", tmp_path) == [3]
    finally:
        for c in conns:
            await c.close()


async def test_bad_migration_name_is_refused(db_url, tmp_path):
    (tmp_path / "1_init.sql").write_text("SELECT 1;")
    conn = await asyncpg.connect(db_url)
    try:
        with pytest.raises(ValueError, match=r"NNNN_name\.sql"):
            await migrate(conn, "demo2", tmp_path)
    finally:
        await conn.close()


async def test_partitions_are_created_ahead_and_idempotently(db_url):
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute("CREATE SCHEMA p; CREATE TABLE p.ev (t timestamptz NOT NULL, v int) PARTITION BY RANGE (t)")
        today = dt.date(2030, 1, 31)
        created = await ensure_daily_partitions(conn, "p", "ev", days_back=1, days_ahead=3, today=today)
        assert created == ["ev_p20300130", "ev_p20300131", "ev_p20300201", "ev_p20300202", "ev_p20300203"]
        assert await ensure_daily_partitions(conn, "p", "ev", days_back=1, days_ahead=3, today=today) == []
        await conn.execute("INSERT INTO p.ev VALUES ('2030-02-03 23:59:59+00', 1)")
        with pytest.raises(asyncpg.PostgresError):
            await conn.execute("INSERT INTO p.ev VALUES ('2030-02-04 00:00:00+00', 1)")
    finally:
        await conn.close()


async def test_retention_drops_only_whole_days_past_it_and_keeps_foreign_partitions(db_url):
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute("CREATE SCHEMA r; CREATE TABLE r.ev (t timestamptz NOT NULL, v int) PARTITION BY RANGE (t)")
        today = dt.date(2030, 1, 31)
        await ensure_daily_partitions(conn, "r", "ev", days_back=5, days_ahead=1, today=today)
        # An operator's own partition (not our naming) is never ours to drop.
        await conn.execute(
            "CREATE TABLE r.ev_archive PARTITION OF r.ev FOR VALUES FROM ('2029-01-01') TO ('2029-02-01')"
        )
        await conn.execute("INSERT INTO r.ev VALUES ('2030-01-26 12:00+00', 1), ('2030-01-28 00:00+00', 2)")
        assert await drop_expired_partitions(conn, "r", "ev", retention_days=0, today=today) == []
        dropped = await drop_expired_partitions(conn, "r", "ev", retention_days=3, today=today)
        assert dropped == ["ev_p20300126", "ev_p20300127"]
        assert await conn.fetchval("SELECT array_agg(v) FROM r.ev") == [2]
        assert await drop_expired_partitions(conn, "r", "ev", retention_days=3, today=today) == []
        left = await conn.fetch("SELECT relname FROM pg_class WHERE relname LIKE 'ev\\_%' ORDER BY 1")
        assert [r["relname"] for r in left] == [
            "ev_archive", "ev_p20300128", "ev_p20300129", "ev_p20300130", "ev_p20300131", "ev_p20300201",
        ]  # fmt: skip
    finally:
        await conn.close()


async def test_group_commit_batches_writers_and_isolates_a_bad_one(db_url):
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=4)
    try:
        await pool.execute("CREATE TABLE public.gc (id int PRIMARY KEY, v text NOT NULL)")
        gc = copy_committer(pool, schema="public", table="gc", columns=["id", "v"], max_inflight=1)
        good = [gc.submit([(i * 10 + j, "ok") for j in range(10)]) for i in range(50)]
        bad = gc.submit([(100_000, None)])  # violates NOT NULL
        results = await asyncio.gather(*good, bad, return_exceptions=True)
        assert all(r is None for r in results[:-1])
        assert isinstance(results[-1], asyncpg.NotNullViolationError)
        assert await pool.fetchval("SELECT count(*) FROM public.gc") == 500
        # 51 writers shared far fewer COPYs than one each.
        assert gc.flushes < 51
    finally:
        await pool.close()


async def test_group_commit_finds_a_bad_row_by_halving_not_one_by_one(db_url):
    """A NUL (Postgres text cannot store it) in one row of a 63-writer group: the other 62
    land, the bad one alone gets the error, found in about 2·log2(n) flushes, not n."""
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
    try:
        await pool.execute("CREATE TABLE public.gc_nul (id int PRIMARY KEY, v text NOT NULL)")
        calls = 0

        async def flush(submissions: list[list[tuple[int, str]]]) -> list[None]:
            nonlocal calls
            calls += 1
            records = [r for rows in submissions for r in rows]
            async with pool.acquire() as conn:
                await conn.copy_records_to_table("gc_nul", records=records, columns=["id", "v"], schema_name="public")
            return [None] * len(submissions)

        gc: GroupCommitter[tuple[int, str], None] = GroupCommitter(flush, name="gc_nul", max_inflight=1)
        # The first writer flushes alone at once; the other 63 wait for it and go together.
        rows = [(i, "bad\x00row" if i == 40 else f"row {i}") for i in range(64)]
        results = await asyncio.gather(*(gc.submit([r]) for r in rows), return_exceptions=True)
        assert [i for i, r in enumerate(results) if r is not None] == [40]
        assert isinstance(results[40], asyncpg.PostgresError)
        assert await pool.fetchval("SELECT count(*) FROM public.gc_nul") == 63
        # 1 (the first) + 1 (the group) + 2 per halving (6 levels for 63): 14; one by one was 65.
        assert calls <= 14 and gc.failed_flushes <= 7
    finally:
        await pool.close()


async def test_group_commit_does_not_halve_when_the_database_is_away():
    """A fault no row causes fails the group once, not 2n-1 times in a row."""
    calls = 0

    async def flush(submissions: list[list[int]]) -> list[None]:
        nonlocal calls
        calls += 1
        raise ConnectionRefusedError("the database is away")

    gc: GroupCommitter[int, None] = GroupCommitter(flush, name="gc_away", max_inflight=1)
    results = await asyncio.gather(*(gc.submit([i]) for i in range(64)), return_exceptions=True)
    assert all(isinstance(r, ConnectionRefusedError) for r in results)
    assert calls == 2  # the first writer alone, then the other 63 together (halving made 1 + 125)
