"""Errors shared by all stages."""

from __future__ import annotations

from collections.abc import Mapping
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


class ConfigError(ValueError):
    """A configuration value is wrong: one line naming the key, the value and what is allowed.
    Secret values (passwords) are never echoed (:func:`redact`)."""

    def __init__(self, key: str, value: Any, allowed: str) -> None:
        self.key = key
        self.value = redact(key, value)
        self.allowed = allowed
        super().__init__(f"config: {key} = {self.value!r} is invalid; allowed: {allowed}")
