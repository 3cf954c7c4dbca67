"""libs/config: pydantic-settings validation and one settings class per process (no database)."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest

from libs.config import (
    PROCESS_SETTINGS,
    SERVICE_SETTINGS,
    CommonSettings,
    ConfigError,
    ConsoleSettings,
    GatewaySettings,
    LinksSettings,
    PostbacksSettings,
    Settings,
    load_process_settings,
    load_settings,
)


def names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def test_defaults_and_values() -> None:
    s = load_settings(env={})
    assert s.links_addr == "127.0.0.1:50051" and s.gateway_port == 8080 and s.grpc_tls_client_auth is False
    s = load_settings(
        env={
            "CLICKTRAIL_GATEWAY_PORT": "9000", "CLICKTRAIL_GRPC_TLS_CLIENT_AUTH": "YES",
            "CLICKTRAIL_TRUSTED_PROXIES": " 10.0.0.0/8, ::1/128 ,", "CLICKTRAIL_POSTBACK_LEASE_S": "2.5",
            "CLICKTRAIL_LINKS_ADDR": "",  # empty: unset
            "CLICKTRAIL_API_KEY": "not a setting",  # other CLICKTRAIL_ variables are not settings
        },
        database_url="postgresql://u@h/db",
    )  # fmt: skip
    assert (s.gateway_port, s.grpc_tls_client_auth, s.postback_lease_s) == (9000, True, 2.5)
    assert s.trusted_proxies == (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128"))
    assert s.links_addr == "127.0.0.1:50051"
    assert s.database_url == "postgresql://u@h/db"


def test_overrides_win_and_replace_works() -> None:
    s = load_settings(env={"CLICKTRAIL_ADMIN_TOKEN": "env"}, admin_token="kw")
    assert s.admin_token == "kw"
    assert dataclasses.replace(s, gateway_port=1).gateway_port == 1
    with pytest.raises(TypeError, match="no field nope"):
        load_settings(env={}, nope=1)


def test_os_environ_is_read_without_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLICKTRAIL_INTERNAL_TOKEN", "from-env")
    assert load_settings().internal_token == "from-env"
    assert load_settings(env={}).internal_token == ""


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("GRPC_TLS_CLIENT_AUTH", "ture", "='ture': Input should be a valid boolean"),
        ("GATEWAY_PORT", "80x", "='80x': Input should be a valid integer"),
        ("GATEWAY_PORT", "70000", "='70000': Input should be less than or equal to 65535"),
        ("POSTBACK_TIMEOUT_S", "15s", "='15s': Input should be a valid number"),
        ("TRUSTED_PROXIES", "10.0.0.0/33", "='10.0.0.0/33': '10.0.0.0/33' does not appear to be an IPv4 or IPv6"),
        ("POSTBACK_ALLOWED_NETWORKS", "10.0.0.1/8", "='10.0.0.1/8': 10.0.0.1/8 has host bits set"),
        ("PUBLIC_URL", "example.com", "='example.com': must be an http:// or https:// URL with a host"),
    ],
)
def test_a_bad_value_is_an_error_naming_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={f"CLICKTRAIL_{name}": value})
    assert str(caught.value).startswith(f"CLICKTRAIL_{name}{message}")


def test_secrets_are_not_repeated_in_errors() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"CLICKTRAIL_DATABASE_URL": "mysql://user:hunter2@db/x"})
    assert "CLICKTRAIL_DATABASE_URL: must be a postgres:// or postgresql:// URL" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_every_problem_is_named_once() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"CLICKTRAIL_GATEWAY_PORT": "x", "CLICKTRAIL_DB_POOL_MAX": "-1"})
    text = str(caught.value)
    assert text.count("CLICKTRAIL_GATEWAY_PORT") == 1 and "CLICKTRAIL_DB_POOL_MAX='-1'" in text


def test_each_process_sees_only_its_fields() -> None:
    gateway = GatewaySettings.load(env={"CLICKTRAIL_POSTBACK_LEASE_S": "not even a number"})
    assert not hasattr(gateway, "postback_lease_s") and gateway.gateway_port == 8080
    assert "postback_lease_s" in names(PostbacksSettings) and "trusted_proxies" not in names(PostbacksSettings)
    assert "console_secret" in names(ConsoleSettings) and "console_secret" not in names(GatewaySettings)
    assert "public_url" in names(LinksSettings) and "partition_days_ahead" in names(LinksSettings)
    for cls in PROCESS_SETTINGS.values():
        assert names(CommonSettings) <= names(cls) <= names(Settings)
    # Settings is every process's fields together, no more.
    union = set().union(*(names(c) for c in PROCESS_SETTINGS.values() if c is not Settings))
    assert union == names(Settings)
    for process, cls in SERVICE_SETTINGS.items():
        assert type(load_process_settings(process, env={})) is cls
    assert type(load_process_settings("gateway", env={})) is GatewaySettings


def test_addr_of() -> None:
    s = CommonSettings.load(env={"CLICKTRAIL_LINKS_ADDR": "10.0.0.1:1"})
    assert s.addr_of("accounts") == s.addr_of("links") == "10.0.0.1:1"
    assert s.addr_of("nothing") == ""
