"""CLI plumbing without a server: output shape, enums, credentials, errors, help."""

from __future__ import annotations

import enum
import os
import socket
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
import typer
from clicktrail.ingest.v1 import ingest_pb2 as ipb
from clicktrail.links.v1 import links_pb2 as pb
from clicktrail.postbacks.v1 import postbacks_pb2 as ppb
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from cli import choices
from cli.common import enum_choices, enum_number, rpc_error, to_dict
from cli.main import app
from tests.cli.conftest import invoke

CLI = [str(Path(sys.executable).with_name("clicktrail"))]


def test_to_dict_uses_proto_names_short_enums_and_every_field() -> None:
    click = pb.Click(click_id="c1", device_type=pb.DEVICE_TYPE_MOBILE, sub1="s")
    click.params["x"] = "1"
    data = to_dict(click)
    assert list(data)[:3] == ["click_id", "link_id", "campaign_id"]  # .proto order
    assert data["device_type"] == "mobile"
    assert data["sub1"] == "s" and data["sub2"] == "" and data["params"] == {"x": "1"}
    assert "create_time" not in data  # unset message fields stay out

    campaign = to_dict(pb.Campaign(status=pb.CAMPAIGN_STATUS_ACTIVE, type=pb.CAMPAIGN_TYPE_APP_INSTALL))
    assert campaign["status"] == "active" and campaign["type"] == "app_install"
    assert campaign["traffic_type"] == ""  # unspecified


def test_nested_messages_are_converted_too() -> None:
    resp = pb.ListCampaignsResponse(campaigns=[pb.Campaign(status=pb.CAMPAIGN_STATUS_PAUSED)])
    resp.campaigns[0].budget.amount = "7.50"
    resp.campaigns[0].budget.currency_code = "EUR"
    data = to_dict(resp)
    assert data["campaigns"][0]["status"] == "paused"
    assert data["campaigns"][0]["budget"] == {"amount": "7.50", "currency_code": "EUR"}


@pytest.mark.parametrize(
    ("choice", "proto_enum"),
    [
        (choices.Platform, pb.Platform),
        (choices.CampaignType, pb.CampaignType),
        (choices.TrafficType, pb.TrafficType),
        (choices.CampaignStatus, pb.CampaignStatus),
        (choices.EventType, ipb.EventType),
        (choices.Trigger, ppb.Trigger),
        (choices.SendingMode, ppb.SendingMode),
        (choices.HttpMethod, ppb.HttpMethod),
        (choices.DeliveryStatus, ppb.DeliveryStatus),
    ],
)
def test_flag_choices_match_the_protos(choice: type[enum.StrEnum], proto_enum: object) -> None:
    desc = proto_enum.DESCRIPTOR  # type: ignore[attr-defined]
    assert [c.value for c in choice] == enum_choices(desc)
    for c in choice:
        assert enum_number(desc, c) != 0


def test_enum_number_takes_short_and_full_names() -> None:
    desc = pb.CampaignStatus.DESCRIPTOR
    assert enum_number(desc, "active") == pb.CAMPAIGN_STATUS_ACTIVE
    assert enum_number(desc, "CAMPAIGN_STATUS_PAUSED") == pb.CAMPAIGN_STATUS_PAUSED
    assert enum_number(desc, None) == 0


def _commands(group: typer.Typer, prefix: list[str]) -> list[list[str]]:
    out = []
    for info in group.registered_commands:
        out.append([*prefix, info.name or ""])
    for sub in group.registered_groups:
        assert sub.typer_instance is not None
        out.extend(_commands(sub.typer_instance, [*prefix, sub.name or ""]))
    return out


ALL_COMMANDS = _commands(app, [])


def test_the_required_commands_exist() -> None:
    names = {" ".join(c) for c in ALL_COMMANDS}
    for required in [
        "account create",
        "account get",
        "account rotate-key",
        "account rotate-postback-token",
        "app create",
        "app list",
        "app get",
        "app update",
        "app delete",
        "app rotate-key",
        "partner create",
        "partner list",
        "partner get",
        "partner update",
        "partner delete",
        "campaign create",
        "campaign publish",
        "campaign pause",
        "campaign archive",
        "campaign list",
        "campaign get",
        "campaign update",
        "campaign delete",
        "link create",
        "link list",
        "link get",
        "link update",
        "link delete",
        "click list",
        "impression list",
    ]:
        assert required in names


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=lambda c: " ".join(c))
def test_every_command_has_help_with_an_example_and_json(cli_env: pytest.MonkeyPatch, command: list[str]) -> None:
    res = invoke([*command, "--help"])
    assert res.code == 0, res.stderr
    assert "Example" in res.stdout
    assert "--json" in res.stdout


