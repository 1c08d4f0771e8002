"""Base class for every component configuration: typed, validated, JSON round-trippable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from lmrec.errors import ConfigError

C = TypeVar("C", bound="BaseConfig")


class BaseConfig(BaseModel):
    """A frozen pydantic model that rejects unknown options.

    Validation failures are raised as :class:`ConfigError` with a one-line message naming the field.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any], *, source: str | None = None) -> C:
        """Validate ``data``; on failure raise a one-line :class:`ConfigError`."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(_one_line(cls.__name__, exc, source)) from None

    @classmethod
    def from_json(cls: type[C], path: str | Path) -> C:
        """Load a config from a JSON file."""
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{p}: cannot read config JSON: {exc}") from None
        return cls.from_dict(data, source=str(p))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible dict."""
        return self.model_dump(mode="json")

    def replace(self: C, **changes: Any) -> C:
        """A validated copy with some fields changed."""
        return type(self).from_dict({**self.to_dict(), **changes})


def _one_line(name: str, exc: ValidationError, source: str | None) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "<root>"
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown option '{loc}'")
        else:
            parts.append(f"option '{loc}': {err['msg']} (got {err.get('input')!r})")
    prefix = f"{source}: " if source else ""
    return f"{prefix}invalid {name}: " + "; ".join(parts)
