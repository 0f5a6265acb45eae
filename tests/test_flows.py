"""A flow's state lives under its own name: two flows of one member never read each other's."""

from __future__ import annotations

import pytest

from core.db.state import MemoryConversationStore
from core.members.accounts import IdentityKey
from handlers.flows.base import FlowKey, FlowStore


async def test_two_flows_of_one_subject_keep_apart() -> None:
    store = MemoryConversationStore(60)
    ann = IdentityKey("telegram", "42")
    signup, quiz = FlowStore(store, "signup"), FlowStore(store, "quiz")

    await signup.save(ann, {"step": "terms"})
    await quiz.save(ann, {"step": "question-2"})

    assert str(signup.key(ann)) == "flow:signup:telegram:42"
    assert await store.get("flow:quiz:telegram:42") == {"step": "question-2"}
    assert await signup.load(ann) == {"step": "terms"}
    await quiz.clear(ann)
    assert await quiz.load(ann) is None
    assert await signup.load(ann) == {"step": "terms"}, "clearing one flow leaves the other"
    assert str(FlowKey("contest", "member:7")) == "flow:contest:member:7"


def test_a_flow_name_cannot_reach_into_another_namespace() -> None:
    with pytest.raises(ValueError, match="cannot contain ':'"):
        FlowStore(MemoryConversationStore(60), "signup:telegram")
