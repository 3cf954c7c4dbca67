"""Postbacks as networks and trackers really send them, one test per preset of
services/attribution/postback_presets.json, over real HTTP (gateway -> attribution
-> links) for a real click.

Each preset's postbacks are in tests/data/postbacks/<preset_id>.json: the query
strings as the network fills its macros (``{click_id}`` stands for our click id),
each with what the network's tracker answer must say (status, which conversion,
created or not, payout, currency, type, txid). A partner is set to the preset
(PostbackFormatService.UpdatePostbackFormat) and named in the URL
(``/postback?partner=<id>``, the form the README tells operators to give networks);
one test uses the path form and one the click's campaign partner instead. At the
end the account's conversions (ListConversions) hold what the answers said.
The source of each format is in the test's docstring and in the sample file."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from clicktrail.attribution.v1 import attribution_pb2 as apb
from clicktrail.attribution.v1 import attribution_pb2_grpc, config_pb2_grpc
from clicktrail.attribution.v1 import config_pb2 as cpb
from clicktrail.links.v1 import affiliate_pb2 as afpb
from clicktrail.links.v1 import affiliate_pb2_grpc, links_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb

from tests.gateway.conftest import MakeLink, Tracked

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "postbacks"
# A person's phone: an HTTP library's User-Agent is an invalid click, never paid for.
PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile"
    " Safari/537.36"
)
STATUS = {"pending": apb.CONVERSION_STATUS_PENDING, "approved": apb.CONVERSION_STATUS_APPROVED,
          "rejected": apb.CONVERSION_STATUS_REJECTED}  # fmt: skip


def sample(preset_id: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((SAMPLES / f"{preset_id}.json").read_text())
    return doc


@pytest.fixture
def attribution(attribution_server: Any, account: Any, channels: Any) -> attribution_pb2_grpc.AttributionServiceStub:
    return attribution_pb2_grpc.AttributionServiceStub(channels(attribution_server.addr, token=account.api_key))


@pytest.fixture
def formats(attribution_server: Any, account: Any, channels: Any) -> config_pb2_grpc.PostbackFormatServiceStub:
    return config_pb2_grpc.PostbackFormatServiceStub(channels(attribution_server.addr, token=account.api_key))


async def click(client: httpx.AsyncClient, slug: str) -> str:
    r = await client.get(f"/c/{slug}?sub1=banner", headers={"user-agent": PHONE_UA})
    assert r.status_code == 302, r.text
    return parse_qs(urlsplit(r.headers["location"]).query)["cid"][0]


async def network(links_stub: links_pb2_grpc.LinksServiceStub, formats: config_pb2_grpc.PostbackFormatServiceStub,
                  preset_id: str, partner_id: str = "") -> str:  # fmt: skip
    """A partner (a new one unless given) whose postbacks read with the preset, as an operator sets it up."""
    if not partner_id:
        req = lpb.CreatePartnerRequest(partner=lpb.Partner(name=f"{preset_id} network"))
        partner_id = (await links_stub.CreatePartner(req)).partner.partner_id
    fmt = cpb.PostbackFormat(partner_id=partner_id, preset_id=preset_id)
    got = await formats.UpdatePostbackFormat(cpb.UpdatePostbackFormatRequest(format=fmt, allow_missing=True))
    assert (got.format.partner_id, got.format.preset_id) == (partner_id, preset_id)
    return partner_id


async def replay(client: httpx.AsyncClient, attribution: attribution_pb2_grpc.AttributionServiceStub, token: str,
                 preset_id: str, click_id: str, path: str) -> None:  # fmt: skip
    """Sends the preset's sample postbacks in order; checks every answer, then the stored conversions."""
    steps = sample(preset_id)["steps"]
    ids: dict[str, str] = {}
    final: dict[str, dict[str, Any]] = {}
    for n, step in enumerate(steps, 1):
        query = step["query"].replace("{click_id}", click_id)
        sep = "&" if "?" in path else "?"
        r = await client.get(f"{path}{sep}{query}&token={token}")
        assert r.status_code == 200, (preset_id, n, query, r.text)
        got, want = r.json(), step["expect"]
        where = (preset_id, n, query, got)
        assert got["click_id"] == click_id, where
        assert got["status"] == want["status"], where
        assert got["created"] is want["created"], where
        label = want["conversion"]
        if want["created"]:
            assert label not in ids and got["conversion_id"] not in ids.values(), where
            ids[label] = got["conversion_id"]
        assert got["conversion_id"] == ids[label], where
        if "changed" in want:
            assert got["changed"] is want["changed"], where
        if "payout" in want:
            assert Decimal(got["payout"]) == Decimal(want["payout"]), where
        for key in ("currency", "goal", "txid"):
            if key in want:
                assert got[key] == want[key], where
        final[label] = got
    convs = (await attribution.ListConversions(apb.ListConversionsRequest())).conversions
    stored = {c.conversion_id: c for c in convs if c.click_id == click_id}
    assert set(stored) == set(ids.values()), (preset_id, sorted(stored), ids)
    for label, conversion_id in ids.items():
        c, got = stored[conversion_id], final[label]
        assert c.status == STATUS[got["status"]], (preset_id, label, c)
        assert (Decimal(c.payout or "0"), c.currency, c.goal, c.txid) == (
            Decimal(got["payout"] or "0"), got["currency"], got["goal"], got["txid"],
        ), (preset_id, label, c)  # fmt: skip


