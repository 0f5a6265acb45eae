"""The adapters' caches in the shared store, under typed keys instead of f-strings.

Like aiogram's `StorageKey` and `KeyBuilder`: a key is a frozen value (which channel, what it
keeps, about whom), and one builder turns it into the store's string, so two adapters cannot
collide and a reader finds every key a channel writes in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.db.state import ConversationStore


@dataclass(frozen=True)
class CacheKey:
    channel: str
    # What is kept: "profile", "choices", "image", "export" ...
    kind: str
    # Whom or what it is about: a user id, a phone number, a digest.
    subject: str

    def build(self) -> str:
        # The layout of the strings written before these keys existed, so a deployment keeps
        # its caches (and members their numbered menus) across the upgrade.
        return f"{self.channel}-{self.kind}:{self.subject}"


class KeyedStore:
    """A channel's view of the shared store: its keys only, always built the same way."""

    def __init__(self, store: ConversationStore, channel: str) -> None:
        self._store = store
        self.channel = channel

    def key(self, kind: str, subject: object) -> CacheKey:
        return CacheKey(self.channel, kind, str(subject))

    async def get(self, key: CacheKey) -> dict[str, Any] | None:
        return await self._store.get(key.build())

    async def set(self, key: CacheKey, data: dict[str, Any]) -> None:
        await self._store.set(key.build(), data)

    async def clear(self, key: CacheKey) -> None:
        await self._store.clear(key.build())
