"""Errors shared by all stages."""

from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
    """A configuration value is wrong: one line naming the key, the value and what is allowed."""

    def __init__(self, key: str, value: Any, allowed: str) -> None:
        self.key = key
        self.value = value
        self.allowed = allowed
        super().__init__(f"config: {key} = {value!r} is invalid; allowed: {allowed}")
