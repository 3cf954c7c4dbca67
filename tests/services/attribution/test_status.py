"""The conversion status state machine: pending -> approved, pending -> rejected,
approved -> rejected; nothing else. Property-based, on the pure rules and
against the real service (postbacks and UpdateConversionStatus mixed)."""

import asyncio
import uuid

import grpc
import pytest
from clicktrail.attribution.v1 import attribution_pb2 as apb
from clicktrail.attribution.v1 import attribution_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libs.errors import FailedPrecondition, InvalidArgument
from services.attribution.postback_rules import STATUS_WORDS, check_transition, parse_status
from tests.services.attribution.engine_support import make_app, make_campaign, outbound_events, touch

PENDING, APPROVED, REJECTED = 1, 2, 3
ALLOWED = {(PENDING, APPROVED), (PENDING, REJECTED), (APPROVED, REJECTED)}
statuses = st.sampled_from([PENDING, APPROVED, REJECTED])


@given(old=statuses, new=statuses)
def test_only_the_three_moves_are_allowed(old, new):
    if old == new or (old, new) in ALLOWED:
        check_transition("cv", old, new)
    else:
        with pytest.raises(FailedPrecondition, match="only pending -> approved"):
            check_transition("cv", old, new)


@given(moves=st.lists(statuses, max_size=12))
def test_a_conversion_never_goes_back_and_ends_rejected_once_rejected(moves):
    state = PENDING
    for new in moves:
        try:
            check_transition("cv", state, new)
            state = new
        except FailedPrecondition:
            assert new < state
    assert state >= PENDING
    if REJECTED in moves:
        assert state == REJECTED


@given(word=st.sampled_from(sorted(STATUS_WORDS)), case=st.sampled_from([str.lower, str.upper, str.title]))
def test_status_words_any_case(word, case):
    assert parse_status(f" {case(word)} ") == STATUS_WORDS[word]


@given(word=st.text(max_size=12).filter(lambda w: w.strip().lower() not in STATUS_WORDS and w.strip()))
def test_unknown_status_words_are_refused(word):
    with pytest.raises(InvalidArgument) as err:
        parse_status(word)
    assert err.value.violations[0][0] == "status"


WORD = {PENDING: ["lead", "hold", "pending"], APPROVED: ["sale", "confirmed", "1", "approved"],
        REJECTED: ["reject", "trash", "cancelled", "declined"]}  # fmt: skip


@pytest.fixture
async def setup(attribution_server, links_stub, gateway_links_stub, account, channels):
    app_id = await make_app(links_stub)
    camp = await make_campaign(links_stub, app_id)
    click_id = await touch(gateway_links_stub, camp)
    postbacks = attribution_pb2_grpc.AttributionServiceStub(
        channels(attribution_server.addr, token=account.postback_token)
    )
    api = attribution_pb2_grpc.AttributionServiceStub(channels(attribution_server.addr, token=account.api_key))
    return click_id, postbacks, api


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(statuses, st.booleans(), st.integers(0, 3)), min_size=1, max_size=6))
async def test_service_follows_the_state_machine(setup, steps, settings, account):
    click_id, postbacks, api = setup
    txid = uuid.uuid4().hex
    state = None
    conversion_id = ""
    changes = 0
    for status, by_postback, pick in steps:
        if state is None or by_postback:
            word = WORD[status][pick % len(WORD[status])]
            call = postbacks.RecordPostback(apb.RecordPostbackRequest(click_id=click_id, txid=txid, status=word))
        else:
            call = api.UpdateConversionStatus(
                apb.UpdateConversionStatusRequest(conversion_id=conversion_id, status=status)
            )
        allowed = state is None or state == status or (state, status) in ALLOWED
        try:
            resp = await call
        except grpc.aio.AioRpcError as err:
            assert not allowed, err.details()
            assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "cannot become" in err.details()
            continue
        assert allowed, (state, status)
        assert resp.conversion.status == status
        if state != status:
            changes += 1
        assert resp.changed == (state != status)
        conversion_id = conversion_id or resp.conversion.conversion_id
        assert resp.conversion.conversion_id == conversion_id
        state = status
    got = await api.GetConversion(apb.GetConversionRequest(conversion_id=conversion_id))
    assert got.conversion.status == state
    mine = [o for o in await outbound_events(settings, account.account_id) if o["txid"] == txid]
    assert len(mine) == changes  # one outbound event per creation and per status change
    assert [o["kind"] for o in mine] == ["conversion"] + ["status_change"] * (changes - 1)


async def test_update_status_errors(setup):
    _, postbacks, api = setup
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.UpdateConversionStatus(apb.UpdateConversionStatusRequest(conversion_id="nope", status=APPROVED))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.UpdateConversionStatus(apb.UpdateConversionStatusRequest(conversion_id="", status=APPROVED))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # A postback token cannot read; an API key cannot send postbacks.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await postbacks.ListConversions(apb.ListConversionsRequest())
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.RecordPostback(apb.RecordPostbackRequest(click_id="x"))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.sampled_from(["lead", "sale", "trash", "hold", "confirmed", "cancelled"]), min_size=2,
                      max_size=12))  # fmt: skip
async def test_concurrent_postbacks_for_one_txid_follow_one_order(setup, words, settings, account):
    """Postbacks sent at the same moment are stored together (group commit):
    the answers still read as one order of moves, each allowed, with one
    conversion, one log line each and one outbound event per change."""
    click_id, postbacks, api = setup
    txid = uuid.uuid4().hex

    async def send(word):
        try:
            return await postbacks.RecordPostback(apb.RecordPostbackRequest(click_id=click_id, txid=txid, status=word))
        except grpc.aio.AioRpcError as err:
            assert err.code() == grpc.StatusCode.FAILED_PRECONDITION, err.details()
            return None

    answers = await asyncio.gather(*(send(w) for w in words))
    ok = [a for a in answers if a is not None]
    assert sum(a.created for a in ok) == 1
    assert len({a.conversion.conversion_id for a in ok}) == 1
    conversion_id = ok[0].conversion.conversion_id
    moves = [(a.previous_status, a.conversion.status) for a in ok if a.changed and not a.created]
    assert all(m in ALLOWED for m in moves)
    # The moves chain from the created status to the stored one, each at most once (no going back).
    first = next(a.conversion.status for a in ok if a.created)
    assert len(set(moves)) == len(moves)
    state = first
    for _ in moves:
        state = next(new for old, new in moves if old == state)
    got = await api.GetConversion(apb.GetConversionRequest(conversion_id=conversion_id))
    assert got.conversion.status == state
    log = (await api.ListInboundPostbacks(apb.ListInboundPostbacksRequest(click_id=click_id, page_size=1000))).postbacks
    mine = [p for p in log if p.txid == txid]
    assert len(mine) == len(words)
    assert sorted(p.http_status for p in mine) == sorted(200 if a is not None else 409 for a in answers)
    out = [o for o in await outbound_events(settings, account.account_id) if o["txid"] == txid]
    assert [o["kind"] for o in out] == ["conversion"] + ["status_change"] * len(moves)
    assert out[-1]["status"] == {PENDING: "pending", APPROVED: "approved", REJECTED: "rejected"}[state]
