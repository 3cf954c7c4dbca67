"""libs.clients: the typed clients and the one error of a failed call."""

import grpc
import pytest
from clicktrail.accounts.v1 import accounts_pb2
from clicktrail.links.v1 import links_pb2 as pb
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from libs.clients import (
    CLIENTS,
    AccountsClient,
    CallError,
    LinksClient,
    credentials,
    field_violations,
    for_account,
    http_status,
)
from tests.conftest import ADMIN_TOKEN


def _bad_request_trailer(*violations: tuple[str, str]) -> grpc.aio.Metadata:
    bad = error_details_pb2.BadRequest(
        field_violations=[error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in violations]
    )
    detail = any_pb2.Any()
    detail.Pack(bad)
    status = status_pb2.Status(code=3, message="bad", details=[detail])
    return grpc.aio.Metadata(("grpc-status-details-bin", status.SerializeToString()))


def test_a_call_error_decodes_field_violations() -> None:
    raw = grpc.aio.AioRpcError(
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.aio.Metadata(),
        _bad_request_trailer(("name", "is required"), ("name", "again"), ("url", "is not a URL")),
        "name: is required; url: is not a URL",
    )
    err = CallError.from_rpc_error(raw)
    assert isinstance(err, grpc.aio.AioRpcError)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.violations == [("name", "is required"), ("name", "again"), ("url", "is not a URL")]
    assert err.fields == {"name": "is required", "url": "is not a URL"}
    assert err.first_field == "name"
    assert err.text == "name: is required; name: again; url: is not a URL"
    assert err.http_status() == 400
    assert field_violations(raw) == err.violations
    assert CallError.from_rpc_error(err) is err


def test_a_malformed_detail_leaves_the_error_itself() -> None:
    raw = grpc.aio.AioRpcError(
        grpc.StatusCode.NOT_FOUND,
        grpc.aio.Metadata(),
        grpc.aio.Metadata(("grpc-status-details-bin", b"\xff\xff not a status")),
        "",
    )
    err = CallError.from_rpc_error(raw)
    assert err.violations == []
    assert err.text == "not found"
    assert err.http_status() == 404


def test_http_status_table_and_default() -> None:
    assert http_status(grpc.StatusCode.FAILED_PRECONDITION) == 409
    assert http_status(grpc.StatusCode.INTERNAL) == 502
    own = {grpc.StatusCode.RESOURCE_EXHAUSTED: 413}
    assert http_status(grpc.StatusCode.RESOURCE_EXHAUSTED, own, default=503) == 413
    assert http_status(grpc.StatusCode.NOT_FOUND, own, default=503) == 503


def test_unreachable_is_told_from_a_service_that_answered_unavailable() -> None:
    assert CallError(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses").unreachable
    assert not CallError(grpc.StatusCode.UNAVAILABLE, "database unavailable, retry").unreachable
    assert not CallError(grpc.StatusCode.INTERNAL, "").unreachable


def test_per_call_credentials() -> None:
    assert credentials("k") == (("authorization", "Bearer k"),)
    assert credentials("k", "acc") == (("authorization", "Bearer k"), ("x-account-id", "acc"))
    assert for_account("acc") == (("x-account-id", "acc"),)
    assert set(CLIENTS) == {"links", "accounts", "ingest", "attribution", "postbacks", "analytics"}


async def test_clients_call_links_and_raise_call_errors(links_server, account, settings) -> None:
    addr = links_server.addr
    async with LinksClient.connect(settings, token=account.api_key, channels=2, target=addr) as client:
        created = await client.links.CreatePartner(pb.CreatePartnerRequest(partner=pb.Partner(name="AdNet")))
        got = await client.links.GetPartner(pb.GetPartnerRequest(partner_id=created.partner.partner_id))
        assert got.partner.name == "AdNet"
        with pytest.raises(CallError) as caught:
            await client.links.CreateApp(pb.CreateAppRequest(app=pb.App(name="")))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert caught.value.violations and caught.value.first_field.startswith("app.")
        with pytest.raises(CallError) as caught:
            await client.links.GetPartner(pb.GetPartnerRequest(partner_id="prt_nope"))
        assert caught.value.http_status() == 404

    # The internal token names the account per call.
    async with LinksClient.internal(settings, target=addr) as internal:
        got = await internal.links.GetPartner(
            pb.GetPartnerRequest(partner_id=created.partner.partner_id), metadata=for_account(account.account_id)
        )
        assert got.partner.partner_id == created.partner.partner_id

    # Accounts live in the links process; a per-call key overrides the client's.
    async with AccountsClient.connect(settings, target=addr) as accounts:
        resp = await accounts.accounts.GetAccount(
            accounts_pb2.GetAccountRequest(account_id=account.account_id), metadata=credentials(ADMIN_TOKEN)
        )
        assert resp.account.account_id == account.account_id
        with pytest.raises(CallError) as caught:
            await accounts.accounts.GetAccount(accounts_pb2.GetAccountRequest(account_id=account.account_id))
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_service_that_is_not_there_is_a_call_error_saying_so() -> None:
    async with LinksClient("127.0.0.1:1", deadline_s=5.0) as client:
        with pytest.raises(CallError) as caught:
            await client.links.GetApp(pb.GetAppRequest(app_id="app_x"))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE and caught.value.unreachable
    assert caught.value.http_status() == 503
