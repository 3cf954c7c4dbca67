"""The CLI with text Postgres cannot store: bytes that are not UTF-8 in an argument
(Python hands them over as lone surrogates, which protobuf cannot even send) or a NUL
get one clear usage line naming the option, exit 2, and nothing is created."""

from __future__ import annotations

from tests.cli.conftest import Cli


async def test_an_argument_that_is_not_storable_text_is_a_usage_error(cli: Cli) -> None:
    res = await cli("partner", "create", "--name", "Net\udcffwork", code=2)
    assert res.stderr == "error: --name: is not valid UTF-8 text (check the terminal's encoding)\n"
    res = await cli("partner", "create", "--name=Net\x00work", code=2)
    assert res.stderr == "error: --name: must not contain NUL (U+0000) characters\n"
    assert (await cli("partner", "list", "--json")).json()["partners"] == []
