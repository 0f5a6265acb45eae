"""Earning, tiers, expiry and notices on every channel through one runtime built by main.py:
the shop credits a purchase, the member hears of the points and the new tier in the chat,
and Balance and History say the same on Telegram, VK, WhatsApp and the console."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.db.models import LedgerEntry, Member, Notice, PointLot
from core.members.accounts import IdentityKey
from tests.clocks import StoppedClock
from tests.conftest import Backend
from tests.test_parity import (
    every_channel,
    join_without_offers,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
TIERS = [
    {"key": "silver", "name": {"en": "Silver", "ru": "Серебро", "fa": "نقره‌ای"}, "threshold": 100},
    {"key": "gold", "name": "Gold", "threshold": 1000, "earn_multiplier": "2"},
]


async def member_rows(runtime: Any, channel: str, user_id: str) -> dict[str, Any]:
    member = await runtime.program.members.find(IdentityKey(channel, user_id))
    assert member is not None, channel
    async with runtime.db.reading() as session:
        row = await session.get(Member, member.id)
        assert row is not None
        entries = await session.scalars(
            select(LedgerEntry).where(LedgerEntry.member_id == member.id).order_by(LedgerEntry.id)
        )
        lots = await session.scalars(
            select(PointLot).where(PointLot.member_id == member.id).order_by(PointLot.id)
        )
        notices = await session.scalars(
            select(Notice).where(Notice.member_id == member.id).order_by(Notice.id)
        )
        return {
            "member": (row.balance, row.tier),
            "ledger": [(entry.points, entry.reason) for entry in entries],
            "lots": [(lot.remaining, lot.expires_at) for lot in lots],
            "notices": [(notice.kind, notice.status, notice.channel) for notice in notices],
        }


@pytest.mark.parametrize("backend", ["embedded", "services"], indirect=True)
async def test_points_tiers_expiry_and_notices_work_alike_on_every_channel(
    backend: Backend, settings: Any, tmp_path: Path
) -> None:
    users = (9101, 9102, "+49998009103")
    async with every_channel(
        backend, tmp_path / "console", users, clock=StoppedClock(NOW)
    ) as channels:
        runtime = channels.runtime
        await runtime.program.rules.update(
            actor="marketer",
            earn_rate="1",
            points_ttl_days=30,
            tiers=TIERS,
            tier_metric="spend",
            tier_window_days=365,
        )
        screens: dict[str, dict[str, str]] = {}
        for number, driver in enumerate(channels.drivers):
            await join_without_offers(driver)
            member = await runtime.program.members.find(IdentityKey(driver.channel, driver.user_id))
            assert member is not None
            credit = await runtime.program.purchases.credit(
                member.card_code, "150", purchase_id=f"R-{number}", actor="till"
            )
            assert credit.points == 150
            await runtime.dispatch_notices(50)
            screens[driver.channel] = {
                "balance": await driver.say("balance"),
                "history": await driver.say("history"),
            }
        rows = {
            d.channel: await member_rows(runtime, d.channel, d.user_id) for d in channels.drivers
        }

    expires = NOW + timedelta(days=30)
    for channel, found in rows.items():
        assert found["member"] == (250, "silver"), channel
        assert found["ledger"] == [(100, "welcome"), (150, "purchase")], channel
        assert found["lots"] == [(100, expires), (150, expires)], channel
        balance = screens[channel]["balance"]
        assert balance.startswith("You have 250 points."), (channel, balance)
        assert "Your level: Silver" in balance, (channel, balance)
        assert "Spend" in balance and "to reach Gold" in balance, (channel, balance)
        assert "Next to expire: 250 points on December 24, 2026." in balance, (channel, balance)
        assert "Purchase R-" in screens[channel]["history"], channel
    for channel in ("telegram", "vk", "whatsapp"):
        kinds = {(kind, status, via) for kind, status, via in rows[channel]["notices"]}
        assert ("points_earned", "sent", channel) in kinds, (channel, kinds)
        assert ("tier_changed", "sent", channel) in kinds, (channel, kinds)
    # The console reaches only whoever sits at it: the scripted console is not the live one.
    assert {status for _, status, _ in rows["console"]["notices"]} <= {"sent", "skipped"}
