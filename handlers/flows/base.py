"""What every multi-step dialogue shares: its state's key in the store, and a table of steps.

A flow keeps its state under `flow:<name>:<subject>` (the subject is who is in it: an identity
before joining, a member afterwards), so two flows never read each other's answers and a flow's
keys can be found, counted or dropped by name. The store expires them (DESIGN: losing the state
costs a member a step, never points).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from core.db.state import ConversationStore
from core.members.accounts import IdentityKey
from handlers.messages import Incoming, Reply
from handlers.routing import Action

NAMESPACE = "flow"

StateT = TypeVar("StateT")
# One step: the message, who sent it, the flow's state so far, and the action it carries.
Step = Callable[[Incoming, IdentityKey, StateT, Action | None], Awaitable[list[Reply]]]


@dataclass(frozen=True)
class FlowKey:
    flow: str
    subject: str

    def __str__(self) -> str:
        return f"{NAMESPACE}:{self.flow}:{self.subject}"


class FlowStore:
    """One flow's states, each under its own key in the conversation store."""

    def __init__(self, store: ConversationStore, flow: str) -> None:
        if ":" in flow:
            raise ValueError(f"a flow's name cannot contain ':' ({flow!r})")
        self._store = store
        self.flow = flow

    def key(self, subject: object) -> FlowKey:
        return FlowKey(self.flow, str(subject))

    async def load(self, subject: object) -> dict[str, Any] | None:
        return await self._store.get(str(self.key(subject)))

    async def save(self, subject: object, data: dict[str, Any]) -> None:
        await self._store.set(str(self.key(subject)), data)

    async def clear(self, subject: object) -> None:
        await self._store.clear(str(self.key(subject)))
