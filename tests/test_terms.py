"""The terms a member accepts when joining (and sees again under Help): besides earning and
spending, when points expire and the bonuses the shop gives, each only when it is set up,
in the member's language, through the real Telegram and WhatsApp clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.runtime import Runtime
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.telegram_member import (
    TelegramMember,
    inline_actions,
    text_of,
    webhook_client,
    webhook_delivery,
)
from tests.test_whatsapp import WhatsAppMember, choices
from tests.whatsapp_member import WhatsApp, fake_twilio, whatsapp

__all__ = ["fake_twilio", "whatsapp"]

NO_BONUSES = {"referral_friend_bonus": 0, "referral_referrer_bonus": 0, "welcome_bonus": 0}


@pytest.fixture
async def webhook(telegram_runtime: Runtime) -> AsyncIterator[Any]:
    async with webhook_client(telegram_runtime) as client:
        yield client


async def test_the_terms_say_nothing_of_expiry_or_bonuses_the_shop_does_not_have(
    telegram_runtime: Runtime, fake_telegram: FakeTelegramAPI, webhook: Any
) -> None:
    await telegram_runtime.program.rules.update(actor="test", **NO_BONUSES)
    ann = TelegramMember(fake_telegram, webhook_delivery(webhook), user_id=7001)

    terms = text_of(await ann.send("/start"))

    assert "1 point for every RUB10 spent" in terms
    assert "expire" not in terms
    assert "Invite" not in terms and "birthday" not in terms and "review" not in terms
    assert "welcome gift" not in terms


async def test_the_terms_tell_when_points_expire_and_the_bonuses_in_russian(
    telegram_runtime: Runtime, fake_telegram: FakeTelegramAPI, webhook: Any
) -> None:
    await telegram_runtime.program.rules.update(
        actor="test",
        points_ttl_days=365,
        birthday_bonus=50,
        referral_qualifies_on="join",
        event_bonuses={"review": {"points": 30}, "channel": {"points": 5}},
    )
    boris = TelegramMember(fake_telegram, webhook_delivery(webhook), user_id=7002)
    boris.language_code = "ru"

    welcome = await boris.send("/start")
    terms = text_of(welcome)

    assert terms.startswith("Добро пожаловать в Loyalty Club!")
    assert "• Баллы сгорают через 365 дней после начисления." in terms
    assert (
        "• Приглашайте друзей: когда друг присоединится, вы получите 200 баллов, "
        "а он — 100 баллов." in terms
    )
    assert "• Подарок на день рождения: 50 баллов." in terms
    assert "• 30 баллов за отзыв." in terms
    assert "опрос" not in terms, "no survey bonus is set up"
    assert "channel" not in terms, "a kind of the shop's own has no wording to show"
    assert inline_actions(welcome)[:2] == ["terms:accept", "terms:decline"]

    # Help, after joining, shows the same rules.
    await boris.press("terms:accept")
    await boris.press("consent:no")
    help_text = text_of(await boris.send("/help"))
    assert "• Баллы сгорают через 365 дней после начисления." in help_text
    assert "• Подарок на день рождения: 50 баллов." in help_text


async def test_one_day_to_expire_is_singular(
    telegram_runtime: Runtime, fake_telegram: FakeTelegramAPI, webhook: Any
) -> None:
    await telegram_runtime.program.rules.update(actor="test", points_ttl_days=1)
    ann = TelegramMember(fake_telegram, webhook_delivery(webhook), user_id=7003)
    terms = text_of(await ann.send("/start"))
    assert "• Points expire a day after you earn them." in terms
    boris = TelegramMember(fake_telegram, webhook_delivery(webhook), user_id=7004)
    boris.language_code = "ru"
    await telegram_runtime.program.rules.update(actor="test", points_ttl_days=21)
    assert "• Баллы сгорают через 21 день после начисления." in text_of(await boris.send("/start"))


async def test_the_terms_on_whatsapp_in_persian_with_and_without_expiry(
    whatsapp: WhatsApp,
) -> None:
    rules = whatsapp.runtime.program.rules
    await rules.update(actor="test", **NO_BONUSES)
    first = WhatsAppMember(whatsapp, "+989121230001")
    without = (await first.say("سلام")).body
    assert without.startswith("به Loyalty Club خوش آمدید!")
    assert "منقضی" not in without
    assert "تولد" not in without and "دعوت" not in without

    await rules.update(
        actor="test",
        points_ttl_days=90,
        birthday_bonus=40,
        event_bonuses={"survey": {"points": 20, "per_member": 3}},
    )
    second = WhatsAppMember(whatsapp, "+989121230002")
    welcome = await second.say("سلام")
    assert "• امتیازها 90 روز پس از دریافت منقضی می‌شوند." in welcome.body
    assert "• هدیهٔ تولد: 40 امتیاز." in welcome.body
    assert "• 20 امتیاز برای پاسخ به نظرسنجی." in welcome.body
    assert "نظر." not in welcome.body, "no review bonus is set up"
    assert list(choices(welcome))[:2] == ["✅ شرایط را می‌پذیرم", "❌ نمی‌پذیرم"]


async def test_the_terms_name_the_birthday_coupon_and_a_tiers_own_birthday_gift(
    telegram_runtime: Runtime, fake_telegram: FakeTelegramAPI, webhook: Any
) -> None:
    await telegram_runtime.program.rules.update(
        actor="test",
        birthday_bonus=50,
        birthday_coupon="cake",
        tiers=[
            {"key": "silver", "name": "Silver", "threshold": 1000},
            {"key": "gold", "name": "Gold", "threshold": 5000, "birthday_bonus": 300},
        ],
    )
    ann = TelegramMember(fake_telegram, webhook_delivery(webhook), user_id=7005)
    terms = text_of(await ann.send("/start"))
    assert "• A birthday gift of 50 points and a coupon." in terms
    assert "• Silver: from RUB1,000\n" in terms
    assert "• Gold: from RUB5,000, birthday gift 300 points" in terms
