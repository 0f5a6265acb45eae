"""A giveaway in the member's chat, through the real channels: Telegram (aiogram against the
fake Bot API) and WhatsApp's numbered menus (twilio against the fake Twilio API). The member
joins in one tap, sees the contest's page with its commitment, is told of the win and claims
the prize, which is granted once however often "Claim" is pressed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.runtime import Runtime, build_runtime
from app.settings import Settings
from bots.vk.channel import VkChannel
from core.db.models import LedgerEntry
from core.games.contests import draw as drawing
from core.games.contests.errors import ContestRefused
from core.members.accounts import IdentityKey
from tests.clocks import ShiftedClock
from tests.data import count
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.twilio_api import FakeTwilioAPI
from tests.fakes.vk_api import FakeVkAPI
from tests.telegram_member import (
    TelegramMember,
    inline_actions,
    inline_labels,
    text_of,
    webhook_client,
    webhook_delivery,
)
from tests.test_vk import VkMember, fake_vk, vk, webhook
from tests.test_whatsapp import WhatsApp, WhatsAppMember, choices, fake_twilio, whatsapp

__all__ = ["fake_twilio", "fake_vk", "vk", "webhook", "whatsapp"]

BEACON = "c3" * 32


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """The program on a clock the test moves forward (to the close and the draw)."""
    built = build_runtime(settings, clock=ShiftedClock())
    try:
        yield built
    finally:
        await built.close()


@pytest.fixture
async def telegram_runtime(telegram_settings: Settings) -> AsyncIterator[Runtime]:
    built = build_runtime(telegram_settings, clock=ShiftedClock())
    try:
        yield built
    finally:
        await built.close()


def shifted(runtime: Runtime) -> ShiftedClock:
    clock = runtime.program.clock
    assert isinstance(clock, ShiftedClock)
    return clock


async def open_giveaway(runtime: Runtime, **overrides: Any) -> int:
    now = datetime.now(UTC)
    spec: dict[str, Any] = {
        "slug": "winter",
        "title": {"en": "Winter giveaway", "ru": "Зимний розыгрыш", "fa": "قرعه‌کشی زمستانی"},
        "description": {"en": "A gift basket for one of you.", "ru": "Подарочная корзина."},
        "starts_at": (now - timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(),
        "draw_at": (now + timedelta(hours=1, minutes=10)).isoformat(),
        "winners": 1,
        "reserves": 1,
        "prize": {"points": 500, "item": {"en": "A gift basket", "ru": "Подарочная корзина"}},
        "tickets": {"join": 1, "per_purchase": 1},
    }
    spec.update(overrides)
    created = await runtime.program.contests.create(spec, actor="test")
    return created.id


async def close_and_draw(runtime: Runtime, contest_id: int) -> dict[str, Any]:
    clock = shifted(runtime)
    clock.offset = timedelta(hours=1, minutes=1)
    assert (await runtime.program.contests.settle_due()).closed == 1
    clock.offset = timedelta(hours=1, minutes=20)
    return await runtime.program.contests.draw(contest_id, BEACON)


async def test_a_giveaway_on_telegram_join_page_win_claim(
    telegram_runtime: Runtime, fake_telegram: FakeTelegramAPI
) -> None:
    runtime = telegram_runtime
    contest_id = await open_giveaway(runtime)
    contest = await runtime.program.contests.get(contest_id)
    async with webhook_client(runtime) as client:
        ann = TelegramMember(fake_telegram, webhook_delivery(client), user_id=2101)
        await ann.sign_up()

        games = await ann.send("/games")
        assert "menu:contests" in inline_actions(games)
        listed = await ann.press("menu:contests")
        assert text_of(listed).splitlines()[0] == "Contests:"
        assert "• Winter giveaway: Open until " in text_of(listed)
        assert inline_labels(listed) == ["Winter giveaway"]

        page = await ann.press(f"contest:{contest_id}")
        shown = text_of(page)
        assert shown.startswith("🏆 Winter giveaway\nA gift basket for one of you.\nOpen until ")
        assert "Prize: 500 points + A gift basket" in shown
        assert "• Join: 1 ticket" in shown and "• Every purchase: 1 ticket" in shown
        assert "You have not entered yet." in shown
        assert f"sha256(seed) = {contest.seed_sha256}" in shown
        assert f"drand quicknet round {contest.beacon_round}" in shown
        assert inline_actions(page) == [f"contest:join:{contest_id}", "menu:contests"]

        # A bot (Telegram says so) is never entered, and is remembered as one.
        robot = TelegramMember(fake_telegram, webhook_delivery(client), user_id=2199)
        await robot.sign_up()
        update = fake_telegram.callback_update(
            user_id=robot.user_id, data=f"contest:join:{contest_id}", message_id=None
        )
        update["callback_query"]["from"]["is_bot"] = True
        refused = await robot.exchange(update)
        assert text_of(refused) == "Sorry, your account cannot take part in this contest."
        known = await runtime.program.members.find(IdentityKey("telegram", "2199"))
        assert known is not None
        with pytest.raises(ContestRefused) as ineligible:
            await runtime.program.contests.join(contest_id, known.id)
        assert ineligible.value.reason == "ineligible"

        # Joining: one tap.
        before = len(ann.received)
        await ann.press(f"contest:join:{contest_id}")
        joined = await fake_telegram.wait_for_sent(ann.user_id, before + 2)
        confirmation, page = joined[-2], joined[-1]
        member = await runtime.program.members.find(IdentityKey("telegram", "2101"))
        assert member is not None
        entry = await runtime.program.contests.my_entry(contest_id, member.id)
        assert entry is not None
        assert text_of(confirmation) == (
            f"You're in! Your pseudonym in the draw is {entry.pseudonym}; you have 1 ticket."
        )
        assert f"You are in as {entry.pseudonym} with 1 ticket." in text_of(page)
        assert f"contest:join:{contest_id}" not in inline_actions(page)

        await runtime.program.purchases.credit(
            member.card_code, "100", purchase_id="TG-1", actor="till"
        )
        await runtime.program.bus.drain()
        again = await ann.send("/contests")
        assert again is not None
        page = await ann.press(f"contest:{contest_id}")
        assert f"You are in as {entry.pseudonym} with 2 tickets." in text_of(page)

        transcript = await close_and_draw(runtime, contest_id)
        assert transcript["result"]["winners"] == [entry.pseudonym]
        assert drawing.verify(transcript).verified

        before = len(ann.received)
        await runtime.dispatch_notices(10)
        sent = await fake_telegram.wait_for_sent(ann.user_id, before + 1)
        won = sent[-1]
        assert text_of(won).startswith("🎉 You won «Winter giveaway»! Claim your prize by ")
        assert inline_actions(won) == [f"contest:claim:{contest_id}"]

        claimed = await ann.press(f"contest:claim:{contest_id}")
        assert text_of(claimed) == (
            "🎉 Your prize is yours!\n500 points added to your balance.\n"
            "A gift basket: show this message at the shop to collect it."
        )
        balance = (await runtime.program.members.get(member.id)).balance
        claimed_again = await ann.press(f"contest:claim:{contest_id}")
        assert text_of(claimed_again).startswith("🎉 Your prize is yours!")
        assert (await runtime.program.members.get(member.id)).balance == balance
        assert await count(runtime, LedgerEntry, LedgerEntry.reason == "contest_prize") == 1
        history = await ann.send("/history")
        assert "  +500  Contest prize: Winter giveaway" in text_of(history)

        drawn_page = await ann.send("/contests")
        assert "The draw has taken place." in text_of(drawn_page)
        page = await ann.press(f"contest:{contest_id}")
        assert f"Winners: {entry.pseudonym}" in text_of(page)
        assert f"contest:claim:{contest_id}" not in inline_actions(page)


async def test_a_giveaway_on_whatsapp_by_numbers(
    runtime: Runtime, fake_twilio: FakeTwilioAPI, whatsapp: WhatsApp
) -> None:
    runtime.whatsapp = whatsapp.channel
    contest_id = await open_giveaway(runtime)
    contest = await runtime.program.contests.get(contest_id)
    cara = WhatsAppMember(whatsapp, "+49990008080")
    await cara.sign_up()

    listed = await cara.say("contests")
    assert listed.body.startswith("Contests:\n• Winter giveaway: Open until ")
    page = await cara.choose("Winter giveaway")
    assert f"sha256(seed) = {contest.seed_sha256}" in page.body
    assert "You have not entered yet." in page.body
    assert set(choices(page)) == {"✅ Join", "⬅️ All contests"}

    answers = await cara.send(choices(page)["✅ Join"])
    confirmation, page = answers[-2], answers[-1]
    member = await cara.profile()
    entry = await runtime.program.contests.my_entry(contest_id, member.id)
    assert entry is not None
    assert entry.pseudonym in confirmation.body
    assert f"You are in as {entry.pseudonym} with 1 ticket." in page.body
    assert "✅ Join" not in choices(page)

    transcript = await close_and_draw(runtime, contest_id)
    assert transcript["result"]["winners"] == [entry.pseudonym]
    before = len(cara.received)
    await runtime.dispatch_notices(10)
    won = cara.received[before:][-1]
    assert won.body.startswith("🎉 You won «Winter giveaway»! Claim your prize by ")
    assert "🎁 Claim the prize" in choices(won)

    claimed = await cara.choose("Claim the prize")
    assert claimed.body.startswith("🎉 Your prize is yours!\n500 points added to your balance.")
    assert (
        await count(
            runtime,
            LedgerEntry,
            LedgerEntry.reason == "contest_prize",
            LedgerEntry.member_id == member.id,
        )
        == 1
    )
    again = await cara.say(choices(won)["🎁 Claim the prize"])
    assert again.body.startswith("🎉 Your prize is yours!")
    assert await count(runtime, LedgerEntry, LedgerEntry.reason == "contest_prize") == 1


async def test_contest_texts_use_russian_plurals(
    runtime: Runtime, fake_twilio: FakeTwilioAPI, whatsapp: WhatsApp
) -> None:
    contest_id = await open_giveaway(runtime, tickets={"join": 2})
    translator = runtime.conversation.texts
    assert translator.text("ru", "contest-tickets-join", count=2) == "• За участие: 2 билета"
    assert translator.text("ru", "contest-tickets-join", count=5) == "• За участие: 5 билетов"
    assert translator.text("ru", "contest-tickets-join", count=21) == "• За участие: 21 билет"
    joined = translator.text("ru", "contest-joined", pseudonym="a-b", count=3)
    assert joined.endswith("у вас 3 билета.")
    assert contest_id


async def test_a_giveaway_on_vk(
    runtime: Runtime, fake_vk: FakeVkAPI, vk: VkChannel, webhook: TestClient[Any, Any]
) -> None:
    runtime.vk = vk
    contest_id = await open_giveaway(runtime)
    dan = VkMember(fake_vk, webhook, 6060)
    await dan.sign_up()

    (listed,) = await dan.send("contests")
    assert listed.message.startswith("Contests:")
    (page,) = await dan.press(f"contest:{contest_id}")
    assert "You have not entered yet." in page.message
    confirmation, page = await dan.press(f"contest:join:{contest_id}")
    assert confirmation.message.startswith("You're in! Your pseudonym in the draw is ")
    assert "with 1 ticket." in page.message

    await close_and_draw(runtime, contest_id)
    before = len(dan.received)
    await runtime.dispatch_notices(10)
    (won,) = dan.received[before:]
    assert won.message.startswith("🎉 You won «Winter giveaway»!")
    (claimed,) = await dan.press(f"contest:claim:{contest_id}")
    assert claimed.message.startswith("🎉 Your prize is yours!")
    assert await count(runtime, LedgerEntry, LedgerEntry.reason == "contest_prize") == 1