@pytest.fixture
async def setup(client: httpx.AsyncClient, make_link: MakeLink, links_stub: Any, formats: Any) -> Any:
    async def make(preset_id: str, *, on_campaign_partner: bool = False) -> tuple[Tracked, str, str]:
        t = await make_link()
        partner_id = await network(links_stub, formats, preset_id, t.partner_id if on_campaign_partner else "")
        return t, partner_id, await click(client, t.slug)

    return make


async def check(preset_id: str, setup: Any, client: httpx.AsyncClient, attribution: Any, account: Any) -> None:
    _, partner_id, cid = await setup(preset_id)
    await replay(client, attribution, account.postback_token, preset_id, cid, f"/postback?partner={partner_id}")


# ------------------------------------------------------------ trackers' URL shapes


async def test_keitaro(setup, client, attribution, account):
    """Keitaro's /postback?subid=&status=&payout=&tid=: lead -> sale (sent without the
    tid) -> a rebill with a new tid (a second conversion) -> the sale rejected.
    Sources: https://docs.keitaro.io/en/conversions/postback.html (parameters, statuses
    lead/sale/rejected/rebill, transitions), https://pastebin.com/j1NRkc8A (a real
    AdCombo -> Keitaro URL), https://pastebin.com/r4j3f1UA (its log: status=confirmed&tid=)."""
    await check("keitaro", setup, client, attribution, account)


async def test_binom(setup, client, attribution, account):
    """Binom's click.php?cnv_id=&payout=&cnv_status=&cnv_currency= (and Binom 2's
    clickid=): no transaction id, so one conversion per click moved hold -> approve -> reject.
    Sources: https://docs.binom.org/postback-url.php, https://docs.altercpa.top/en/trackers/binom/."""
    await check("binom", setup, client, attribution, account)


async def test_voluum_in_the_path_form(setup, client, attribution, account):
    """Voluum's /postback?cid=&payout=&txid=&et=: two custom conversion types (et) on one
    click and one txid are two conversions. Sent to /postback/<partner_id> (the path form).
    Sources: https://doc.voluum.com/en/tracking_conversions_postback.html (cid, payout, txid,
    currency, et), https://pastebin.com/VHj5ZKAW (cid=#s2#&payout=#price#&txid=#tid#, a CAKE network)."""
    _, partner_id, cid = await setup("voluum")
    await replay(client, attribution, account.postback_token, "voluum", cid, f"/postback/{partner_id}")


