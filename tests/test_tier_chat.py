"""A member sees their tier, its perks and what the next one takes on Balance, and the tiers
and running promotions in Help: through Telegram (in Russian) and WhatsApp (in English)."""

from __future__ import annotations

from typing import Any

from app.runtime import Runtime
from core.members.accounts import IdentityKey
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.telegram_member import TelegramMember, text_of, webhook_client, webhook_delivery
from tests.test_whatsapp import (  # noqa: F401  (fake_twilio and whatsapp: fixtures)
    WhatsAppMember,
    choices,
    fake_twilio,
    whatsapp,
)
from tests.whatsapp_member import WhatsApp

TIERS: list[dict[str, Any]] = [
    {"key": "silver", "name": {"en": "Silver", "ru": "Серебро", "fa": "نقره‌ای"}, "threshold": 1000},
    {
        "key": "gold",
        "name": {"en": "Gold", "ru": "Золото", "fa": "طلایی"},
        "threshold": 5000,
        "earn_multiplier": "1.5",
        "perks": {"en": "Free coffee every day", "ru": "Кофе в подарок каждый день"},
    },
]


async def test_balance_on_telegram_shows_the_tier_and_what_is_left_to_the_next(
    telegram_runtime: Runtime, fake_telegram: FakeTelegramAPI
) -> None:
    program = telegram_runtime.program
    await program.rules.update(actor="marketer", tiers=TIERS)
    async with webhook_client(telegram_runtime) as client:
        ivan = TelegramMember(
            fake_telegram, webhook_delivery(client), user_id=4001, language_code="ru"
        )
        await ivan.sign_up(language="ru")
        member = await program.members.find(IdentityKey("telegram", "4001"))
        assert member is not None

        before = text_of(await ivan.send("/balance"))
        await program.purchases.credit(member.card_code, "1200", purchase_id="P1", actor="t")
        silver = text_of(await ivan.send("/balance"))
        await program.purchases.credit(member.card_code, "3800", purchase_id="P2", actor="t")
        gold = text_of(await ivan.send("/balance"))
        rules = text_of(await ivan.send("/help"))

    assert "Ваш уровень" not in before
    assert "До уровня «Серебро» осталось потратить 1\xa0000\xa0₽." in before
    assert "Ваш уровень: Серебро" in silver
    assert "До уровня «Золото» осталось потратить 3\xa0800\xa0₽." in silver
    assert "Ваш уровень: Золото" in gold
    assert "Ваши привилегии: Кофе в подарок каждый день" in gold
    assert "Это наш самый высокий уровень." in gold
    assert "Уровни — по сумме покупок за последние 365 дней:" in rules
    assert "• Золото: от 5\xa0000\xa0₽, баллы × 1,5" in rules


async def test_balance_on_whatsapp_by_points_with_plurals_and_promotions_in_help(
    whatsapp: WhatsApp,  # noqa: F811  (the fixture imported above)
) -> None:
    program = whatsapp.runtime.program
    await program.rules.update(
        actor="marketer",
        tiers=[
            {"key": "silver", "name": "Silver", "threshold": 101, "perks": "Priority support"},
            {"key": "gold", "name": TIERS[1]["name"], "threshold": 300},
        ],
        tier_metric="points",
        tier_window_days=90,
        promotions=[
            {
                "key": "double",
                "name": {"en": "Double points week", "ru": "Неделя двойных баллов"},
                "multiplier": "2",
                "starts": "2020-01-01T00:00:00+00:00",
                "ends": "2100-01-08T00:00:00+03:00",
            },
            {
                "key": "gone",
                "name": "Last year's sale",
                "multiplier": "5",
                "ends": "2021-01-01T00:00:00+00:00",
            },
        ],
    )
    ann = WhatsAppMember(whatsapp, "+49990004001")
    menu = await ann.sign_up()
    member = await ann.profile()
    await program.purchases.credit(member.card_code, "500", purchase_id="P1", actor="t")  # 100

    almost = await ann.say(choices(menu)["💰 Balance"])
    assert "Earn 1 point more with purchases to reach Silver." in almost.body
    await program.purchases.credit(member.card_code, "50", purchase_id="P2", actor="t")  # 10
    silver = await ann.say("balance")
    assert "Your level: Silver" in silver.body
    assert "Your perks: Priority support" in silver.body
    assert "Earn 190 points more with purchases to reach Gold." in silver.body

    help_text = (await ann.say("help")).body
    assert "Levels, by the points your purchases earn over the last 90 days:" in help_text
    assert "• Silver: from 101 points\n" in help_text, "no multiplier shown when it is 1"
    assert "• Double points week: points × 2 until 1/7/00" in help_text
    assert "Last year's sale" not in help_text
