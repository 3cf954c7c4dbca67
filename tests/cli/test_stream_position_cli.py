"""`clicktrail stream create --position 0` puts the new stream first (Stream.position
is optional: 0 is a position, not "unset"); without --position it goes after the last."""

from __future__ import annotations

from tests.cli.conftest import Cli
from tests.cli.test_affiliate_cli import _campaign


async def test_stream_create_at_position_zero_goes_first(cli: Cli) -> None:
    _partner, campaign = await _campaign(cli)

    async def create(name: str, country: str, *position: str) -> dict:
        return (
            await cli(
                "stream", "create", "--campaign", campaign, "--name", name, "--filter", f"country={country}",
                "--action", "url", "--url", f"https://{name.lower()}.example/", *position, "--json",
            )
        ).json()  # fmt: skip

    us = await create("US", "US")
    de = await create("DE", "DE")
    fr = await create("FR", "FR", "--position", "0")
    assert (us["position"], de["position"], fr["position"]) == (0, 1, 0)
    order = (await cli("stream", "list", "--campaign", campaign, "--json")).json()["streams"]
    assert [(s["name"], s["position"]) for s in order] == [("FR", 0), ("US", 1), ("DE", 2)]
    it = await create("IT", "IT")
    assert it["position"] == 3
