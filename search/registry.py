"""Named components a search recipe chooses from: a small registry per slot.

    STRATEGIES.register("my_method")(MyStrategy)        # or as a class decorator
    SCHEDULES.get("cosine")(optimizer, epochs, lr_min, power)

A search method is a composition of entries (strategy, space, discretization rule, weight LR
schedule); adding one is a new module plus a `register` call, never an edit of the run loop
(search/run.py). An unknown name is a one-line ZooError with the closest names.
"""

from __future__ import annotations

from typing import Callable, Generic, Iterator, Optional, TypeVar

from ..errors import ZooError, closest

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, slot: str):
        self.slot = slot
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    def register(self, name: str, *aliases: str, replace: bool = False) -> Callable[[T], T]:
        def add(entry: T) -> T:
            for key in (name, *aliases):
                if not replace and (key in self._entries or key in self._aliases):
                    raise ZooError(f"{self.slot} {key!r} is already registered; pass replace=True to override it")
            self._entries[name] = entry
            for alias in aliases:
                self._aliases[alias] = name
            return entry
        return add

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)
        for alias in [a for a, n in self._aliases.items() if n == name]:
            del self._aliases[alias]

    def canonical(self, name: str) -> str:
        key = self._aliases.get(name, name)
        if key not in self._entries:
            raise ZooError(f"unknown {self.slot} {name!r} ({closest(name, list(self._entries) + list(self._aliases))})")
        return key

    def get(self, name: str) -> T:
        return self._entries[self.canonical(name)]

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def find(self, name: str) -> Optional[T]:
        return self._entries.get(self._aliases.get(name, name))