async def test_redtrack(setup, client, attribution, account):
    """RedTrack's /postback?clickid=&sum=&type=: types Lead and Purchase on one click, then
    the Purchase declined without a transaction id (the click's newest Purchase).
    Sources: https://redtrack.zendesk.com/hc/en-us/articles/207082019-Step-2-Adding-Affiliate-Networks
    (clickid=&sum=), https://help.redtrack.io/knowledgebase/kb/basic-setup-9785/conversions-12026/tracking-event-types
    (type=Conversion_Event_Name)."""
    await check("redtrack", setup, client, attribution, account)


async def test_bemob(setup, client, attribution, account):
    """BeMob's /postback?cid=&payout=&txid=&status= with BeMob's status names new -> confirm
    -> charge (chargeback: rejected).
    Sources: https://help.bemob.com/docs/using-postback-statuses,
    https://docs.bemob.com/en/postbacks-for-selected-statuses (new, confirm, decline, charge),
    https://wordpress.org/support/?p=15061357 (cid={aff_sub2}&payout={payout}&txid={order_id})."""
    await check("bemob", setup, client, attribution, account)


# ------------------------------------------------------------------- networks


async def test_tune_goals_share_the_transaction_id(setup, client, attribution, account):
    """TUNE (HasOffers): aff_sub={aff_sub}&transaction_id={transaction_id}&payout=&goal_id=.
    TUNE's transaction_id is its click id, so two goals of one click carry the same one:
    two conversions; a resent postback changes nothing.
    Sources: https://docs.tracklysms.com/guides/offers/tune-integration (click_id={aff_sub}&payout={payout}),
    https://docs.dataflysignal.com/integrations/attribution/tune (transaction_id is the click id),
    https://docs.tealium.com/server-side-connectors/tune-postback-tracking-connector (goal_id, payout)."""
    await check("tune", setup, client, attribution, account)


async def test_everflow_event_reversed(setup, client, attribution, account):
    """Everflow: sub1={sub1}&transaction_id={transaction_id}&payout={payout}&event_name={event_name}:
    the base conversion and a Purchase event on one transaction_id, then only the event
    reversed (Everflow reverses by transaction id and event; by transaction id alone it
    reverses every event of the session, which its own docs warn against).
    Sources: https://mrpostback.com/everflow/, https://ef-helpdesk24.webflow.io/collaborator/managing-postbacks-as-a-partner,
    https://helpdesk.everflow.io/customer/reversal-postback-setup-for-processing-canceled-transactions."""
    await check("everflow", setup, client, attribution, account)


async def test_cake(setup, client, attribution, account):
    """CAKE's #hash# tokens: s2=#s2#&leadid=#leadid#&tid=#tid#&price=#price#; CAKE's click id
    slot is s2 and #leadid# its conversion id (the transaction id); a resend is no duplicate.
    Sources: https://support.getcake.com/support/solutions/articles/5000545788/thumbs_down (tokens),
    https://support.getcake.com/en/support/solutions/articles/5000546096 (click_id=#s2#)."""
    await check("cake", setup, client, attribution, account)


async def test_impact_action_lifecycle(setup, client, attribution, account):
    """Impact: SubId1={SubId1}&ActionId={ActionId}&Payout={Payout}&Currency={Currency}&Status={Status},
    fired at each status change of one action: PENDING -> APPROVED -> REVERSED (rejected);
    PascalCase parameter names as Impact's macros are written.
    Sources: https://www.mrpostback.com/impact (macros, statuses pending/approved/reversed),
    https://affpixel.com/blog/impact-postback-setup (trackers fire on status changes)."""
    await check("impact", setup, client, attribution, account)


