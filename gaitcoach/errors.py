"""Errors shared by all stages: configuration problems and the command line's one line."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

SECRET_KEY_PARTS = ("pas", "pwd", "secret", "token")
"""A config key whose name contains one of these (password, passwd, a typo like pasword,
client_secret, ...) has its value masked in every error message."""


def is_secret_key(key: str) -> bool:
    last = key.rsplit(".", 1)[-1].lower()
    return any(part in last for part in SECRET_KEY_PARTS)


def redact(key: str, value: Any) -> Any:
    """``value`` as it may be shown for ``key``: secrets become ``***``, also inside tables."""
    if is_secret_key(key):
        return "***"
    if isinstance(value, Mapping):
        return {k: redact(str(k), v) for k, v in value.items()}
    return value


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a configuration: the full key, the value and what is allowed.
    ``text`` replaces the ``key = value is invalid; allowed: ...`` sentence when set (an
    unknown key, a TOML syntax error)."""

    key: str
    value: Any
    allowed: str
    text: str = ""

    def line(self) -> str:
        if self.text:
            return f"config: {self.text}"
        shown = redact(self.key, self.value)
        return f"config: {self.key} = {shown!r} is invalid; allowed: {self.allowed}"


class ConfigError(ValueError):
    """A configuration is wrong: one line per problem (every problem at once), each naming the
    key, the value and what is allowed. Secret values (passwords) are never echoed
    (:func:`redact`). ``key``, ``value`` and ``allowed`` are the first problem's."""

    def __init__(self, key: str, value: Any, allowed: str, text: str = "") -> None:
        self.problems: tuple[Problem, ...] = (Problem(key, value, allowed, text),)
        self._set()

    @classmethod
    def of(cls, problems: Iterable[Problem]) -> ConfigError:
        items = tuple(problems)
        if not items:
            raise ValueError("ConfigError.of needs at least one problem")
        err = cls.__new__(cls)
        err.problems = items
        err._set()
        return err

    def _set(self) -> None:
        first = self.problems[0]
        self.key = first.key
        self.value = redact(first.key, first.value)
        self.allowed = first.allowed
        ValueError.__init__(self, "\n".join(p.line() for p in self.problems))


class CliError(Exception):
    """An error shown to the user as one line (or one line per problem), exit status 2."""
