"""The integrated-partner catalog: every template only uses declared macros,
a catalog partner is created with all its templates or not at all, and every
entry, created with its documented settings, delivers each template to a real
local sink with the request its partner documents: test_catalog_templates.py.

Partner formats: see each entry's ``source`` in services/postbacks/catalog.json
(e.g. Unity https://docs.unity.com/acquire/en-us/manual/s2s-postback-URLs,
Tapjoy https://docs.justtrack.io/docs/resources/partner-overview/tapjoy,
Apple Ads https://developer.apple.com/documentation/adservices)."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
import grpc
import pytest
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc
from clicktrail.postbacks.v1 import postbacks_pb2 as pb
from clicktrail.postbacks.v1 import postbacks_pb2_grpc

from cli.common import field_violations
from libs.grpc_server import RunningService
from services.postbacks import catalog
from services.postbacks.catalog_partners import links_client, sweep_once
from tests.conftest import INTERNAL_TOKEN, AccountInfo

Stub = postbacks_pb2_grpc.PostbackServiceStub


def documented_settings(key: str) -> dict[str, str]:
    entry = catalog.entry(key)
    assert entry is not None
    return {s["name"]: s["example"] for s in entry["settings"] if s.get("required")}


def test_every_catalog_template_uses_only_declared_macros() -> None:
    """Statically: a template's macros are event macros or the entry's settings
    (required, or with a default), click-fed ones are fed by click_params."""
    assert len(catalog.entries()) == 10
    for e in catalog.entries():
        assert catalog.problems(e) == [], e["key"]
    # The check itself catches an undeclared macro and an optional setting without a default.
    bad = {**catalog.entry("unity"), "settings": [{"name": "game_id", "required": False, "example": "1"}]}  # type: ignore[dict-item]
    bad["templates"] = [{**bad["templates"][0], "url_template": "https://x.example.com/{game_id}?g={gamer_id}"}]
    found = catalog.problems(bad)
    assert any("{gamer_id} is neither an event macro nor a setting" in p for p in found)
    assert any("optional setting game_id has no default" in p for p in found)


async def test_catalog_partner_is_all_or_nothing(
    postbacks_stub: Stub, links_stub: links_pb2_grpc.LinksServiceStub, db_url: str,
    links_server: RunningService, account: AccountInfo, channels: Callable[..., grpc.aio.Channel],
) -> None:  # fmt: skip
    req = pb.CreateCatalogPartnerRequest(catalog_key="tapjoy", settings=documented_settings("tapjoy"))
    # Bad input: every problem named, nothing written.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await postbacks_stub.CreateCatalogPartner(pb.CreateCatalogPartnerRequest(catalog_key="tapjoy",
                                                                                 settings={"nope": "1"}))  # fmt: skip
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {f for f, _ in field_violations(err.value)} == {
        "settings[nope]", "settings[tapjoy_app_id]", "settings[engagement_id]"
    }  # fmt: skip
    # The database refuses the entry's last template: no partner, no template is left.
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute(
            "ALTER TABLE postbacks.templates ADD CONSTRAINT test_refuse_last CHECK (name <> 'Engagement')"
        )
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await postbacks_stub.CreateCatalogPartner(req)
        assert not (await links_stub.ListPartners(lpb.ListPartnersRequest())).partners
        assert not (await postbacks_stub.ListTemplates(pb.ListTemplatesRequest())).templates
        assert await conn.fetchval("SELECT count(*) FROM postbacks.partner_creations") == 0
        await conn.execute("ALTER TABLE postbacks.templates DROP CONSTRAINT test_refuse_last")
    finally:
        await conn.close()
    made = await postbacks_stub.CreateCatalogPartner(req)
    assert [t.name for t in made.templates] == ["Install (all sources)", "Engagement"]
    partners = (await links_stub.ListPartners(lpb.ListPartnersRequest())).partners
    assert [(p.partner_id, p.name, p.catalog_key) for p in partners] == [(made.partner_id, "Tapjoy", "tapjoy")]
    assert all(t.partner_id == made.partner_id and t.catalog_key == "tapjoy" for t in made.templates)
    # The links create under a given id is idempotent (what makes the undo safe to retry);
    # only a service may choose the id: an account may not, not even its own partner's.
    again = lpb.Partner(partner_id=made.partner_id, name="Tapjoy", catalog_key="tapjoy")
    service = links_pb2_grpc.LinksServiceStub(
        channels(links_server.addr, token=INTERNAL_TOKEN, account_id=account.account_id)
    )
    assert (await service.CreatePartner(lpb.CreatePartnerRequest(partner=again))).partner.partner_id == made.partner_id
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await service.CreatePartner(lpb.CreatePartnerRequest(partner=lpb.Partner(partner_id="prt_x", name="X")))
    assert field_violations(err.value)[0][0] == "partner.partner_id"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await links_stub.CreatePartner(lpb.CreatePartnerRequest(partner=again))
    assert field_violations(err.value) == [("partner.partner_id", "is assigned by the server: leave it empty")]


async def test_sweeper_removes_the_partner_of_a_failed_creation(
    postbacks_server: RunningService, links_stub: links_pb2_grpc.LinksServiceStub, db_url: str
) -> None:
    """An intent left behind (the process died before it could undo) loses its partner."""
    made = (await links_stub.CreatePartner(lpb.CreatePartnerRequest(partner=lpb.Partner(name="Half")))).partner
    pool = postbacks_server.ctx.pool
    await pool.execute(
        "INSERT INTO postbacks.partner_creations (account_id, partner_id) SELECT account_id, partner_id"
        " FROM links.partners WHERE partner_id = $1",
        made.partner_id,
    )
    async with links_client(postbacks_server.ctx.settings) as links:
        assert await sweep_once(pool, links, grace_s=3600) == 0  # young: maybe in flight
        assert await sweep_once(pool, links, grace_s=0) == 1
    assert not (await links_stub.ListPartners(lpb.ListPartnersRequest())).partners
    assert await pool.fetchval("SELECT count(*) FROM postbacks.partner_creations") == 0


async def test_catalog_partner_choices_are_written_with_the_templates(
    postbacks_stub: Stub, links_stub: links_pb2_grpc.LinksServiceStub, db_url: str
) -> None:
    """The caller's choices (send or not, goal, sending mode) are part of the one
    creation: a bad choice creates nothing, a choice the database refuses leaves
    nothing, and a template not chosen is written disabled, never enabled first."""
    settings = documented_settings("applovin")  # templates: 0 Install (install), 1 In-app event (conversion)

    def request(*choices: pb.CatalogTemplateChoice) -> pb.CreateCatalogPartnerRequest:
        return pb.CreateCatalogPartnerRequest(catalog_key="applovin", settings=settings, choices=choices)

    async def nothing_made() -> None:
        assert not (await links_stub.ListPartners(lpb.ListPartnersRequest())).partners
        assert not (await postbacks_stub.ListTemplates(pb.ListTemplatesRequest())).templates

    bad = [
        pb.CatalogTemplateChoice(template_index=1, enabled=True, goal_id="gol_1"),  # fine on its own
        pb.CatalogTemplateChoice(template_index=2, enabled=True),
        pb.CatalogTemplateChoice(template_index=0, enabled=True, goal_id="gol_1"),
        pb.CatalogTemplateChoice(template_index=1, enabled=False),
        pb.CatalogTemplateChoice(template_index=0, enabled=True),
        pb.CatalogTemplateChoice(template_index=-1),
    ]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await postbacks_stub.CreateCatalogPartner(request(*bad))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    found = dict(field_violations(err.value))
    assert set(found) == {
        "choices[1].template_index", "choices[2].goal_id", "choices[3].template_index", "choices[4].template_index",
        "choices[5].template_index",
    }, found  # fmt: skip
    assert "must be 0 to 1: AppLovin has 2 templates" in found["choices[1].template_index"]
    assert "is only for a conversion template; 'Install' fires on install" in found["choices[2].goal_id"]
    assert "template 1 is already chosen by choices[0]" in found["choices[3].template_index"]
    assert "template 0 is already chosen by choices[2]" in found["choices[4].template_index"]
    with pytest.raises(grpc.aio.AioRpcError) as err:  # reported once the index is right
        await postbacks_stub.CreateCatalogPartner(request(pb.CatalogTemplateChoice(template_index=0, sending_mode=9)))  # type: ignore[arg-type]
    assert field_violations(err.value) == [
        ("choices[0].sending_mode", "must be attributed or all (or unspecified: the catalog's)")
    ]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await postbacks_stub.CreateCatalogPartner(request(pb.CatalogTemplateChoice(template_index=1, goal_id="g" * 65)))
    assert [f for f, _ in field_violations(err.value)] == ["choices[0].goal_id"]
    await nothing_made()

    wanted = request(
        pb.CatalogTemplateChoice(template_index=1, enabled=True, goal_id="gol_purchase",
                                 sending_mode=pb.SENDING_MODE_ATTRIBUTED),
    )  # fmt: skip
    conn = await asyncpg.connect(db_url)
    try:
        # The database refuses the goal choice: the choice is written in the creation, so nothing stays.
        await conn.execute("ALTER TABLE postbacks.templates ADD CONSTRAINT test_no_goal CHECK (trigger <> 'goal')")
        with pytest.raises(grpc.aio.AioRpcError):
            await postbacks_stub.CreateCatalogPartner(wanted)
        await nothing_made()
        assert await conn.fetchval("SELECT count(*) FROM postbacks.partner_creations") == 0
        await conn.execute("ALTER TABLE postbacks.templates DROP CONSTRAINT test_no_goal")
        # No install template may ever be stored enabled, not even for a moment: the one not chosen is
        # written disabled (without choices every template is written enabled, and that is refused).
        await conn.execute(
            "ALTER TABLE postbacks.templates ADD CONSTRAINT test_never_on CHECK (NOT (enabled AND trigger = 'install'))"
        )
        with pytest.raises(grpc.aio.AioRpcError):
            await postbacks_stub.CreateCatalogPartner(request())
        await nothing_made()
        made = await postbacks_stub.CreateCatalogPartner(wanted)
        await conn.execute("ALTER TABLE postbacks.templates DROP CONSTRAINT test_never_on")
    finally:
        await conn.close()
    got = {t.name: t for t in (await postbacks_stub.ListTemplates(pb.ListTemplatesRequest())).templates}
    assert set(got) == {"Install", "In-app event"} and {t.template_id for t in made.templates} == {
        t.template_id for t in got.values()
    }
    install, event = got["Install"], got["In-app event"]
    assert (install.enabled, install.trigger, install.goal_id, install.sending_mode) == (
        False, pb.TRIGGER_INSTALL, "", pb.SENDING_MODE_ALL)  # fmt: skip
    assert (event.enabled, event.trigger, event.goal_id, event.sending_mode) == (
        True, pb.TRIGGER_GOAL, "gol_purchase", pb.SENDING_MODE_ATTRIBUTED)  # fmt: skip
    assert all(t.create_time == t.update_time for t in got.values())  # written so, never updated after
    assert [p.partner_id for p in (await links_stub.ListPartners(lpb.ListPartnersRequest())).partners] == [
        made.partner_id
    ]
    # Without choices every template is created enabled, as the catalog has it.
    plain = await postbacks_stub.CreateCatalogPartner(request())
    assert [(t.name, t.enabled, t.trigger) for t in plain.templates] == [
        ("Install", True, pb.TRIGGER_INSTALL), ("In-app event", True, pb.TRIGGER_CONVERSION)]  # fmt: skip