async def test_affise_status_codes(setup, client, attribution, account):
    """Affise: sub1={sub1}&transactionid={transactionid}&status={status}&sum={sum}&currency={currency}&goal={goal}
    with its status codes 2 pending -> 5 hold (still pending) -> 1 approved, a second goal,
    then 3 declined.
    Sources: https://help-center.affise.com/en/articles/6655842-affiliate-postback-macros-affiliates,
    https://help-center.affise.com/en/articles/6483741-affiliate-postback-url-macros."""
    await check("affise", setup, client, attribution, account)


async def test_offerwall_chargeback_and_refund(setup, client, attribution, account):
    """Offerwalls: subid={{subId}}&transactionid={{transactionId}}&payout={{payout}}&status={{status}}:
    a chargeback repeats the transaction id with status=2 (Monlix, Revtoo); another wall
    sends a negative amount instead (Wannads): a partial refund, then down to 0 (rejected).
    Sources: https://docs.monlix.com/docs/postback, https://docs.revtoo.com/s2s-postback/postback-parameters,
    https://wannads.com/documentation/postback/app."""
    await check("offerwall", setup, client, attribution, account)


# ---------------------------------------------------------- which format applies


async def test_campaign_partner_format_without_partner_in_the_url(setup, client, attribution, account):
    """A network given the URL without partner=: the click's campaign partner has the Affise
    preset, so sub1 finds the click and status=2 / 1 / 3 read as Affise's codes.
    Source: https://help-center.affise.com/en/articles/6655842-affiliate-postback-macros-affiliates."""
    _, _, cid = await setup("affise", on_campaign_partner=True)
    await replay(client, attribution, account.postback_token, "affise", cid, "/postback")


async def test_codes_are_read_with_the_partner_named_not_any_partner(setup, client, account):
    """Affise's code 3 (declined) means something only with the Affise format: with
    partner=<the Affise partner> it is rejected; without it the click's campaign partner
    (no format: the defaults) decides, and the defaults refuse "3" naming the field
    instead of guessing. (sub1 still finds the click: an alias of the account's formats.)"""
    _, partner_id, cid = await setup("affise")
    tok = account.postback_token
    r = await client.get(f"/postback?sub1={cid}&transactionid=T-3&status=3&token={tok}")
    assert (r.status_code, r.json().get("field")) == (400, "status"), r.text
    r = await client.get(f"/postback?partner={partner_id}&sub1={cid}&transactionid=T-3&status=3&token={tok}")
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["created"], r.json()["click_id"]) == ("rejected", True, cid)


async def test_the_network_behind_the_clicks_offer_reads_its_postback(
    client, make_link, links_server, links_stub, formats, attribution, account, channels
):
    """The affiliate walk: a campaign stream rotates an Impact offer (straight, no lander);
    Impact is given the URL without partner=, so the click's offer's partner (Impact's
    preset) reads SubId1 / ActionId / Status; the conversion carries the offer, and the
    action's REVERSED postback rejects it.
    Sources: https://www.mrpostback.com/impact, https://affpixel.com/blog/impact-postback-setup."""
    t = await make_link()
    impact = await network(links_stub, formats, "impact")
    affiliate = affiliate_pb2_grpc.AffiliateServiceStub(channels(links_server.addr, token=account.api_key))
    offer = (await affiliate.CreateOffer(afpb.CreateOfferRequest(offer=afpb.Offer(
        name="Shoes US", partner_id=impact, url="https://impact.example/c/1234/5678?subId1={click_id}",
    )))).offer  # fmt: skip
    await affiliate.CreateStream(afpb.CreateStreamRequest(stream=afpb.Stream(
        campaign_id=t.campaign_id, action=afpb.STREAM_ACTION_ROTATE,
        offers=[afpb.WeightedOffer(offer_id=offer.offer_id, weight=1)],
    )))  # fmt: skip
    r = await client.get(f"/c/{t.slug}", headers={"user-agent": PHONE_UA})
    assert r.status_code == 302, r.text
    location = urlsplit(r.headers["location"])
    assert location.netloc == "impact.example"
    cid = parse_qs(location.query)["subId1"][0]
    tok, action = account.postback_token, "19816.4741.7654321"
    answers = []
    for status in ("PENDING", "APPROVED", "REVERSED"):
        q = f"SubId1={cid}&ActionId={action}&Payout=18.40&Currency=USD&Status={status}&token={tok}"
        r = await client.get(f"/postback?{q}")
        assert r.status_code == 200, r.text
        answers.append((r.json()["status"], r.json()["created"], r.json()["txid"]))
    assert answers == [("pending", True, action), ("approved", False, action), ("rejected", False, action)]
    [conv] = (await attribution.ListConversions(apb.ListConversionsRequest(campaign_id=t.campaign_id))).conversions
    assert (conv.click_id, conv.offer_id, conv.status, Decimal(conv.payout)) == (
        cid, offer.offer_id, apb.CONVERSION_STATUS_REJECTED, Decimal("18.40"),
    )  # fmt: skip


