"""The games' screens on every channel (Telegram, VK, WhatsApp, console) through one runtime:
the same check-in (once a day), streak, badge shelf and leaderboard, and the same rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core.db.models import BadgeAward, GameFact, Streak
from core.members.accounts import IdentityKey
from tests.conftest import Backend
from tests.test_games_chat import VISITS_BADGE
from tests.test_parity import every_channel, join_without_offers


@pytest.mark.parametrize("backend", ["embedded", "services"], indirect=True)
async def test_check_in_badges_and_leaderboard_alike_on_every_channel(
    backend: Backend, settings: Any, tmp_path: Path
) -> None:
    users = (8101, 8102, "+49998008103")
    async with every_channel(backend, tmp_path / "console", users) as channels:
        program = channels.runtime.program
        await program.badges.create(
            {**VISITS_BADGE, "condition": {"kind": "first_purchase"}}, actor="m"
        )
        rows = {}
        for driver in channels.drivers:
            await join_without_offers(driver)
            assert (
                "Checked in for today! Your check-in streak: 1 day in a row."
                in await driver.say("/checkin")
            )
            assert "You have already checked in today." in await driver.say("check in")
            assert "🔒 ☕ Regular: make your first purchase" in await driver.say("/badges")
            member = await program.members.find(IdentityKey(driver.channel, driver.user_id))
            assert member is not None
            await program.purchases.credit(
                member.card_code, "100", purchase_id=f"P-{driver.channel}", actor="till"
            )
            await program.bus.drain()
            assert "✓ ☕ Regular: Two visits" in await driver.say("badges")
            board = await driver.say("/top")
            assert "🏆 Points this week" in board
            assert "Your place: " in board and "with 10 points." in board
            async with channels.runtime.db.reading() as session:
                rows[driver.channel] = (
                    await session.scalar(
                        select(func.count()).where(
                            GameFact.member_id == member.id, GameFact.kind == "checkin"
                        )
                    ),
                    (await session.get(Streak, (member.id, "checkin"))).current,  # type: ignore[union-attr]
                    await session.scalar(
                        select(func.count()).where(BadgeAward.member_id == member.id)
                    ),
                )
    assert set(rows) == {"telegram", "vk", "whatsapp", "console"}
    assert set(rows.values()) == {(1, 1, 1)}
