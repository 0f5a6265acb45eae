"""My coupons and the rewards catalogue in the member's chat, through the real channels:
Telegram (aiogram against the fake Bot API) and VK (vk-api against the fake VK API),
asserted on what the member receives (QR images decoded) and on the database."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import zxingcpp
from aiohttp.test_utils import TestClient
from PIL import Image
from sqlalchemy import select

from app.runtime import Runtime
from core.db.models import Coupon, LedgerEntry, Notice, Reward, RewardClaim
from core.members.accounts import IdentityKey, Profile
from core.offers.campaigns import CampaignSpec
from core.offers.rewards import RewardSpec
from core.shared import qr
from tests.data import count, scalar
from tests.fakes.telegram_api import FakeTelegramAPI, RecordedCall
from tests.fakes.twilio_api import FakeTwilioAPI
from tests.fakes.vk_api import FakeVkAPI
from tests.telegram_member import (
    TelegramMember,
    inline_actions,
    keyboard_labels,
    text_of,
    webhook_client,
    webhook_delivery,
)
from tests.test_vk import GROUP_ID, VkMember, fake_vk, vk, webhook
from tests.test_whatsapp import WhatsAppMember, fake_twilio, whatsapp
from tests.whatsapp_member import WhatsApp

__all__ = ["fake_twilio", "fake_vk", "vk", "webhook", "whatsapp"]


def decoded(png: bytes) -> list[str]:
    return [code.text for code in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


@pytest.fixture
async def ann(
    telegram_runtime: Runtime, fake_telegram: FakeTelegramAPI
) -> AsyncIterator[TelegramMember]:
    async with webhook_client(telegram_runtime) as client:
        member = TelegramMember(fake_telegram, webhook_delivery(client), user_id=2001)
        await member.sign_up()
        yield member


async def profile_of(runtime: Runtime, channel: str, user_id: str) -> Profile:
    found = await runtime.program.members.find(IdentityKey(channel, user_id))
    assert found is not None
    return found


def action_starting(call: RecordedCall, prefix: str) -> str:
    (action,) = [action for action in inline_actions(call) if action.startswith(prefix)]
    return action


async def test_my_coupons_on_telegram_empty_then_with_qr_terms_and_expiry(
    telegram_runtime: Runtime, ann: TelegramMember
) -> None:
    runtime = telegram_runtime
    menu = ann.last
    assert {"🎟 My coupons", "🛍 Rewards", "🎁 Invite friends"} <= set(keyboard_labels(menu))

    empty = await ann.send("🎟 My coupons")
    assert text_of(empty).startswith("You have no active coupons right now.")
    assert inline_actions(empty) == ["menu:rewards"]

    member = await profile_of(runtime, "telegram", "2001")
    coupons = runtime.program.coupons
    await coupons.create_campaign(
        CampaignSpec(
            slug="spring",
            name="Spring sale",
            kind="percent",
            value="12.5",
            min_order="1000",
            valid_days=7,
            terms="One coupon per receipt.",
        ),
        actor="t",
    )
    await coupons.create_campaign(
        CampaignSpec(slug="gift", name="Gift", kind="fixed", value="300", valid_days=30),
        actor="t",
    )
    long = await coupons.issue("gift", member.id)
    soon = await coupons.issue("spring", member.id)

    before = len(ann.received)
    await ann.send("/coupons")
    title, first, second = ann.received[before:]
    assert text_of(title) == "You have 2 active coupons, the soonest to expire first:"
    assert (first.method, second.method) == ("sendPhoto", "sendPhoto")
    caption = text_of(first)
    assert caption.splitlines()[:3] == [
        "🎟 Spring sale",
        f"Code: {soon.code}",
        "12.5% off your order",
    ]
    assert "For orders from RUB1,000" in caption
    assert "Valid until " in caption and "Terms: One coupon per receipt." in caption
    assert decoded(first.files["photo"]) == [soon.code]
    assert "RUB300 off your order" in text_of(second)
    assert decoded(second.files["photo"]) == [long.code]

    await coupons.redeem(
        soon.code, redemption_id="R1", actor="till", order_amount="2000", member_id=member.id
    )
    single = await ann.send("coupons")
    assert decoded(single.files["photo"]) == [long.code], "a used coupon is no longer listed"


async def test_claiming_a_reward_on_telegram(
    telegram_runtime: Runtime, ann: TelegramMember, tmp_path: Path
) -> None:
    runtime = telegram_runtime
    picture = tmp_path / "mug.png"
    picture_png = qr.png("a picture of a mug")
    await asyncio.to_thread(picture.write_bytes, picture_png)
    rewards = runtime.program.rewards
    mug = await rewards.add(
        RewardSpec(
            slug="mug", name="Coffee mug", cost=40, stock=1, description="Ceramic, 300 ml",
            picture=str(picture),
        ),
        actor="t",
    )  # fmt: skip
    bike = await rewards.add(RewardSpec(slug="bike", name="Bike", cost=500), actor="t")
    tea = await rewards.add(
        RewardSpec(slug="tea", name="Tea", cost=10, per_member_limit=1, picture="https://x.test/t.png"),
        actor="t",
    )  # fmt: skip

    catalogue = await ann.send("🛍 Rewards")
    lines = text_of(catalogue).splitlines()
    assert lines == [
        "🛍 Rewards for your points. You have 100 points.",
        "• Tea: 10 points (available)",
        "• Coffee mug: 40 points (only 1 left)",
        "• Bike: 500 points (available)",
    ]
    assert inline_actions(catalogue) == [
        f"reward:{tea.id}",
        f"reward:{mug.id}",
        f"reward:{bike.id}",
    ]

    await ann.press(f"reward:{bike.id}")
    poor = await ann.press(f"reward:claim:{bike.id}")
    assert text_of(poor).startswith("You need 400 points more to get Bike.")

    shown = await ann.press(f"reward:{mug.id}")
    assert shown.method == "sendPhoto" and shown.files["photo"] == picture_png
    assert "Ceramic, 300 ml" in text_of(shown) and "only 1 left" in text_of(shown)
    confirm = await ann.press(f"reward:claim:{mug.id}")
    assert text_of(confirm) == "Get Coffee mug for 40 points? You will have 60 points left."
    yes = action_starting(confirm, f"reward:yes:{mug.id}:")
    assert len(yes.encode()) <= 64
    claimed = await ann.press(yes)

    assert claimed.method == "sendPhoto"
    assert text_of(claimed).startswith(
        "Done! Coffee mug is yours for 40 points. You have 60 points left. Your coupon:"
    )
    code = await scalar(runtime, select(Coupon.code))
    assert f"Code: {code}" in text_of(claimed) and "Free: Coffee mug" in text_of(claimed)
    assert decoded(claimed.files["photo"]) == [code]
    assert await scalar(runtime, select(Reward.stock).where(Reward.id == mug.id)) == 0
    member = await profile_of(runtime, "telegram", "2001")
    assert member.balance == 60

    again = await ann.press(yes)
    assert decoded(again.files["photo"]) == [code], "pressing Yes twice buys once"
    assert await count(runtime, RewardClaim) == 1
    assert await count(runtime, LedgerEntry, LedgerEntry.reason == "reward") == 1
    assert await count(runtime, Notice, Notice.kind == "coupon_received") == 0, (
        "the answer hands the coupon over: no second copy as a notice"
    )

    sold_out = await ann.press(f"reward:{mug.id}")
    assert "out of stock" in text_of(sold_out)
    assert not [a for a in inline_actions(sold_out) if a.startswith("reward:claim:")]
    stale = await ann.press(f"reward:claim:{mug.id}")
    late = await ann.press(action_starting(stale, "reward:yes:"))
    assert text_of(late) == "Sorry, Coffee mug has just run out."

    tea_page = await ann.press(f"reward:{tea.id}")
    assert tea_page.method == "sendMessage", "a URL picture is not fetched: text only"
    await ann.press(f"reward:claim:{tea.id}")
    await ann.press(action_starting(ann.last, "reward:yes:"))
    await ann.press(f"reward:claim:{tea.id}")
    limit = await ann.press(action_starting(ann.last, "reward:yes:"))
    assert text_of(limit) == "You have already got Tea as many times as one member can."
    assert await count(runtime, RewardClaim) == 2
    assert (await profile_of(runtime, "telegram", "2001")).balance == 50

    history = await ann.send("📜 History")
    assert "Reward: mug" in text_of(history)


async def test_rewards_in_russian_and_an_empty_catalogue(
    telegram_runtime: Runtime, fake_telegram: FakeTelegramAPI
) -> None:
    async with webhook_client(telegram_runtime) as client:
        boris = TelegramMember(
            fake_telegram, webhook_delivery(client), user_id=2002, language_code="ru"
        )
        await boris.sign_up(language="ru")
        empty = await boris.send("🛍 Награды")
        assert text_of(empty) == "Сейчас наград нет. Загляните попозже!"
        await telegram_runtime.program.rewards.add(
            RewardSpec(slug="mug", name="Кружка", cost=40, stock=3), actor="t"
        )
        listed = await boris.send("награды")
        assert "• Кружка: 40 баллов (осталось 3 штуки)" in text_of(listed)


async def test_my_coupons_and_a_reward_claim_on_vk(
    runtime: Runtime, fake_vk: FakeVkAPI, webhook: TestClient[Any, Any]
) -> None:
    bob = VkMember(fake_vk, webhook, 6006)
    await bob.sign_up()
    member = await profile_of(runtime, "vk", "6006")
    await runtime.program.rewards.add(RewardSpec(slug="tea", name="Tea", cost=30), actor="t")
    tea = (await runtime.program.rewards.catalogue())[0]

    (empty,) = await bob.press("menu:coupons")
    assert empty.message.startswith("You have no active coupons right now.")

    (catalogue,) = await bob.press("menu:rewards")
    assert "• Tea: 30 points (available)" in catalogue.message
    await bob.press(f"reward:{tea.id}")
    (confirm,) = await bob.press(f"reward:claim:{tea.id}")
    actions = [
        json.loads(button["action"]["payload"])["action"]
        for row in confirm.keyboard_rows
        for button in row
    ]
    (yes,) = [action for action in actions if action.startswith(f"reward:yes:{tea.id}:")]

    (claimed,) = await bob.press(yes)
    assert "Done! Tea is yours for 30 points. You have 70 points left." in claimed.message
    code = await scalar(runtime, select(Coupon.code).where(Coupon.member_id == member.id))
    assert claimed.attachment is not None
    photo_id = int(claimed.attachment.removeprefix("photo").split("_")[1])
    assert decoded(fake_vk.photos[photo_id]) == [code]

    mine = await bob.press("menu:coupons")
    assert mine[0].message == "You have 1 active coupon:"
    assert f"Code: {code}" in mine[1].message and "Free: Tea" in mine[1].message
    photo_id = int(mine[1].attachment.removeprefix("photo").split("_")[1])  # type: ignore[union-attr]
    assert decoded(fake_vk.photos[photo_id]) == [code]
    assert str(-GROUP_ID) in mine[1].attachment  # type: ignore[operator]


async def test_my_coupons_on_whatsapp_carry_the_code_and_its_qr(
    runtime: Runtime, fake_twilio: FakeTwilioAPI, whatsapp: WhatsApp
) -> None:
    cara = WhatsAppMember(whatsapp, "+49990007007")
    await cara.sign_up()
    member = await cara.profile()
    await runtime.program.coupons.create_campaign(
        CampaignSpec(slug="gift", name="Gift", kind="fixed", value="300"), actor="t"
    )
    coupon = await runtime.program.coupons.issue("gift", member.id)

    title, shown = await cara.send("my coupons")
    assert title.body == "You have 1 active coupon:"
    assert f"Code: {coupon.code}" in shown.body and "RUB300 off your order" in shown.body
    (media_url,) = shown.media_urls
    response = await whatsapp.client.get(urlsplit(media_url).path)
    assert response.status == 200
    assert decoded(await response.read()) == [coupon.code]
