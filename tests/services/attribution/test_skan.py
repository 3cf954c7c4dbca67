"""SkanService over gRPC (the real attribution and links services, Postgres):
Apple's developer copy goes to the account whose app has the App Store id; a
replay and the network's forwarded copy are duplicates (one row); a forged
postback is refused and nothing stored; mappings credit campaigns (and remap the
postbacks stored unmapped before); conversion values are decoded through the
app's schema. Test vectors and their sources: skan_vectors.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
import grpc
import orjson
import pytest
from clicktrail.attribution.v1 import skan_pb2 as pb
from clicktrail.attribution.v1 import skan_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc

from services.attribution import skan_verify
from tests.conftest import GATEWAY_TOKEN, AccountInfo

from .skan_vectors import AAK, AAK_APP_ID, V2_2, V3_0_LOSE, V4_0_COARSE, V4_0_FINE, TestSigner, forged
from .test_tariffs import make_campaign

STORE_APP = "525463029"


def skan(channels: Callable[..., grpc.aio.Channel], server: Any, token: str) -> skan_pb2_grpc.SkanServiceStub:
    return skan_pb2_grpc.SkanServiceStub(channels(server.addr, token=token))


async def make_app(links: links_pb2_grpc.LinksServiceStub, apple_app_id: str = STORE_APP, name: str = "Game") -> str:
    app = lpb.App(name=name, platform=lpb.PLATFORM_IOS, bundle_id=f"com.example.{name.lower()}",
                  apple_app_id=apple_app_id)  # fmt: skip
    return str((await links.CreateApp(lpb.CreateAppRequest(app=app))).app.app_id)


def developer_copy(doc: dict[str, Any], **kw: Any) -> pb.RecordSkanPostbackRequest:
    return pb.RecordSkanPostbackRequest(body=orjson.dumps(doc), channel=pb.SKAN_CHANNEL_DEVELOPER_COPY, **kw)


async def all_postbacks(stub: skan_pb2_grpc.SkanServiceStub, **kw: Any) -> list[pb.SkanPostback]:
    return list((await stub.ListSkanPostbacks(pb.ListSkanPostbacksRequest(page_size=100, **kw))).postbacks)


async def test_developer_copy_replay_and_network_copy_are_one_row(
    attribution_server: Any, links_stub: Any, account: AccountInfo, channels: Any
) -> None:
    app_id = await make_app(links_stub)
    gateway = skan(channels, attribution_server, GATEWAY_TOKEN)
    mine = skan(channels, attribution_server, account.api_key)
    network = skan(channels, attribution_server, account.postback_token)

    first = await gateway.RecordSkanPostback(developer_copy(V4_0_FINE))
    p = first.postback
    assert not first.duplicate and p.postback_id.startswith("skp_")
    assert (p.transaction_id, p.version, p.store_app_id, p.app_id) == (V4_0_FINE["transaction-id"], "4.0",
                                                                       STORE_APP, app_id)  # fmt: skip
    assert (p.source_identifier, p.fine_value, p.coarse_value, p.installs) == ("5239", 63, "", 1)
    assert (p.campaign_id, p.received_via, p.signing_key) == ("", pb.SKAN_CHANNEL_DEVELOPER_COPY, "apple-skan-p256")

    # Apple retries until it gets a 200: the replay is a duplicate, the first row answered.
    again = await gateway.RecordSkanPostback(developer_copy(V4_0_FINE))
    assert again.duplicate and again.postback.postback_id == p.postback_id
    # The network forwards its copy of the same postback with the account's postback token.
    copy = await network.RecordSkanPostback(pb.RecordSkanPostbackRequest(body=orjson.dumps(V4_0_FINE)))
    assert copy.duplicate and copy.postback.postback_id == p.postback_id
    rows = await all_postbacks(mine)
    assert [r.postback_id for r in rows] == [p.postback_id]
    assert orjson.loads(rows[0].raw_json)["attribution-signature"] == V4_0_FINE["attribution-signature"]

    # The network copy first (a new transaction): stored via the network channel.
    net = await network.RecordSkanPostback(pb.RecordSkanPostbackRequest(body=orjson.dumps(V3_0_LOSE)))
    assert not net.duplicate and net.postback.received_via == pb.SKAN_CHANNEL_NETWORK
    assert (net.postback.did_win, net.postback.installs) == (False, 0)
    assert len(await all_postbacks(mine)) == 2
    got = await mine.GetSkanPostback(pb.GetSkanPostbackRequest(postback_id=V3_0_LOSE["transaction-id"]))
    assert got.postback.postback_id == net.postback.postback_id


async def test_forged_postback_is_refused_and_nothing_stored(
    attribution_server: Any, links_stub: Any, account: AccountInfo, channels: Any
) -> None:
    await make_app(links_stub)
    gateway = skan(channels, attribution_server, GATEWAY_TOKEN)
    mine = skan(channels, attribution_server, account.api_key)
    for doc, field in (
        (forged(V4_0_FINE, source_identifier="1111"), "signature"),
        (forged(V2_2, redownload=False), "signature"),
        ({k: v for k, v in V4_0_FINE.items() if k != "transaction-id"}, "transaction-id"),
        (forged(V4_0_FINE, coarse_conversion_value="huge"), "coarse-conversion-value"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await gateway.RecordSkanPostback(developer_copy(doc))
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (e.value.details() or "").startswith(f"{field}:"), e.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await gateway.RecordSkanPostback(pb.RecordSkanPostbackRequest(body=b"{not json"))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and (e.value.details() or "").startswith("body:")
    assert await all_postbacks(mine) == []


async def test_which_account_gets_a_developer_copy(
    attribution_server: Any, links_server: Any, links_stub: Any, account: AccountInfo, new_account: Any,
    channels: Any,
) -> None:  # fmt: skip
    gateway = skan(channels, attribution_server, GATEWAY_TOKEN)
    # No app has the App Store id: 404 saying what to set.
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await gateway.RecordSkanPostback(developer_copy(V2_2))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND and "apple-app-id" in (e.value.details() or "")

    await make_app(links_stub)
    other = await new_account("Rival")
    other_links = links_pb2_grpc.LinksServiceStub(channels(links_server.addr, token=other.api_key))
    other_app = await make_app(other_links)
    # Two accounts' apps have it: on the tracker's own host that is ambiguous (404 with the reason)...
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await gateway.RecordSkanPostback(developer_copy(V2_2))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND and "2 accounts" in (e.value.details() or "")
    # ... the custom domain's account (the gateway names it) decides.
    stored = await gateway.RecordSkanPostback(developer_copy(V2_2, account_id=other.account_id))
    assert stored.postback.app_id == other_app
    theirs = skan(channels, attribution_server, other.api_key)
    assert [p.transaction_id for p in await all_postbacks(theirs)] == [V2_2["transaction-id"]]
    assert await all_postbacks(skan(channels, attribution_server, account.api_key)) == []
    # ?app= must be an app with that App Store id.
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await gateway.RecordSkanPostback(developer_copy(V4_0_FINE, account_id=other.account_id, app_id="app_nope"))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


async def test_mappings_credit_campaigns_and_remap(
    attribution_server: Any, links_stub: Any, account: AccountInfo, channels: Any, db_url: str
) -> None:
    await make_app(links_stub)
    campaign = await make_campaign(links_stub, name="iOS UA")
    gateway = skan(channels, attribution_server, GATEWAY_TOKEN)
    mine = skan(channels, attribution_server, account.api_key)

    made = await mine.CreateSkanMapping(pb.CreateSkanMappingRequest(mapping=pb.SkanMapping(
        ad_network_id="COM.Example", source_identifier="5239", campaign_id=campaign.campaign_id)))  # fmt: skip
    m = made.mapping
    assert m.mapping_id.startswith("skm_") and m.ad_network_id == "com.example" and made.remapped == 0
    assert m.partner_id == campaign.partner_id and m.store_app_id == ""
    fine = (await gateway.RecordSkanPostback(developer_copy(V4_0_FINE))).postback
    assert (fine.campaign_id, fine.partner_id) == (campaign.campaign_id, campaign.partner_id)

    # A low-tier postback carries the last 2 digits of the source identifier (Apple's examples:
    # 5239, then 39; https://developer.apple.com/documentation/storekit/skadimpression/sourceidentifier
    # "you may receive two, three, or all four digits"): the one mapping ending with them credits it.
    coarse = (await gateway.RecordSkanPostback(developer_copy(V4_0_COARSE))).postback
    assert (coarse.source_identifier, coarse.campaign_id) == ("39", campaign.campaign_id)
    # SKAN 2.2's campaign id 42 has no mapping (campaign ids are not hierarchical): stored unmapped.
    old = (await gateway.RecordSkanPostback(developer_copy(V2_2))).postback
    assert old.campaign_id == ""
    assert [p.postback_id for p in await all_postbacks(mine, unmapped=True)] == [old.postback_id]
    assert [p.postback_id for p in await all_postbacks(mine, campaign_id=campaign.campaign_id)] == [
        coarse.postback_id, fine.postback_id]  # fmt: skip
    # Mapping it later credits the stored postback.
    later = await mine.CreateSkanMapping(pb.CreateSkanMappingRequest(mapping=pb.SkanMapping(
        ad_network_id="com.example", source_identifier="42", store_app_id=STORE_APP,
        campaign_id=campaign.campaign_id)))  # fmt: skip
    assert later.remapped == 1
    assert await all_postbacks(mine, unmapped=True) == []
    # The remap stamps update_time (analytics folds the move in by it).
    conn = await asyncpg.connect(db_url)
    try:
        row = await conn.fetchrow(
            "SELECT create_time, update_time, campaign_id FROM attribution.skan_postbacks WHERE postback_id = $1",
            old.postback_id,
        )
    finally:
        await conn.close()
    assert row["campaign_id"] == campaign.campaign_id and row["update_time"] > row["create_time"]

    # Validation names the field; a second mapping of the same key is ALREADY_EXISTS.
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await mine.CreateSkanMapping(pb.CreateSkanMappingRequest(mapping=pb.SkanMapping(
            ad_network_id="com.example", source_identifier="12345", campaign_id="cmp_nope")))  # fmt: skip
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "mapping.source_identifier" in (e.value.details() or "") and "mapping.campaign_id" in (
        e.value.details() or ""
    )
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await mine.CreateSkanMapping(pb.CreateSkanMappingRequest(mapping=pb.SkanMapping(
            ad_network_id="com.example", source_identifier="5239", campaign_id=campaign.campaign_id)))  # fmt: skip
    assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS and m.mapping_id in (e.value.details() or "")

    # Paginated list, delete.
    page = await mine.ListSkanMappings(pb.ListSkanMappingsRequest(page_size=1))
    rest = await mine.ListSkanMappings(pb.ListSkanMappingsRequest(page_size=1, page_token=page.next_page_token))
    assert len(page.mappings) == 1 and len(rest.mappings) == 1 and not rest.next_page_token
    assert {page.mappings[0].mapping_id, rest.mappings[0].mapping_id} == {m.mapping_id, later.mapping.mapping_id}
    await mine.DeleteSkanMapping(pb.DeleteSkanMappingRequest(mapping_id=m.mapping_id))
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await mine.DeleteSkanMapping(pb.DeleteSkanMappingRequest(mapping_id=m.mapping_id))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    # The postbacks list pages newest first.
    first = await mine.ListSkanPostbacks(pb.ListSkanPostbacksRequest(page_size=1))
    second = await mine.ListSkanPostbacks(pb.ListSkanPostbacksRequest(page_size=1, page_token=first.next_page_token))
    third = await mine.ListSkanPostbacks(pb.ListSkanPostbacksRequest(page_size=1, page_token=second.next_page_token))
    assert [first.postbacks[0].postback_id, second.postbacks[0].postback_id, third.postbacks[0].postback_id] == [
        old.postback_id, coarse.postback_id, fine.postback_id]  # fmt: skip
    assert not third.next_page_token


async def test_ambiguous_low_tier_identifier_stays_unmapped(
    attribution_server: Any, links_stub: Any, account: AccountInfo, channels: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_app(links_stub)
    signer = TestSigner()  # signs SKAN 4 postbacks as Apple would (its key stands in for Apple's)
    monkeypatch.setattr(skan_verify, "APPLE_P256", signer.public_b64)
    a, b = await make_campaign(links_stub, name="A"), await make_campaign(links_stub, name="B")
    mine = skan(channels, attribution_server, account.api_key)
    gateway = skan(channels, attribution_server, GATEWAY_TOKEN)
    for source, c in (("5239", a), ("1139", b)):
        await mine.CreateSkanMapping(pb.CreateSkanMappingRequest(mapping=pb.SkanMapping(
            ad_network_id="example123.skadnetwork", source_identifier=source, campaign_id=c.campaign_id)))  # fmt: skip
    low = signer.skan4(source_identifier="39", transaction_id="00000000-0000-4000-8000-000000000039")
    mid = signer.skan4(source_identifier="239", transaction_id="00000000-0000-4000-8000-000000000239")
    assert (await gateway.RecordSkanPostback(developer_copy(low))).postback.campaign_id == ""  # 5239 or 1139
    assert (await gateway.RecordSkanPostback(developer_copy(mid))).postback.campaign_id == a.campaign_id


async def test_values_decoded_through_the_apps_schema(
    attribution_server: Any, links_stub: Any, account: AccountInfo, channels: Any, db_url: str
) -> None:
    app_id = await make_app(links_stub)
    schema = {
        "currency": "USD",
        "fine_values": [{"value": 63, "revenue_min": "10", "revenue_max": "20", "events": [
            {"name": "purchase", "count": 2}]}],
        "coarse_values": [{"postback": 1, "value": "high", "revenue": "5", "events": [{"name": "signup"}]}],
    }  # fmt: skip
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute(
            "INSERT INTO attribution.skan_schemas (account_id, app_id, version, schema) VALUES ($1, $2, 1, $3)",
            account.account_id, app_id, orjson.dumps(schema).decode(),
        )  # fmt: skip
    finally:
        await conn.close()
    gateway = skan(channels, attribution_server, GATEWAY_TOKEN)
    fine = (await gateway.RecordSkanPostback(developer_copy(V4_0_FINE))).postback
    assert (fine.conversions, fine.revenue, fine.currency) == (2, "15", "USD")
    coarse = (await gateway.RecordSkanPostback(developer_copy(V4_0_COARSE))).postback
    assert (coarse.conversions, coarse.revenue, coarse.currency) == (1, "5", "USD")


async def test_adattributionkit(
    attribution_server: Any, links_stub: Any, account: AccountInfo, channels: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_app(links_stub)
    signer = TestSigner()
    monkeypatch.setitem(skan_verify.AAK_KEYS, skan_verify.AAK_PRODUCTION_KID, signer.public_b64)
    gateway = skan(channels, attribution_server, GATEWAY_TOKEN)
    body = signer.aak()
    req = pb.RecordSkanPostbackRequest(body=orjson.dumps(body), kind=pb.SKAN_KIND_ADATTRIBUTIONKIT,
                                       channel=pb.SKAN_CHANNEL_DEVELOPER_COPY)  # fmt: skip
    p = (await gateway.RecordSkanPostback(req)).postback
    assert (p.kind, p.version, p.store_app_id, p.source_identifier, p.fine_value) == (
        pb.SKAN_KIND_ADATTRIBUTIONKIT, "aak", STORE_APP, "5239", 42)  # fmt: skip
    assert (p.installs, p.signing_key) == (1, "apple-cas-identifier/0")
    assert (await gateway.RecordSkanPostback(req)).duplicate
    # Apple's published example is signed with a development key: refused unless the operator allows them.
    await make_app(links_stub, AAK_APP_ID, name="Other")
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await gateway.RecordSkanPostback(developer_copy(AAK))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and (e.value.details() or "").startswith("signature:")
