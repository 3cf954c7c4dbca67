"""The Apple Ads re-credit racing the engine (review of issue 22).

The engine reads a user's install (its campaign, its touch) before its
transaction, then credits the user's purchase in it. Apple's answer may credit
the install to Apple Ads in between: the resolver moves the install's
conversions it can see (committed ones), and the engine's purchase, computed
from the install's old campaign, must not stay with the fingerprint's network.

The interleaving is made exact: the test's own engine (services/attribution
engine.Engine on the test's database, the real links service) asks links for
the user's touches only once the attribution service's resolver has credited
the install (the real resolver, against the local stand-in of Apple's API).
What the queue does with a deferred job (handle it again) the test does too."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

import asyncpg
import pytest

from libs import event_handoff
from libs.queue import Defer
from services.attribution.engine import Engine
from services.attribution.goals import EVENT_TRACK
from services.attribution.lookups import Links
from tests.services.attribution.engine_support import conversions, drained, send
from tests.services.attribution.engine_support import touch as record_touch
from tests.services.attribution.test_apple_ads import (  # noqa: F401 (fixtures)
    IPHONE_UA,
    MATCH_APPLE_ADS,
    MATCH_FINGERPRINT,
    Setup,
    apple_stub,
    install_of,
    ios_event,
    resolved,
    setup,
)
from tests.support import apple_ads_standin as apple
from tests.support.apple_ads_standin import AppleAdsStandin


@pytest.fixture
def settings(settings, standin):
    """Apple's 404 asked again 1.5 s later: the install stays the fingerprint's long enough to read it."""
    return dataclasses.replace(settings, apple_ads_url=standin.url, apple_ads_retry_s=1.5)


class CreditedMeanwhile(Links):
    """The real links client; the account's currency (the engine's last look-up before its
    transaction, once it has read the install and credited the purchase) answers only once
    ``meanwhile`` has run."""

    def __init__(self, settings: Any, meanwhile: Any) -> None:
        super().__init__(settings)
        self._meanwhile = meanwhile

    async def currency(self, account_id: str) -> str:
        found = await super().currency(account_id)
        if self._meanwhile is not None:
            meanwhile, self._meanwhile = self._meanwhile, None
            await meanwhile()
        return found


async def test_a_purchase_credited_while_apple_takes_the_install_follows_it_to_apple_ads(
    setup: Setup, standin: AppleAdsStandin, gateway_links_stub: Any, ingest_stub: Any, attribution_stub: Any,  # noqa: F811
    apple_stub: Any, settings: Any, account: Any, links_server: Any,  # noqa: F811
) -> None:  # fmt: skip
    token = standin.answer("tok-race", apple.NOT_READY, apple.NOT_READY, apple.attributed())
    await record_touch(gateway_links_stub, setup.network, ip="81.2.69.160", ua=IPHONE_UA)
    inst = ios_event(setup.app_id, "install", idfv="idfv-race", ip="81.2.69.160", adservices_token=token)
    await send(ingest_stub, inst)
    await drained(settings)
    installed = await install_of(attribution_stub, inst.uuid)
    assert (installed.match_type, installed.campaign_id) == (MATCH_FINGERPRINT, setup.network.campaign_id)

    # The user's purchase, as the engine gets it from ingest (the install's device, a track "purchase").
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=3)
    try:
        cols = ", ".join(event_handoff.COLUMNS)
        row = await pool.fetchrow(f"SELECT {cols} FROM ingest.events WHERE event_uuid = $1", uuid.UUID(inst.uuid))
        stored = event_handoff.decode_fields(
            event_handoff.encode([tuple(str(v) if isinstance(v, uuid.UUID) else v for v in row)])
        )[0]
        now = dt.datetime.now(dt.UTC).isoformat()
        purchase = {**stored, "event_uuid": str(uuid.uuid4()), "event": EVENT_TRACK, "action": "purchase",
                    "event_time": now, "receive_time": now, "adservices_token": None}  # fmt: skip

        async def apple_credits_the_install() -> None:
            lookup = await resolved(settings, apple_stub, installed.install_id)
            assert lookup.campaign_id == setup.apple.campaign_id

        links = CreditedMeanwhile(
            dataclasses.replace(settings, links_addr=links_server.addr), apple_credits_the_install
        )
        engine = Engine(pool, links)
        try:
            for _ in range(3):  # a deferred job is handled again, as the queue does
                try:
                    await engine.handle(account.account_id, [dict(purchase)])
                    break
                except Defer:
                    continue
        finally:
            await links.close()
        assert links._meanwhile is None  # the credit did land between the engine's read and its transaction
    finally:
        await pool.close()

    assert (await install_of(attribution_stub, inst.uuid)).match_type == MATCH_APPLE_ADS
    bought = [c for c in await conversions(attribution_stub) if c.event_uuid == purchase["event_uuid"]]
    assert [c.campaign_id for c in bought] == [setup.apple.campaign_id]
