"""Configuration from ``CEREBRO_*`` environment variables, for the client and the services alike.

Every secret also accepts ``<NAME>_FILE``: a path whose content is the value (the Docker-secrets
convention), so credentials never need to appear in a process listing or a compose file.
A bad value raises :class:`ConfigError` whose message is the one line printed at start-up.

Only the standard library: the client imports it, and a client install has nothing else of the server.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Mapping
from pathlib import Path

PREFIX = "CEREBRO_"


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


class Env:
    """Typed reads of ``CEREBRO_*`` variables from one environment mapping."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def raw(self, name: str) -> str | None:
        value = self._environ.get(name)
        return value if value not in (None, "") else None

    def secret(self, name: str) -> str | None:
        """``CEREBRO_<NAME>`` or the content of the file named by ``CEREBRO_<NAME>_FILE``."""
        direct, file_var = PREFIX + name, PREFIX + name + "_FILE"
        path = self.raw(file_var)
        if path is not None:
            if self.raw(direct) is not None:
                raise ConfigError(f"{direct} and {file_var} are both set; set only one")
            try:
                return Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{file_var}: cannot read {path!r}: {exc.strerror}") from exc
        return self.raw(direct)

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.str(name, default)
        assert value is not None
        if value not in choices:
            raise ConfigError(f"{PREFIX}{name}={value!r} must be one of: {', '.join(choices)}")
        return value

    def path(self, name: str, default: Path | None = None, *, must_exist: bool = False) -> Path | None:
        text = self.str(name)
        if text is None:
            return default
        path = Path(text).expanduser()
        if must_exist and not path.exists():
            raise ConfigError(f"{PREFIX}{name}={text!r}: no such file")
        return path

    # The typed reads come last: below them, `str`, `int`, ... in this class's annotations would name them.
    def str(self, name: builtins.str, default: builtins.str | None = None) -> builtins.str | None:
        return self.raw(PREFIX + name) or default

    def int(
        self,
        name: builtins.str,
        default: builtins.int,
        *,
        minimum: builtins.int | None = None,
        maximum: builtins.int | None = None,
    ) -> builtins.int:
        text = self.raw(PREFIX + name)
        if text is None:
            return default
        try:
            value = int(text)
        except ValueError:
            raise ConfigError(f"{PREFIX}{name}={text!r} is not an integer") from None
        _check_range(PREFIX + name, value, minimum, maximum)
        return value

    def float(
        self,
        name: builtins.str,
        default: builtins.float,
        *,
        minimum: builtins.float | None = None,
        maximum: builtins.float | None = None,
    ) -> builtins.float:
        text = self.raw(PREFIX + name)
        if text is None:
            return default
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(f"{PREFIX}{name}={text!r} is not a number") from None
        _check_range(PREFIX + name, value, minimum, maximum)
        return value

    def bool(self, name: builtins.str, default: builtins.bool) -> builtins.bool:
        text = self.raw(PREFIX + name)
        if text is None:
            return default
        lowered = text.lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{PREFIX}{name}={text!r} is not a boolean (use true or false)")


def _check_range(name: str, value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name}={value} is below the minimum {minimum}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name}={value} is above the maximum {maximum}")
