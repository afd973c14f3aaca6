"""Registries by name: models, objectives and datasets register themselves here."""

from __future__ import annotations

import difflib
from typing import Generic, Iterator, TypeVar

from gankit.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> entry table with did-you-mean errors for unknown names."""

    def __init__(self, kind: str, list_command: str):
        self.kind = kind  # "model", "dataset", ...
        self.list_command = list_command  # the command that lists the names, for error messages
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        if name not in self._entries:
            close = difflib.get_close_matches(name, self._entries, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UserError(
                f"unknown {self.kind} {name!r}; {hint}`{self.list_command}` lists them"
            )
        return self._entries[name]

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[tuple[str, T]]:
        return iter(self._entries.items())
