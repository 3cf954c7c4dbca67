"""The shared work queue against a real Postgres: nothing skipped, nothing lost."""

import asyncio

import asyncpg
import pytest

from libs.queue import Consumer, Permanent, RetryLater, RetryPolicy, enqueue, list_dead, retry_dead
from tests.support.wait import wait_until


@pytest.fixture
async def pool(db_url):
    p = await asyncpg.create_pool(db_url, min_size=2, max_size=12)
    yield p
    await p.close()


async def test_concurrent_writers_including_a_late_commit_are_all_delivered(pool):
    seen: list[bytes] = []

    async def handler(job):
        seen.append(job.payload)

    consumer = Consumer(pool, "t.events", handler=handler, poll_s=0.05, batch_size=7)
    runner = asyncio.create_task(consumer.run())
    late_started = asyncio.Event()
    release_late = asyncio.Event()

    async def late_writer():
        async with pool.acquire() as conn, conn.transaction():
            await enqueue(conn, "t.events", [b"late-1", b"late-2"])
            late_started.set()
            await release_late.wait()  # commits after everyone else

    async def writer(w):
        for i in range(25):
            async with pool.acquire() as conn, conn.transaction():
                await enqueue(conn, "t.events", [f"w{w}-{i}".encode()])

    late = asyncio.create_task(late_writer())
    await late_started.wait()
    await asyncio.gather(*(writer(w) for w in range(4)))
    await wait_until(lambda: len(seen) >= 100, "the 100 committed jobs delivered")
    assert len(seen) == 100 and b"late-1" not in seen
    release_late.set()
    await late
    await wait_until(lambda: len(seen) >= 102, "the late commit's 2 jobs delivered")
    await consumer.stop()
    await asyncio.wait_for(runner, 10)  # the loop ends and gives its connections back
    expected = {f"w{w}-{i}".encode() for w in range(4) for i in range(25)} | {b"late-1", b"late-2"}
    assert sorted(seen) == sorted(expected)  # each exactly once
    assert await pool.fetchval("SELECT count(*) FROM queue.jobs") == 0


async def test_two_consumers_never_take_the_same_job(pool):
    async with pool.acquire() as conn:
        await enqueue(conn, "t.split", [str(i).encode() for i in range(300)])
    taken: list[bytes] = []

    async def handler(job):
        taken.append(job.payload)
        await asyncio.sleep(0)

    a = Consumer(pool, "t.split", handler=handler, batch_size=20)
    b = Consumer(pool, "t.split", handler=handler, batch_size=20)
    while await asyncio.gather(a.run_once(), b.run_once()) != [0, 0]:
        pass
    assert len(taken) == len(set(taken)) == 300
    assert a.done > 0 and b.done > 0


async def test_a_crashed_consumers_jobs_come_back_after_the_lease(pool):
    async with pool.acquire() as conn:
        await enqueue(conn, "t.crash", [b"a", b"b"])
    # The lease is long enough for the "still leased" check on a busy machine.
    crashed = Consumer(pool, "t.crash", handler=lambda j: asyncio.sleep(0), lease_s=2.0)
    claimed = await crashed.claim()  # ...and then the process dies without finishing
    assert len(claimed) == 2
    got: list[bytes] = []

    async def handler(job):
        got.append(job.payload)

    survivor = Consumer(pool, "t.crash", handler=handler)
    assert await survivor.run_once() == 0  # still leased

    async def taken_over() -> bool:
        await survivor.run_once()
        return len(got) >= 2

    await wait_until(taken_over, "the crashed consumer's 2 jobs back after its lease", every_s=0.1)
    assert sorted(got) == [b"a", b"b"]


async def test_failures_back_off_then_go_to_dead_letters_and_can_be_retried(pool):
    async with pool.acquire() as conn:
        await enqueue(conn, "t.fail", [b"x"], account_ids=["acc_1"], max_attempts=3)
    calls = 0

    async def failing(job):
        nonlocal calls
        calls += 1
        raise RuntimeError("partner down")

    c = Consumer(pool, "t.fail", handler=failing, retry=RetryPolicy(base_s=0.05, cap_s=0.1))

    async def dead() -> bool:
        await c.run_once()
        return bool(await pool.fetchval("SELECT dead FROM queue.jobs"))

    await wait_until(dead, "the job dead after 3 attempts", every_s=0.02)
    assert calls == 3
    row = await pool.fetchrow("SELECT dead, attempts, last_error FROM queue.jobs")
    assert row["dead"] and row["attempts"] == 3 and "partner down" in row["last_error"]
    assert await c.run_once() == 0  # dead letters are not claimed
    dead = await list_dead(pool, "t.fail", "acc_1")
    assert [d["job_id"] for d in dead]
    assert not await list_dead(pool, "t.fail", "acc_other")  # scoped by account
    async with pool.acquire() as conn:
        assert not await retry_dead(conn, "t.fail", "acc_other", dead[0]["job_id"])
        assert await retry_dead(conn, "t.fail", "acc_1", dead[0]["job_id"])
    done: list[bytes] = []

    async def ok(job):
        done.append(job.payload)

    assert await Consumer(pool, "t.fail", handler=ok).run_once() == 1
    assert done == [b"x"]


