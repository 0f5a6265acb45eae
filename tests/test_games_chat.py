"""Badges, check-in and leaderboards through the conversation: on Telegram (buttons and
commands, notices delivered) and on WhatsApp (numbered menus), on both backends."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from app.runtime import Runtime, build_runtime
from app.settings import Settings
from core.members.accounts import IdentityKey
from tests.clocks import ShiftedClock, StoppedClock
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.twilio_api import FakeTwilioAPI
from tests.telegram_member import (
    TelegramMember,
    inline_actions,
    text_of,
    webhook_client,
    webhook_delivery,
)
from tests.test_whatsapp import (  # noqa: F401  (fake_twilio: a fixture)
    WhatsApp,
    WhatsAppMember,
    build_channel,
    choices,
    fake_twilio,
    free_port,
)

MONDAY = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # 12:00 in Moscow

VISITS_BADGE: dict[str, Any] = {
    "name": "regular",
    "title": {"en": "Regular", "ru": "Завсегдатай", "fa": "مشتری همیشگی"},
    "description": {"en": "Two visits", "ru": "Два визита", "fa": "دو بار خرید"},
    "emoji": "☕",
    "condition": {"kind": "visits", "count": 2},
}
STREAK_BADGE: dict[str, Any] = {
    "name": "steady",
    "title": {"en": "Steady", "ru": "Постоянство", "fa": "پیوسته"},
    "description": {"en": "Five days in a row", "ru": "Пять дней подряд", "fa": "پنج روز پیاپی"},
    "emoji": "🔥",
    "condition": {"kind": "streak", "count": 5, "streak": "checkin"},
}


@pytest.fixture
def clock() -> StoppedClock:
    return StoppedClock(MONDAY)


@pytest.fixture
async def telegram_games(
    telegram_settings: Settings, clock: StoppedClock
) -> AsyncIterator[Runtime]:
    built = build_runtime(telegram_settings, clock=clock)
    try:
        yield built
    finally:
        await built.close()


@pytest.fixture
async def whatsapp_games(
    settings: Settings,
    clock: StoppedClock,
    fake_twilio: FakeTwilioAPI,  # noqa: F811
) -> AsyncIterator[WhatsApp]:
    runtime = build_runtime(settings, clock=clock)
    port = free_port()
    public_url = f"http://127.0.0.1:{port}/"
    # The channel's clock follows the test's (the 24-hour window, signed links).
    shifted = ShiftedClock(clock)
    channel = build_channel(runtime, fake_twilio, shifted, public_url=public_url)
    channel.register_webhook(runtime.web_app)
    client: TestClient[Any, Any] = TestClient(
        TestServer(runtime.web_app, host="127.0.0.1", port=port)
    )
    await client.start_server()
    try:
        yield WhatsApp(runtime, channel, client, fake_twilio, shifted, public_url.rstrip("/"))
    finally:
        await client.close()
        await channel.close()
        await runtime.close()


# ---------------------------------------------------------------------------- Telegram


async def test_check_in_twice_a_day_and_a_streak_kept_by_a_freeze_on_telegram(
    telegram_games: Runtime, fake_telegram: FakeTelegramAPI, clock: StoppedClock
) -> None:
    program = telegram_games.program
    await program.rules.update(actor="marketer", streak_freeze_every=7)
    await program.badges.create(STREAK_BADGE, actor="marketer")
    async with webhook_client(telegram_games) as client:
        ivan = TelegramMember(
            fake_telegram, webhook_delivery(client), user_id=5101, language_code="ru"
        )
        await ivan.sign_up(language="ru")
        first = text_of(await ivan.send("/checkin"))
        assert "✅ Вы отметились сегодня! Серия отметок: 1 день подряд." in first
        second = await ivan.send("✅ Отметиться")  # the button's label, typed
        assert "Сегодня вы уже отмечались. Приходите завтра!" in text_of(second)
        assert "games:badges" in inline_actions(second)
        for _ in range(2):
            clock.advance(days=1)
            await ivan.send("/checkin")
        clock.advance(days=2)  # a day missed: the freeze forgives it
        kept = text_of(await ivan.send("/checkin"))
        assert "Серия отметок: 4 дня подряд." in kept
        assert "Ежедневные отметки: 4 дня подряд (рекорд: 4 дня)" in kept
        assert "Один пропуск на каждые 7 дней или недель прощается." in kept
        clock.advance(days=1)
        await ivan.send("/checkin")  # 5 in a row: the badge
        shelf = text_of(await ivan.press("games:badges"))
        assert "🏅 Ваши значки: 1 из 1" in shelf
        assert "✓ 🔥 Постоянство: Пять дней подряд" in shelf
        before = len(ivan.received)
        report = await telegram_games.dispatch_notices()
        assert report is not None
        told = [text_of(call) for call in ivan.received[before:]]
        assert "🏅 Новый значок: 🔥 Постоянство! Пять дней подряд" in told


async def test_a_badge_is_shown_locked_with_progress_then_earned_once_on_telegram(
    telegram_games: Runtime, fake_telegram: FakeTelegramAPI
) -> None:
    program = telegram_games.program
    await program.badges.create(VISITS_BADGE, actor="marketer")
    async with webhook_client(telegram_games) as client:
        ann = TelegramMember(fake_telegram, webhook_delivery(client), user_id=5102)
        await ann.sign_up()
        member = await program.members.find(IdentityKey("telegram", "5102"))
        assert member is not None
        assert "🔒 ☕ Regular: 0 of 2 visits" in text_of(await ann.send("/badges"))
        await program.purchases.credit(member.card_code, "100", purchase_id="P1", actor="till")
        await program.bus.drain()
        assert "🔒 ☕ Regular: 1 of 2 visits" in text_of(await ann.send("/badges"))
        for purchase in ("P2", "P3", "P2"):
            await program.purchases.credit(
                member.card_code, "100", purchase_id=purchase, actor="till"
            )
            await program.bus.drain()
        shelf = text_of(await ann.send("badges"))
        assert "🏅 Your badges: 1 of 1" in shelf
        assert re.search(r"✓ ☕ Regular: Two visits \(\d+/\d+/\d+\)", shelf)
        before = len(ann.received)
        await telegram_games.dispatch_notices()
        told = [text_of(call) for call in ann.received[before:]]
        assert told.count("🏅 New badge: ☕ Regular! Two visits") == 1


# ---------------------------------------------------------------------------- WhatsApp


async def test_leaderboard_on_whatsapp_tie_hidden_names_nickname_and_a_live_rank(
    whatsapp_games: WhatsApp, clock: StoppedClock
) -> None:
    program = whatsapp_games.runtime.program
    ann = WhatsAppMember(whatsapp_games, "+49990005101", profile_name="Ann")
    bob = WhatsAppMember(whatsapp_games, "+49990005102", profile_name="Bob")
    cat = WhatsAppMember(whatsapp_games, "+49990005103", profile_name="Cat")
    for member in (ann, bob, cat):
        await member.sign_up()
    ann_card = (await ann.profile()).card_code
    bob_card = (await bob.profile()).card_code
    cat_card = (await cat.profile()).card_code
    await program.purchases.credit(bob_card, "500", purchase_id="B1", actor="till")  # 50 first
    await program.bus.drain()
    clock.advance(minutes=5)
    await program.purchases.credit(ann_card, "500", purchase_id="A1", actor="till")  # 50 later
    await program.bus.drain()
    clock.advance(minutes=5)
    await program.purchases.credit(cat_card, "200", purchase_id="C1", actor="till")  # 20
    await program.bus.drain()

    board = await ann.say("/top")
    lines = board.body.splitlines()
    assert lines[0] == "🏆 Points this week"
    bob_number = await program.boards.pseudonym((await bob.profile()).id)
    ann_number = await program.boards.pseudonym((await ann.profile()).id)
    assert lines[1] == f"🥇 Member #{bob_number}: 50 points", "the tie goes to who reached it first"
    assert lines[2] == f"🥈 Member #{ann_number}: 50 points ← you"
    assert lines[3].startswith("🥉 Member #") and lines[3].endswith(": 20 points")
    assert "Your place: 2 of 3, with 50 points." in board.body
    assert "+49990005102" not in board.body and "Bob" not in board.body

    # A nickname, by the numbered menu and a typed command.
    name = await ann.choose("My name")
    assert f"you appear as Member #{ann_number}" in name.body
    refused = await ann.say("/nickname http://spam.example")
    assert "A nickname cannot be a link or an @name." in refused.body
    saved = await ann.say("/nickname   Ann   the Great ")
    assert "you now appear as Ann the Great" in saved.body

    # Ann buys again: her rank moves as soon as the games heard it, not after a job.
    await program.purchases.credit(ann_card, "10", purchase_id="A2", actor="till")  # +1
    await program.bus.drain()
    board = await bob.say("top")
    assert board.body.splitlines()[1] == "🥇 Ann the Great: 51 points"
    assert f"🥈 Member #{bob_number}: 50 points ← you" in board.body
    assert "Your place: 2 of 3, with 50 points." in board.body

    month = await bob.choose("This month")
    assert month.body.splitlines()[0] == "🏆 Points this month"
    friends = await bob.choose("Friends")
    assert friends.body.splitlines()[0] == "🏆 Friends invited this month"
    assert "Nobody is on this board yet" in friends.body

    # Ann hides her name again.
    await ann.say("/nickname")
    hidden = await ann.choose("Hide my name")
    assert f"you appear as Member #{ann_number}" in hidden.body
    board = await cat.say("/top")
    assert f"🥇 Member #{ann_number}: 51 points" in board.body


async def test_check_in_and_badge_shelf_on_whatsapp_by_numbers(
    whatsapp_games: WhatsApp, clock: StoppedClock
) -> None:
    program = whatsapp_games.runtime.program
    await program.badges.create(VISITS_BADGE, actor="marketer")
    ann = WhatsAppMember(whatsapp_games, "+49990005201")
    await ann.sign_up()
    checked = await ann.say("/checkin")
    assert "✅ Checked in for today! Your check-in streak: 1 day in a row." in checked.body
    assert set(choices(checked)) >= {"🏅 Badges", "🏆 Leaderboard"}
    again = await ann.say("check in")
    assert "You have already checked in today." in again.body
    shelf = await ann.choose("Badges")
    assert "🔒 ☕ Regular: 0 of 2 visits" in shelf.body
    clock.advance(days=1)
    again = await ann.choose("Check in")
    assert "Checked in for today! Your check-in streak: 2 days in a row." in again.body
    assert "Daily check-ins: 2 days in a row (best: 2 days)" in again.body
    assert "Weekly visits: 0 weeks in a row (best: 0 weeks)" in again.body
