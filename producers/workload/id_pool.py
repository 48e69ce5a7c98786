"""A compact, ordered set of row ids with O(1) random picks: how the workload remembers which rows exist.

Backed by a sorted ``array('q')`` (8 bytes an id, so a million customers cost 8 MB, not the ~100 MB of a Python
set) with binary search for membership. Being sorted, its contents and therefore every random pick depend only
on which ids it holds, never on the order they were added: the same database state gives the same picks.
"""

from __future__ import annotations

import random
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator


class IdPool:
    """Sorted distinct int64 ids; ``pick`` draws one uniformly with a single call to ``rng.random()``."""

    __slots__ = ("_ids",)

    def __init__(self, ids: Iterable[int] = ()) -> None:
        self._ids = array("q", sorted(set(ids)))

    def __len__(self) -> int:
        return len(self._ids)

    def __bool__(self) -> bool:
        return bool(self._ids)

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, int):
            return False
        index = bisect_left(self._ids, item)
        return index < len(self._ids) and self._ids[index] == item

    def __iter__(self) -> Iterator[int]:
        return iter(self._ids)

    def __repr__(self) -> str:
        return f"IdPool({len(self._ids)} ids)"

    def add(self, item: int) -> None:
        """Add an id (appending is O(1) for the usual case of a new, highest id)."""
        ids = self._ids
        if not ids or item > ids[-1]:
            ids.append(item)
            return
        index = bisect_left(ids, item)
        if ids[index] != item:
            ids.insert(index, item)

    def discard(self, item: int) -> None:
        """Remove an id if present."""
        index = bisect_left(self._ids, item)
        if index < len(self._ids) and self._ids[index] == item:
            del self._ids[index]

    def pick(self, rng: random.Random) -> int:
        """One id, uniformly; IndexError when the pool is empty."""
        if not self._ids:
            raise IndexError("pick from an empty IdPool")
        return self._ids[int(rng.random() * len(self._ids))]

    def sample(self, rng: random.Random, count: int) -> list[int]:
        """``count`` distinct ids (fewer if the pool is smaller), in the order drawn."""
        if count >= len(self._ids):
            chosen = list(self._ids)
            rng.shuffle(chosen)
            return chosen
        drawn: list[int] = []
        seen: set[int] = set()
        while len(drawn) < count:
            item = self.pick(rng)
            if item not in seen:
                seen.add(item)
                drawn.append(item)
        return drawn
