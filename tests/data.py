"""Shortcuts for tests that set up members and look at what the database holds."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.runtime import Runtime
from core.members.accounts import IdentityKey, Profile, Registration


def registration(external_id: str = "1001", channel: str = "telegram") -> Registration:
    return Registration(
        identity=IdentityKey(channel, external_id),
        language="en",
        accepted_terms=True,
        marketing_opt_in=False,
    )


async def enrol(runtime: Runtime, external_id: str = "1001") -> Profile:
    enrolment = await runtime.program.members.enrol(registration(external_id))
    assert enrolment.created
    return enrolment.member


async def scalar(runtime: Runtime, statement: Any) -> Any:
    async with runtime.db.sessions() as session:
        return await session.scalar(statement)


async def count(runtime: Runtime, model: type[Any], *criteria: Any) -> int:
    statement = select(func.count()).select_from(model)
    if criteria:
        statement = statement.where(*criteria)
    return int(await scalar(runtime, statement) or 0)