async def test_conversion_pixels_and_beacons(setup, client, attribution, account):
    """The other ways a conversion reaches a tracker: Binom's conversion pixel (an <img> on
    the thank-you page calling click.php?cnv_id=&payout=, fetched by a browser asking for an
    image: answered a 1x1 GIF), and a page script's navigator.sendBeacon (a POST whose body
    is text/plain) in Voluum's parameters.
    Sources: https://docs.binom.org/postback-url.php (Conversion Pixel),
    https://gist.github.com/dredlong/e5e44838e653a84a3cd896d9c1e048b8 (Voluum: an img with payout= and txid=),
    https://doc.voluum.com/en/tracking_conversions_postback.html."""
    _, binom, cid = await setup("binom")
    tok = account.postback_token
    browser = {"user-agent": PHONE_UA, "accept": "image/avif,image/webp,image/apng,image/*,*/*;q=0.8",
               "sec-fetch-dest": "image", "referer": "https://shop.example/thank-you"}  # fmt: skip
    r = await client.get(f"/postback?partner={binom}&cnv_id={cid}&payout=4.20&token={tok}", headers=browser)
    assert (r.status_code, r.headers["content-type"], r.content[:6]) == (200, "image/gif", b"GIF89a"), r.text
    _, voluum, cid2 = await setup("voluum")
    beacon = {"user-agent": PHONE_UA, "content-type": "text/plain;charset=UTF-8"}
    body = f"cid={cid2}&payout=29.99&txid=ORD-5521&et=purchase"
    r = await client.post(f"/postback?partner={voluum}&token={tok}", content=body, headers=beacon)
    assert r.status_code == 200 and r.json()["status"] == "approved", r.text
    convs = {c.click_id: c for c in (await attribution.ListConversions(apb.ListConversionsRequest())).conversions}
    assert (convs[cid].status, Decimal(convs[cid].payout)) == (apb.CONVERSION_STATUS_APPROVED, Decimal("4.2"))
    assert (convs[cid2].txid, convs[cid2].goal, Decimal(convs[cid2].payout)) == ("ORD-5521", "purchase",
                                                                                   Decimal("29.99"))  # fmt: skip


async def test_a_resent_refund_takes_the_amount_back_once(setup, client, account):
    """A network resends a postback it got no answer for (a timeout, a 5xx): an offerwall's
    negative amount (Wannads) sent twice is one refund; the resend is answered 200, unchanged.
    Source: https://wannads.com/documentation/postback/app (negative payouts for reversals)."""
    _, partner_id, cid = await setup("offerwall")
    tok = account.postback_token
    base = f"/postback?partner={partner_id}&subid={cid}&transactionid=W-1&currency=USD&token={tok}"
    made = await client.get(f"{base}&payout=2.00&status=1")
    assert made.status_code == 200, made.text
    answers = [await client.get(f"{base}&payout=-0.50") for _ in range(2)]
    assert [(r.status_code, r.json()["changed"], Decimal(r.json()["payout"])) for r in answers] == [
        (200, True, Decimal("1.5")), (200, False, Decimal("1.5")),
    ]  # fmt: skip
