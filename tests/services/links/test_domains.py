"""Custom domains: registration normalised, one account per name, paging,
isolation, and no delete while a link is served on it."""

import grpc
from clicktrail.links.v1 import affiliate_pb2 as apb
from clicktrail.links.v1 import links_pb2 as pb

from tests.services.links import test_offers as shared
from tests.services.links.test_offers import invalid, mask, refused

world, other_world = shared.world, shared.other_world  # the fixtures


async def create_domain(w, name, root_url=""):
    request = apb.CreateDomainRequest(domain=apb.Domain(name=name, root_url=root_url))
    return (await w.affiliate.CreateDomain(request)).domain


async def test_domain_round_trip_normalised(world):
    d = await create_domain(world, "Track.Example.COM.", "https://acme.example/")
    assert (d.name, d.root_url) == ("track.example.com", "https://acme.example/") and d.create_time.seconds
    idn = await create_domain(world, "klick.bücher.example")
    assert idn.name == "klick.xn--bcher-kva.example"
    got = (await world.affiliate.GetDomain(apb.GetDomainRequest(name="TRACK.example.com"))).domain
    assert got == d
    first = await world.affiliate.ListDomains(apb.ListDomainsRequest(page_size=1))
    rest = await world.affiliate.ListDomains(apb.ListDomainsRequest(page_size=1, page_token=first.next_page_token))
    assert [x.name for x in [*first.domains, *rest.domains]] == sorted([d.name, idn.name])
    assert not rest.next_page_token
    await world.affiliate.DeleteDomain(apb.DeleteDomainRequest(name=d.name))
    await refused(world.affiliate.GetDomain, apb.GetDomainRequest(name=d.name), grpc.StatusCode.NOT_FOUND)
    await refused(world.affiliate.GetDomain, apb.GetDomainRequest(name="not a domain"), grpc.StatusCode.NOT_FOUND)


async def test_bad_domains_name_the_field(world):
    for name in ("track.example.com:8443", "https://track.example.com/", "10.1.2.3", "*.example.com", "localhost", ""):
        v = await invalid(world.affiliate.CreateDomain, apb.CreateDomainRequest(domain=apb.Domain(name=name)))
        assert set(v) == {"domain.name"}, name
    v = await invalid(
        world.affiliate.CreateDomain,
        apb.CreateDomainRequest(domain=apb.Domain(name="ok.example.com", root_url="ftp://acme.example/")),
    )
    assert set(v) == {"domain.root_url"}


async def test_one_account_per_domain(world, other_world):
    await create_domain(world, "go.acme.example")
    for w in (world, other_world):
        details = await refused(
            w.affiliate.CreateDomain,
            apb.CreateDomainRequest(domain=apb.Domain(name="GO.acme.example")),
            grpc.StatusCode.ALREADY_EXISTS,
        )
        assert "go.acme.example" in details
    # The other account neither sees it nor can delete it or put a link on it.
    await refused(
        other_world.affiliate.GetDomain, apb.GetDomainRequest(name="go.acme.example"), grpc.StatusCode.NOT_FOUND
    )
    await refused(
        other_world.affiliate.DeleteDomain, apb.DeleteDomainRequest(name="go.acme.example"), grpc.StatusCode.NOT_FOUND
    )
    assert not (await other_world.affiliate.ListDomains(apb.ListDomainsRequest())).domains
    v = await invalid(
        other_world.links.CreateLink,
        pb.CreateLinkRequest(
            link=pb.Link(
                campaign_id=other_world.campaign.campaign_id,
                destination_url="https://a.example/",
                domain="go.acme.example",
            )
        ),
    )
    assert set(v) == {"link.domain"}


async def test_a_domain_serving_links_cannot_be_deleted(world):
    await create_domain(world, "t.acme.example")
    link = (
        await world.links.CreateLink(
            pb.CreateLinkRequest(
                link=pb.Link(
                    campaign_id=world.campaign.campaign_id,
                    destination_url="https://a.example/",
                    domain="t.acme.example",
                )
            )
        )
    ).link
    delete = apb.DeleteDomainRequest(name="t.acme.example")
    details = await refused(world.affiliate.DeleteDomain, delete, grpc.StatusCode.FAILED_PRECONDITION)
    assert link.link_id in details
    await world.links.UpdateLink(pb.UpdateLinkRequest(link=pb.Link(link_id=link.link_id), update_mask=mask("domain")))
    await world.affiliate.DeleteDomain(delete)
