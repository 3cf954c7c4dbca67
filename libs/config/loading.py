"""Reading a settings class from the environment with pydantic-settings: a model
generated from the class's fields and types, CLICKTRAIL_ prefix, empty = unset,
keyword overrides first; problems become one ConfigError naming each variable."""

from __future__ import annotations

import contextvars
import dataclasses
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import pydantic
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

from libs.config.values import ENV_PREFIX, ConfigError

if TYPE_CHECKING:
    from libs.config.processes import CommonSettings

S = TypeVar("S", bound="CommonSettings")
_ENV: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar("clicktrail_env", default=None)


class _MappingEnvSource(EnvSettingsSource):
    """The environment source, reading a given mapping instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._mapping = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._mapping, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


class _EnvModel(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True, extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        env = _ENV.get()
        # Keyword overrides win over the environment; no .env file, no secrets directory.
        return (init_settings, env_settings if env is None else _MappingEnvSource(settings_cls, env))


_MODELS: dict[type, type[_EnvModel]] = {}


def _env_model(cls: type[CommonSettings]) -> type[_EnvModel]:
    """The pydantic-settings model of a settings class: its fields, types and defaults."""
    model = _MODELS.get(cls)
    if model is None:
        hints = typing.get_type_hints(cls, include_extras=True)
        fields: dict[str, Any] = {f.name: (hints[f.name], f.default) for f in dataclasses.fields(cls)}
        model = _MODELS[cls] = pydantic.create_model(f"{cls.__name__}Env", __base__=_EnvModel, **fields)
    return model


# Fields whose value an error message must not repeat.
_SECRET_WORDS = ("token", "secret", "database_url", "key")


def _problems(exc: pydantic.ValidationError, overrides: Mapping[str, Any]) -> str:
    """One ``CLICKTRAIL_X='value': what is wrong`` per field (a keyword override is named as itself)."""
    out: dict[str, str] = {}
    for err in exc.errors():
        name = str(err["loc"][0]) if err.get("loc") else "?"
        if name in out:
            continue
        where = name if name in overrides else ENV_PREFIX + name.upper()
        value = err.get("input")
        secret = any(w in name for w in _SECRET_WORDS)
        shown = f"={value!r}" if isinstance(value, str | int | float) and not secret else ""
        out[name] = f"{where}{shown}: {str(err['msg']).removeprefix('Value error, ')}"
    return "; ".join(out.values())


def _load(cls: type[S], env: Mapping[str, str] | None, overrides: Mapping[str, Any]) -> S:
    unknown = set(overrides) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise TypeError(f"{cls.__name__} has no field {', '.join(sorted(unknown))}")
    token = _ENV.set(env)
    try:
        model = _env_model(cls)(**overrides)
    except pydantic.ValidationError as exc:
        raise ConfigError(_problems(exc, overrides)) from None
    finally:
        _ENV.reset(token)
    return cls(**{f.name: getattr(model, f.name) for f in dataclasses.fields(cls)})