async def test_retry_later_and_permanent(pool):
    async with pool.acquire() as conn:
        await enqueue(conn, "t.kinds", [b"later", b"never"])

    async def handler(job):
        if job.payload == b"later":
            raise RetryLater("429", after_s=30)
        raise Permanent("400 bad request")

    await Consumer(pool, "t.kinds", handler=handler).run_once()
    rows = {
        bytes(r["payload"]): r for r in await pool.fetch("SELECT payload, dead, run_at - now() AS wait FROM queue.jobs")
    }
    assert rows[b"never"]["dead"]
    assert not rows[b"later"]["dead"] and rows[b"later"]["wait"].total_seconds() > 25


async def test_stop_hands_back_claimed_work(pool):
    async with pool.acquire() as conn:
        await enqueue(conn, "t.stop", [b"1"])
    c = Consumer(pool, "t.stop", handler=lambda j: asyncio.sleep(0), lease_s=600)
    assert len(await c.claim()) == 1
    await c.stop()
    assert await Consumer(pool, "t.stop", handler=lambda j: asyncio.sleep(0)).run_once() == 1


async def test_a_running_consumer_purges_its_dead_letters_past_the_retention(pool):
    async with pool.acquire() as conn, conn.transaction():
        ids = await enqueue(conn, "t.dead", [b"old", b"recent", b"waiting"], delay_s=3600, returning=True)
        await enqueue(conn, "t.other", [b"other queue"])
        died = "UPDATE queue.jobs SET dead = true, update_time = now() - make_interval(days => $2) WHERE job_id = $1"
        await conn.execute(died, ids[0], 31)
        await conn.execute(died, ids[1], 29)
        await conn.execute(
            "UPDATE queue.jobs SET dead = true, update_time = now() - interval '31 days' WHERE queue = 't.other'"
        )

    async def handler(job):
        raise AssertionError("nothing is due")

    c = Consumer(pool, "t.dead", handler=handler, poll_s=0.05, dead_retention_s=30 * 86400.0)
    runner = asyncio.create_task(c.run())

    async def purged() -> bool:
        return await pool.fetchval("SELECT count(*) FROM queue.jobs WHERE queue = 't.dead'") != 3

    try:
        await wait_until(purged, "the purge of the old dead letter")
    finally:
        await c.stop()
        await runner
    left = await pool.fetch("SELECT payload FROM queue.jobs ORDER BY job_id")
    # The dead letter past 30 days went; a younger one, a waiting job and another queue's stay.
    assert [bytes(r["payload"]) for r in left] == [b"recent", b"waiting", b"other queue"]


async def test_batches_in_flight_claim_the_next_batch_while_one_is_handled(pool):
    """A batch handler waiting on another system (Apple's API for the Apple Ads resolver)
    does not hold up the next claim: with batches_in_flight=3 the third batch is claimed
    while the first two are still being handled, and every job is done once."""
    async with pool.acquire() as conn:
        await enqueue(conn, "t.pipelined", [str(i).encode() for i in range(50)])
    started: list[list[bytes]] = []
    release = asyncio.Event()
    three_started = asyncio.Event()

    async def batch_handler(jobs):
        started.append([j.payload for j in jobs])
        if len(started) >= 3:
            three_started.set()
        await release.wait()  # the first three batches are handled at once, or never
        return {j.job_id: None for j in jobs}

    consumer = Consumer(pool, "t.pipelined", batch_handler=batch_handler, batch_size=10, batches_in_flight=3,
                        poll_s=0.05)  # fmt: skip
    runner = asyncio.create_task(consumer.run())
    await asyncio.wait_for(three_started.wait(), 10)
    assert len(started) == 3  # no fourth claim while three batches are in hand
    release.set()
    await wait_until(lambda: consumer.done >= 50, "all 50 jobs done")
    await consumer.stop()
    await asyncio.wait_for(runner, 10)
    payloads = [p for batch in started for p in batch]
    assert sorted(payloads) == sorted(str(i).encode() for i in range(50))  # each once
    assert await pool.fetchval("SELECT count(*) FROM queue.jobs WHERE queue = 't.pipelined'") == 0


async def test_a_pipelined_batch_whose_outcome_cannot_be_written_is_handed_back(pool):
    """The finishing transaction fails (here: the on_finish hook raises, as when the database
    goes away): the batch's jobs are handed back at once, not after their lease, and done later."""
    async with pool.acquire() as conn:
        await enqueue(conn, "t.handback", [b"a", b"b", b"c"])
    failures = 1
    handled: list[bytes] = []

    async def batch_handler(jobs):
        handled.extend(j.payload for j in jobs)
        return {j.job_id: None for j in jobs}

    async def on_finish(conn, outcomes):
        nonlocal failures
        if failures:
            failures -= 1
            raise ConnectionError("the database went away")

    consumer = Consumer(pool, "t.handback", batch_handler=batch_handler, batch_size=10, batches_in_flight=2,
                        poll_s=0.05, lease_s=3600, on_finish=on_finish)  # fmt: skip
    runner = asyncio.create_task(consumer.run())
    await wait_until(lambda: consumer.done >= 3, "the three jobs done after the hand-back (the lease is an hour)")
    await consumer.stop()
    await asyncio.wait_for(runner, 10)
    assert sorted(handled) == [b"a", b"a", b"b", b"b", b"c", b"c"]  # handled twice: once lost, once written
    assert await pool.fetchval("SELECT count(*) FROM queue.jobs WHERE queue = 't.handback'") == 0
