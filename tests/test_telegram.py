"""A member's Telegram conversation end to end: the real aiogram Bot against a fake Bot API,
updates arriving by webhook and by long polling, asserted on what the member receives and on
the database."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from app.runtime import Runtime, build_runtime
from core.db.models import Identity, LedgerEntry, Member
from core.members.accounts import IdentityKey
from core.shared import cards
from tests.data import count, scalar
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.telegram_member import (
    TelegramMember,
    inline_actions,
    inline_labels,
    keyboard_labels,
    polling_delivery,
    text_of,
    webhook_client,
    webhook_delivery,
)
from web.app import PROBLEM_TYPE


@pytest.fixture(params=["webhook", "polling"])
async def transport(
    request: pytest.FixtureRequest, telegram_runtime: Runtime, fake_telegram: FakeTelegramAPI
) -> AsyncIterator[Any]:
    telegram = telegram_runtime.telegram
    assert telegram is not None
    if request.param == "webhook":
        async with webhook_client(telegram_runtime) as client:
            yield webhook_delivery(client)
        return
    polling = asyncio.create_task(telegram.run_polling())
    try:
        yield polling_delivery(fake_telegram)
    finally:
        await telegram.stop_polling()
        await asyncio.wait_for(polling, 5)


@pytest.fixture
async def webhook(telegram_runtime: Runtime) -> AsyncIterator[Any]:
    async with webhook_client(telegram_runtime) as client:
        yield client


def member_of(fake: FakeTelegramAPI, deliver: Any, user_id: int, **kwargs: Any) -> TelegramMember:
    return TelegramMember(fake, deliver, user_id=user_id, **kwargs)


async def test_joining_takes_three_taps(
    telegram_runtime: Runtime, fake_telegram: FakeTelegramAPI, transport: Any
) -> None:
    ann = member_of(fake_telegram, transport, 1001)

    welcome = await ann.send("/start")
    assert "Welcome to Loyalty Club" in text_of(welcome)
    assert "1 point for every" in text_of(welcome), "the rules are on the terms screen"
    assert "We are talking in English" in text_of(welcome), "the messenger's language"
    assert inline_actions(welcome) == ["terms:accept", "terms:decline", "lang:ru", "lang:fa"]
    offers = await ann.press("terms:accept")
    assert inline_actions(offers) == ["consent:yes", "consent:no"]
    done = await ann.press("consent:no")

    assert text_of(done).startswith("Your card is ready! You get 100 points as a welcome gift.")
    assert "👤 Profile" in text_of(done)
    assert "💰 Balance" in keyboard_labels(done)
    assert "👤 Profile" in keyboard_labels(done)
    member = await scalar(runtime := telegram_runtime, select(Member))
    assert cards.display(member.card_code) in text_of(done)
    assert (member.language, member.phone, member.birthday) == ("en", None, None)
    assert member.marketing_opt_in is False
    assert member.name == "Ann"
    assert member.balance == 100
    assert cards.is_valid(member.card_code)
    identity = await scalar(runtime, select(Identity))
    assert (identity.channel, identity.external_id) == ("telegram", "1001")
    consents = {
        (c.kind, c.granted, c.channel) for c in (await runtime.program.members.consents(member.id))
    }
    assert consents == {("terms", True, "telegram"), ("marketing", False, "telegram")}
    assert await count(runtime, LedgerEntry, LedgerEntry.reason == "welcome") == 1


@pytest.mark.parametrize(
    ("first", "last", "stored"),
    [
        # Telegram allows 64 + 64 characters: with the space, one more than is stored.
        ("Ж" * 64, "Ш" * 64, "Ж" * 64 + " " + "Ш" * 63),
        ("Ann\x00\x07", "Lee\n\tJr", "Ann Lee Jr"),
    ],
    ids=["64+64", "control-characters"],
)
async def test_every_name_telegram_allows_can_join(
    telegram_runtime: Runtime,
    fake_telegram: FakeTelegramAPI,
    webhook: Any,
    first: str,
    last: str,
    stored: str,
) -> None:
    ann = TelegramMember(
        fake_telegram, webhook_delivery(webhook), user_id=1031, first_name=first, last_name=last
    )
    done = await ann.sign_up()

    assert text_of(done).startswith("Your card is ready!"), text_of(done)
    member = await scalar(telegram_runtime, select(Member))
    assert member.name == stored


async def test_joining_in_russian_then_phone_and_birthday_in_the_profile(
    telegram_runtime: Runtime, fake_telegram: FakeTelegramAPI, transport: Any
) -> None:
    boris = member_of(fake_telegram, transport, 1002, language_code="ru", first_name="Борис")

    welcome = await boris.send("/start")
    assert "Добро пожаловать в Loyalty Club" in text_of(welcome)
    assert inline_labels(welcome)[2:] == ["English", "فارسی"]
    declined = await boris.press("terms:decline")
    assert "Без согласия с условиями" in text_of(declined)
    assert inline_actions(declined)[:2] == ["terms:accept", "terms:decline"]
    assert await count(telegram_runtime, Member) == 0
    await boris.press("terms:accept")
    done = await boris.press("consent:yes")
    assert "В подарок вам 100 баллов" in text_of(done)
    assert "💰 Баланс" in keyboard_labels(done)

    profile = await boris.send("👤 Профиль")
    assert "Телефон: не указан" in text_of(profile)
    assert inline_actions(profile)[:2] == ["profile:phone", "profile:birthday"]
    ask = await boris.press("profile:phone")
    assert ask.params["reply_markup"]["keyboard"][0][0]["request_contact"] is True
    assert keyboard_labels(ask)[-1] == "✖ Отмена"
    cancelled = await boris.send("✖ Отмена")
    assert "Ничего не изменилось" in text_of(cancelled)
    assert "я не понял" in text_of(await boris.send("+7 999 123-45-67")), "no question is open"
    await boris.send("👤 Профиль")
    await boris.press("profile:phone")
    refused = await boris.share_contact("+79990000000", own=False)
    assert "чужой контакт" in text_of(refused)
    saved = await boris.share_contact("+7 (999) 123-45-67")
    assert "ваш телефон +79991234567" in text_of(saved)
    assert "💰 Баланс" in keyboard_labels(saved), "the main menu is back"

    await boris.send("👤 Профиль")
    await boris.press("profile:birthday")
    bad = await boris.send("31.02.1990")
    assert "Не удалось разобрать дату" in text_of(bad)
    future = await boris.send("01.01.2999")
    assert "ещё не наступила" in text_of(future)
    ancient = await boris.send("01.01.1800")
    assert "Дата выглядит странно" in text_of(ancient)
    birthday = await boris.send("25.12.1990")
    assert "ваш день рождения 25 декабря 1990" in text_of(birthday)

    member = await scalar(telegram_runtime, select(Member))
    assert member.language == "ru"
    assert (member.phone, member.phone_verified) == ("+79991234567", True)
    assert member.birthday == date(1990, 12, 25)
    assert member.marketing_opt_in is True

    # Given once: the profile offers no birthday button any more, and the typed word is told.
    again = await boris.send("👤 Профиль")
    assert "profile:birthday" not in inline_actions(again)
    assert "25 декабря 1990" in text_of(again)
    told = await boris.exchange(
        fake_telegram.callback_update(
            user_id=boris.user_id, data="profile:birthday", language_code="ru"
        )
    )
    assert "в чате его не изменить" in text_of(told)
    assert (await scalar(telegram_runtime, select(Member))).birthday == date(1990, 12, 25)


async def test_start_twice_never_makes_a_second_member_or_bonus(
    telegram_runtime: Runtime, fake_telegram: FakeTelegramAPI, webhook: Any
) -> None:
    ann = member_of(fake_telegram, webhook_delivery(webhook), 1004)
    await ann.send("/start")
    await ann.send("/start")
    await ann.sign_up()

    again = await ann.send("/start")
    assert "Welcome back to Loyalty Club! You have 100 points." in text_of(again)
    assert "💰 Balance" in keyboard_labels(again)
    assert await count(telegram_runtime, Member) == 1
    assert await count(telegram_runtime, LedgerEntry) == 1


async def test_the_same_update_delivered_twice_is_processed_once(
    telegram_runtime: Runtime, fake_telegram: FakeTelegramAPI, webhook: Any
) -> None:
    deliver = webhook_delivery(webhook)
    ann = member_of(fake_telegram, deliver, 1005)
    await ann.send("/start")
    await ann.press("terms:accept")

    last_step = fake_telegram.message_update(user_id=1005, text="No, thanks")
    await ann.exchange(last_step)
    received = len(ann.received)
    await deliver(last_step)  # Telegram retries a webhook it thinks failed

    assert len(ann.received) == received
    assert await count(telegram_runtime, Member) == 1
    assert await count(telegram_runtime, LedgerEntry) == 1


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}, {"X-Telegram-Bot-Api-Secret-Token": ""}],
)
async def test_a_webhook_without_the_secret_is_refused_and_touches_nothing(
    telegram_runtime: Runtime,
    fake_telegram: FakeTelegramAPI,
    webhook: Any,
    headers: dict[str, str],
) -> None:
    update = fake_telegram.message_update(user_id=1006, text="/start")
    response = await webhook.post("/webhook/telegram", json=update, headers=headers)

    assert response.status == 403
    assert response.content_type == PROBLEM_TYPE
    assert (await response.json(content_type=PROBLEM_TYPE))["code"] == "forbidden"
    assert fake_telegram.sent_to(1006) == []
    assert await telegram_runtime.conversations.get("flow:signup:telegram:1006") is None
    # The refused update was not even marked as seen: the genuine one still goes through.
    await webhook_delivery(webhook)(update)
    assert len(fake_telegram.sent_to(1006)) == 1


async def test_a_malformed_webhook_body_gets_400(
    fake_telegram: FakeTelegramAPI, webhook: Any
) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": "test-webhook-secret"}
    for body in (b"not json", b'{"no_update_id": true}', b"[]"):
        response = await webhook.post("/webhook/telegram", data=body, headers=headers)
        assert response.status == 400
        assert response.content_type == PROBLEM_TYPE
        problem = await response.json(content_type=PROBLEM_TYPE)
        assert (problem["code"], problem["detail"]) == ("bad_request", "not a Telegram update")
    assert fake_telegram.calls_of("sendMessage") == []


async def test_main_menu(
    telegram_runtime: Runtime, fake_telegram: FakeTelegramAPI, transport: Any
) -> None:
    ann = member_of(fake_telegram, transport, 1007)
    await ann.sign_up()
    member = await telegram_runtime.program.members.find(IdentityKey("telegram", "1007"))
    assert member is not None

    balance = await ann.send("💰 Balance")
    assert text_of(balance) == "You have 100 points.\nThat is worth RUB100 at the till."
    assert await ann.send("/balance") is not None
    assert text_of(await ann.send("points")) == text_of(balance), "typed words work too"

    card = await ann.send("💳 My card")
    assert card.method == "sendPhoto"
    assert cards.display(member.card_code) in text_of(card)
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(card.files["photo"])))
    assert [code.text for code in decoded] == [member.card_code]

    for number in range(1, 7):
        await telegram_runtime.program.purchases.credit(
            member.card_code, "250", purchase_id=f"R-{number}", actor="test"
        )
    history = await ann.send("📜 History")
    assert text_of(history).startswith("Your history, page 1 of 2:")
    assert "+25  Purchase R-6" in text_of(history)
    assert inline_actions(history) == ["history:2"]
    older = await ann.press("history:2")
    assert "Welcome bonus" in text_of(older)
    assert inline_actions(older) == ["history:1"]

    rules = await ann.send("❓ Help")
    assert "1 point for every RUB10" in text_of(rules)
    assert "welcome gift of 100 points" in text_of(rules)

    off = await ann.send("🔔 Get offers")
    assert "personal offers" in text_of(off)
    assert "🔕 Stop offers" in keyboard_labels(off)
    assert (await telegram_runtime.program.members.get(member.id)).marketing_opt_in is True

    unknown = await ann.send("what is the meaning of life?")
    assert "did not understand" in text_of(unknown)
    assert "💰 Balance" in keyboard_labels(unknown)

    profile = await ann.send("👤 Profile")
    assert inline_actions(profile) == [
        "profile:phone",
        "profile:birthday",
        "menu:language",
        "menu:timezone",
        "marketing:off",
    ]
    picker = await ann.press("menu:language")
    assert inline_actions(picker) == ["lang:ru", "lang:en", "lang:fa", "menu:timezone"]
    zones = await ann.press("menu:timezone")
    assert "Now: Moscow (UTC+3)" in text_of(zones)
    assert "tz:Asia/Tehran" in inline_actions(zones)
    assert len(inline_actions(zones)) == 10
    tehran = await ann.press("tz:Asia/Tehran")
    assert "your time zone is Tehran (UTC+3:30)" in text_of(tehran)
    assert (await telegram_runtime.program.members.get(member.id)).time_zone == "Asia/Tehran"
    # A zone we do not offer (a forged button) changes nothing and shows the choice again.
    forged = await ann.exchange(
        fake_telegram.callback_update(
            user_id=ann.user_id, data="tz:Mars/Olympus", message_id=tehran.params.get("message_id")
        )
    )
    assert "Now: Tehran (UTC+3:30)" in text_of(forged)
    russian = await ann.press("lang:ru")
    assert "теперь общаемся на русском" in text_of(russian)
    assert "💰 Баланс" in keyboard_labels(russian)
    in_russian = await ann.send("💰 Баланс")
    assert text_of(in_russian).startswith("У вас 250 баллов.")


async def test_history_pagination_edits_the_message_in_place(
    telegram_runtime: Runtime, fake_telegram: FakeTelegramAPI, webhook: Any
) -> None:
    ann = member_of(fake_telegram, webhook_delivery(webhook), 1008)
    await ann.sign_up()
    member = await telegram_runtime.program.members.find(IdentityKey("telegram", "1008"))
    assert member is not None
    for number in range(1, 6):
        await telegram_runtime.program.purchases.credit(
            member.card_code, "100", purchase_id=f"P-{number}", actor="test"
        )
    await ann.send("/history")
    page_two = await ann.press("history:2")
    assert page_two.method == "editMessageText"
    assert "page 2 of 2" in text_of(page_two)


async def test_a_member_who_blocked_the_bot_breaks_nothing(
    telegram_runtime: Runtime, fake_telegram: FakeTelegramAPI, webhook: Any
) -> None:
    ann = member_of(fake_telegram, webhook_delivery(webhook), 1009)
    await ann.sign_up()
    fake_telegram.block_chat(1009)

    update = fake_telegram.message_update(user_id=1009, text="💰 Balance")
    response = await webhook.post(
        "/webhook/telegram",
        json=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": "test-webhook-secret"},
    )
    assert response.status == 200
    refused = [call for call in fake_telegram.calls_of("sendMessage") if call.status == 403]
    assert len(refused) == 1
    assert (await webhook.get("/healthz")).status == 200


async def test_telegram_asking_to_slow_down_is_obeyed(
    telegram_runtime: Runtime, fake_telegram: FakeTelegramAPI, webhook: Any
) -> None:
    ann = member_of(fake_telegram, webhook_delivery(webhook), 1010)
    fake_telegram.rate_limit_next("sendMessage", retry_after=1)
    loop = asyncio.get_running_loop()
    started = loop.time()

    welcome = await ann.send("/start")

    assert loop.time() - started >= 1.0, "waited exactly retry_after before retrying"
    assert "Welcome to Loyalty Club" in text_of(welcome)
    statuses = [call.status for call in fake_telegram.calls_of("sendMessage")]
    assert statuses == [429, 200]


async def test_a_referral_code_in_the_start_payload_is_attributed(
    telegram_runtime: Runtime, fake_telegram: FakeTelegramAPI, webhook: Any
) -> None:
    deliver = webhook_delivery(webhook)
    ann = member_of(fake_telegram, deliver, 1011)
    await ann.sign_up()
    referrer = await telegram_runtime.program.members.find(IdentityKey("telegram", "1011"))
    assert referrer is not None

    friend = member_of(fake_telegram, deliver, 1012)
    await friend.send(f"/start ref_{referrer.card_code}")
    await friend.press("terms:accept")
    done = await friend.press("consent:no")
    assert "You joined through a friend's invitation." in text_of(done)
    joined = await telegram_runtime.program.members.find(IdentityKey("telegram", "1012"))
    assert joined is not None and joined.referrer_id == referrer.id

    stranger = member_of(fake_telegram, deliver, 1013)
    await stranger.send("/start ref_NOT-A-CODE-%%")
    await stranger.sign_up()
    joined = await telegram_runtime.program.members.find(IdentityKey("telegram", "1013"))
    assert joined is not None and joined.referrer_id is None


async def test_sign_up_continues_where_it_was_after_a_restart(
    telegram_settings: Any, fake_telegram: FakeTelegramAPI
) -> None:
    first = build_runtime(telegram_settings)
    try:
        async with webhook_client(first) as client:
            ann = member_of(fake_telegram, webhook_delivery(client), 1014)
            await ann.send("/start")
            await ann.press("terms:accept")
    finally:
        await first.close()

    second = build_runtime(telegram_settings)
    try:
        async with webhook_client(second) as client:
            ann = member_of(fake_telegram, webhook_delivery(client), 1014)
            reply = await ann.press("consent:yes")
            if telegram_settings.redis_url:
                # Redis kept the step: the member's answer opens the card.
                assert "Your card is ready!" in text_of(reply)
            else:
                # The embedded store lives in the process: at worst the member starts over.
                assert "Welcome to Loyalty Club" in text_of(reply)
    finally:
        await second.close()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def run_until(settings: Any, fake: FakeTelegramAPI, method: str) -> None:
    from app.lifecycle import run

    served = asyncio.create_task(run(settings.model_copy(update={"web_port": free_port()})))
    try:
        await fake.wait_for_call(method, timeout=20)
    finally:
        served.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await served


async def test_run_with_a_token_publishes_commands_and_polls(
    telegram_settings: Any, fake_telegram: FakeTelegramAPI
) -> None:
    await run_until(telegram_settings, fake_telegram, "getUpdates")

    commands = fake_telegram.calls_of("setMyCommands")
    by_language = {call.params.get("language_code"): call.params["commands"] for call in commands}
    assert set(by_language) == {None, "ru", "en", "fa"}
    assert {"command": "balance", "description": "Мои баллы"} in by_language["ru"]
    assert fake_telegram.calls_of("deleteWebhook"), "polling first removes any webhook"
    assert not fake_telegram.calls_of("setWebhook")


async def test_run_with_a_public_url_registers_the_webhook_with_its_secret(
    telegram_settings: Any, fake_telegram: FakeTelegramAPI
) -> None:
    settings = telegram_settings.model_copy(update={"public_url": "https://shop.example/"})
    await run_until(settings, fake_telegram, "setWebhook")

    (webhook,) = fake_telegram.calls_of("setWebhook")
    assert webhook.params["url"] == "https://shop.example/webhook/telegram"
    assert webhook.params["secret_token"] == "test-webhook-secret"
    assert "callback_query" in webhook.params["allowed_updates"]
    assert not fake_telegram.calls_of("getUpdates")
