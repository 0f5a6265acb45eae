"""The members context's profile writes: phone, birthday (once) and offers consent, each
publishing `ProfileChanged` inside its own transaction."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.runtime import Runtime
from core.db.models import Member
from core.members.accounts import BirthdayAlreadyGiven
from core.members.events import ProfileChanged
from core.shared.errors import InvalidReference
from tests.data import enrol, scalar


async def test_every_profile_change_publishes_what_the_profile_holds_now(
    runtime: Runtime,
) -> None:
    heard: list[tuple[ProfileChanged, str | None]] = []

    async def listen(session: AsyncSession, event: ProfileChanged) -> None:
        # Inside the writing transaction: the change is already visible to it.
        row = await session.get(Member, event.member_id)
        heard.append((event, row.phone if row is not None else None))

    runtime.program.bus.subscribe_in_transaction(ProfileChanged, listen)
    members = runtime.program.members
    ann = await enrol(runtime)
    assert heard == [], "joining is MemberJoined, not a profile change"

    await members.set_phone(ann.id, "+79990001111", verified=True)
    await members.set_birthday(ann.id, date(1990, 12, 25))
    await members.set_marketing(ann.id, opt_in=True, channel="telegram")

    facts = [(e.member_id, e.has_phone, e.has_birthday, e.marketing) for e, _ in heard]
    assert facts == [
        (ann.id, True, False, False),
        (ann.id, True, True, False),
        (ann.id, True, True, True),
    ]
    assert [phone for _, phone in heard] == ["+79990001111"] * 3


async def test_a_failing_subscriber_takes_the_change_back(runtime: Runtime) -> None:
    """Published in the transaction: a subscriber that fails undoes the write it heard of."""

    async def refuse(session: AsyncSession, event: ProfileChanged) -> None:
        raise RuntimeError("the quest store is broken")

    ann = await enrol(runtime)
    runtime.program.bus.subscribe_in_transaction(ProfileChanged, refuse)

    with pytest.raises(RuntimeError):
        await runtime.program.members.set_birthday(ann.id, date(1990, 12, 25))

    assert await scalar(runtime, select(Member.birthday).where(Member.id == ann.id)) is None


async def test_a_birthday_is_given_once_and_a_phone_must_look_like_one(
    runtime: Runtime,
) -> None:
    members = runtime.program.members
    ann = await enrol(runtime)
    await members.set_birthday(ann.id, date(1990, 12, 25))

    for other in (date(1991, 1, 1), date(1990, 12, 25)):
        with pytest.raises(BirthdayAlreadyGiven):
            await members.set_birthday(ann.id, other)
    assert (await members.get(ann.id)).birthday == date(1990, 12, 25)

    with pytest.raises(InvalidReference):
        await members.set_phone(ann.id, "12345", verified=False)
    # Typing the number a messenger vouched for keeps it vouched for.
    await members.set_phone(ann.id, "+79990001111", verified=True)
    typed = await members.set_phone(ann.id, "+79990001111", verified=False)
    assert (typed.phone, typed.phone_verified) == ("+79990001111", True)
    changed = await members.set_phone(ann.id, "+79990002222", verified=False)
    assert (changed.phone, changed.phone_verified) == ("+79990002222", False)
