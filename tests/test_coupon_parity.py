"""The rewards journey on every channel through one runtime built by main.py: browse the
catalogue, claim a reward, see it among "My coupons"; the same rows for every channel."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from app.runtime import Runtime
from core.db.models import Coupon, LedgerEntry, Member, RewardClaim
from core.members.accounts import IdentityKey
from core.offers.rewards import RewardSpec
from tests.conftest import Backend
from tests.telegram_member import TelegramMember, inline_actions
from tests.test_parity import (
    Driver,
    TelegramDriver,
    VkDriver,
    every_channel,
    join_without_offers,
)


def offered(driver: Driver, prefix: str) -> str:
    """The newest button action starting with `prefix` (its nonce is not known in advance);
    channels that answer by label (WhatsApp, console) need only the prefix."""
    if isinstance(driver, TelegramDriver):
        member: TelegramMember = driver._member
        for call in reversed(member.received):
            found = [action for action in inline_actions(call) if action.startswith(prefix)]
            if found:
                return found[-1]
    if isinstance(driver, VkDriver):
        for message in reversed(driver._member.received):
            found = [
                action
                for row in message.keyboard_rows
                for button in row
                if (action := json.loads(button["action"]["payload"])["action"]).startswith(prefix)
            ]
            if found:
                return found[-1]
    return prefix


async def journey(driver: Driver, reward_id: int, stock: int) -> str:
    await join_without_offers(driver)

    catalogue = await driver.say("rewards")
    assert f"• Coffee mug: 40 points ({stock} left)" in catalogue, (driver.channel, catalogue)
    shown = await driver.press(f"reward:{reward_id}", "Coffee mug · 40 points")
    assert "Price: 40 points. You have 100 points." in shown
    confirm = await driver.press(f"reward:claim:{reward_id}", "Get it for 40 points")
    assert "Get Coffee mug for 40 points? You will have 60 points left." in confirm
    claimed = await driver.press(offered(driver, f"reward:yes:{reward_id}:"), "Yes, get it")
    assert "Done! Coffee mug is yours for 40 points. You have 60 points left." in claimed
    mine = await driver.say("my coupons")
    assert "Free: Coffee mug" in mine, (driver.channel, mine)
    return mine


async def rows_of(runtime: Runtime, channel: str, user_id: str) -> dict[str, Any]:
    member = await runtime.program.members.find(IdentityKey(channel, user_id))
    assert member is not None, f"{channel}: no member"
    async with runtime.db.reading() as session:
        row = await session.get(Member, member.id)
        assert row is not None
        entries = await session.scalars(
            select(LedgerEntry).where(LedgerEntry.member_id == member.id).order_by(LedgerEntry.id)
        )
        coupons = (await session.scalars(select(Coupon).where(Coupon.member_id == member.id))).all()
        claims = await session.scalars(
            select(RewardClaim).where(RewardClaim.member_id == member.id)
        )
        return {
            "balance": row.balance,
            "ledger": [(entry.points, entry.reason) for entry in entries],
            "coupons": [(coupon.source, coupon.uses) for coupon in coupons],
            "claims": [claim.points for claim in claims],
            "codes": [coupon.code for coupon in coupons],
        }


@pytest.mark.parametrize("backend", ["embedded", "services"], indirect=True)
async def test_claiming_a_reward_works_alike_on_every_channel(
    backend: Backend, settings: Any, tmp_path: Path
) -> None:
    users = (9001, 9002, "+49998009003")
    async with every_channel(backend, tmp_path / "console", users) as channels:
        runtime = channels.runtime
        mug = await runtime.program.rewards.add(
            RewardSpec(slug="mug", name="Coffee mug", cost=40, stock=5), actor="t"
        )
        screens = {}
        for stock, driver in zip((5, 4, 3, 2), channels.drivers, strict=True):
            # Each member sees the stock the previous ones left.
            screens[driver.channel] = await journey(driver, mug.id, stock)
        rows = {d.channel: await rows_of(runtime, d.channel, d.user_id) for d in channels.drivers}
        stock_left = await runtime.program.rewards.get("mug")

    assert stock_left.stock == 1
    for channel, found in rows.items():
        assert found["balance"] == 60, channel
        assert found["ledger"] == [(100, "welcome"), (-40, "reward")], channel
        assert found["coupons"] == [("reward", 0)], channel
        assert found["claims"] == [40], channel
        (code,) = found["codes"]
        assert f"Code: {code}" in screens[channel], channel
    console_images = sorted(path.name for path in (tmp_path / "console").glob("coupon-*.png"))
    assert console_images == [f"coupon-{rows['console']['codes'][0]}.png"]
    png = await asyncio.to_thread((tmp_path / "console" / console_images[0]).read_bytes)
    decoded = [code.text for code in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]
    assert decoded == rows["console"]["codes"]
    assert len({found["codes"][0] for found in rows.values()}) == 4