def test_missing_api_key_is_one_line_and_exit_2(cli_env: pytest.MonkeyPatch) -> None:
    res = invoke(["campaign", "list"])
    assert res.code == 2
    assert res.stderr.startswith("error: no API key")
    assert res.stderr.count("\n") == 1 and res.stdout == ""


def test_usage_error_is_one_line_and_exit_2(cli_env: pytest.MonkeyPatch) -> None:
    res = invoke(["campaign", "create", "--name", "x"])
    assert res.code == 2
    assert res.stderr == "error: Missing option '--partner'. (see `clicktrail campaign create --help`)\n"
    res = invoke(["app", "create", "--name", "x", "--platform", "symbian"])
    assert res.code == 2 and "symbian" in res.stderr and res.stderr.count("\n") == 1


def test_bare_group_prints_help(cli_env: pytest.MonkeyPatch) -> None:
    res = invoke(["campaign"])
    assert res.code == 0 and "publish" in res.stdout


def test_admin_token_discovery(cli_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from cli.common import admin_token

    with pytest.raises(Exception, match="no admin token"):
        admin_token()
    (tmp_path / ".clicktrail").mkdir()
    (tmp_path / ".clicktrail" / "admin-token").write_text("from-cwd\n")
    assert admin_token() == "from-cwd"
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "admin-token").write_text("from-data-dir\n")
    cli_env.setenv("CLICKTRAIL_DATA_DIR", str(other))
    assert admin_token() == "from-data-dir"
    cli_env.setenv("CLICKTRAIL_ADMIN_TOKEN", "from-env")
    assert admin_token() == "from-env"


def test_admin_token_found_at_the_repo_root(cli_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from cli.common import admin_token

    root = tmp_path / "repo"
    (root / ".clicktrail").mkdir(parents=True)
    (root / ".clicktrail" / "admin-token").write_text("from-repo\n")
    cli_env.setattr("cli.common.REPO_ROOT", root)
    assert admin_token() == "from-repo"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_installed_entry_point_explains_an_unreachable_service(tmp_path: Path) -> None:
    """The real `.venv/bin/clicktrail`, against a port nobody listens on."""
    port = _closed_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLICKTRAIL_")}
    env.update(CLICKTRAIL_LINKS_ADDR=f"127.0.0.1:{port}", CLICKTRAIL_API_KEY="ctk_x_y")
    proc = subprocess.run([*CLI, "campaign", "list"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr == (f"error: cannot reach the links service at 127.0.0.1:{port} — is `make run` running?\n")
    assert proc.stdout == ""


def _rpc_error(
    code: grpc.StatusCode, details: str, violations: tuple[tuple[str, str], ...] = ()
) -> grpc.aio.AioRpcError:
    trailing = grpc.aio.Metadata()
    if violations:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in violations
            ]
        )
        detail = any_pb2.Any()
        detail.Pack(bad)
        status = status_pb2.Status(code=code.value[0], message=details, details=[detail])
        trailing.add("grpc-status-details-bin", status.SerializeToString())
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailing, details)


def test_rpc_errors_become_one_clear_line() -> None:
    addr = "127.0.0.1:50051"
    err = rpc_error(
        _rpc_error(
            grpc.StatusCode.INVALID_ARGUMENT,
            "campaign.name: is required; campaign.partner_id: is required",
            (("campaign.name", "is required"), ("campaign.partner_id", "is required")),
        ),
        "links",
        addr,
    )
    assert (err.message, err.exit_code) == ("campaign.name: is required; campaign.partner_id: is required", 2)
    err = rpc_error(_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "link.slug: bad"), "links", addr)
    assert (err.message, err.exit_code) == ("link.slug: bad", 2)
    err = rpc_error(_rpc_error(grpc.StatusCode.NOT_FOUND, "campaign 'x' not found"), "links", addr)
    assert (err.message, err.exit_code) == ("campaign 'x' not found", 1)
    err = rpc_error(
        _rpc_error(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses; last error: Connection refused"),
        "links",
        addr,
    )
    assert err.message == "cannot reach the links service at 127.0.0.1:50051 — is `make run` running?"
    err = rpc_error(_rpc_error(grpc.StatusCode.UNAVAILABLE, "database unavailable, retry"), "links", addr)
    assert err.message == "the links service at 127.0.0.1:50051 is unavailable: database unavailable, retry"
    err = rpc_error(_rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"), "links", addr)
    assert "did not answer in time" in err.message and err.exit_code == 1
    err = rpc_error(_rpc_error(grpc.StatusCode.UNAUTHENTICATED, "invalid credentials"), "links", addr, admin=True)
    assert err.message == "invalid credentials (check CLICKTRAIL_ADMIN_TOKEN or .clicktrail/admin-token)"
