"""The profile quest the product ships (issue 10: "phone and birthday move out of the way into
the profile quest, with a reward for completing it"), end to end: created as an operator does
(`quest-create --profile`), told at the third tap of joining, shown in 👤 Profile while it is
to complete, paid once when the profile holds what it asks for (ledger, History, the
completion notice), on Telegram (aiogram against the fake Bot API) and on WhatsApp (numbered
menus through signed Twilio webhooks)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from app.runtime import Runtime
from app.settings import Settings
from core.db.models import LedgerEntry, Member, QuestCompletion
from core.members.accounts import IdentityKey, Profile, Registration
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.telegram_member import (
    TelegramMember,
    keyboard_labels,
    text_of,
    webhook_client,
    webhook_delivery,
)
from tests.test_cli import cli_env, run_cli
from tests.test_whatsapp import WhatsApp, WhatsAppMember, choices, fake_twilio, whatsapp

__all__ = ["cli_env", "fake_twilio", "whatsapp"]

DONE = "🏆 Your profile is complete: thank you!"


async def quest_entries(runtime: Runtime) -> list[tuple[int, int, str]]:
    async with runtime.db.reading() as session:
        rows = await session.execute(
            select(LedgerEntry.member_id, LedgerEntry.points, LedgerEntry.idempotency_key)
            .where(LedgerEntry.reason == "quest")
            .order_by(LedgerEntry.id)
        )
        return [tuple(row) for row in rows.all()]  # type: ignore[misc]


async def completions(runtime: Runtime) -> int:
    async with runtime.db.reading() as session:
        return len((await session.scalars(select(QuestCompletion.id))).all())


async def create_profile_quest(
    capsys: pytest.CaptureFixture[str], *extra: str, expect: int = 0
) -> str:
    code = await run_cli("quest-create", "--profile", *extra)
    out, err = capsys.readouterr()
    assert code == expect, out + err
    return out + err


async def find(runtime: Runtime, channel: str, user_id: str) -> Profile:
    member = await runtime.program.members.find(IdentityKey(channel, user_id))
    assert member is not None
    return member


async def test_on_telegram_joining_tells_the_reward_and_the_profile_pays_it_once(
    telegram_runtime: Runtime,
    fake_telegram: FakeTelegramAPI,
    cli_env: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    runtime = telegram_runtime
    created = await create_profile_quest(capsys)
    assert "Quest 1 (profile) created: 1 step(s), once, 50 points" in created
    (quest,) = await runtime.program.quests.all()

    async with webhook_client(runtime) as client:
        ann = TelegramMember(fake_telegram, webhook_delivery(client), user_id=7101)
        await ann.send("/start")
        await ann.press("terms:accept")
        done = await ann.press("consent:no")  # the third tap
        assert "You get 100 points as a welcome gift." in text_of(done)
        assert "Add your phone and birthday in 👤 Profile: 50 points." in text_of(done)
        assert "👤 Profile" in keyboard_labels(done), "the button the line names"

        screen = await ann.send("👤 Profile")
        assert (
            "🎯 Complete your profile: 0 of 2 done. Add your phone and birthday and get 50 points."
            in text_of(screen)
        )
        await ann.press("profile:phone")
        phone = await ann.share_contact("+7 (999) 123-45-67")
        assert text_of(phone) == (
            "Saved: your phone is +79991234567.\n"
            "🎯 Complete your profile: 1 of 2 done. Add your birthday and get 50 points."
        )
        screen = await ann.send("👤 Profile")
        assert (
            "🎯 Complete your profile: 1 of 2 done. Add your birthday and get 50 points."
            in text_of(screen)
        )
        before = len(ann.received)
        await runtime.dispatch_notices(50)
        assert ann.received[before:] == [], "half a profile completes nothing"

        await ann.press("profile:birthday")
        saved = await ann.send("25.12.1990")
        assert "your birthday is December 25, 1990" in text_of(saved)
        assert "🎯" not in text_of(saved), "done: nothing more to add"
        before = len(ann.received)
        await runtime.dispatch_notices(50)
        told = [text_of(call) for call in ann.received[before:]]
        assert told == [f"{DONE}\nYou got 50 points. Your balance: 150 points."]

        member = await find(runtime, "telegram", "7101")
        assert member.balance == 150
        key = f"quest:{quest.id}:{member.id}:once"
        assert await quest_entries(runtime) == [(member.id, 50, key)]
        history = await ann.send("/history")
        assert "Quest reward: Complete your profile" in text_of(history)
        assert "+50" in text_of(history)
        screen = await ann.send("👤 Profile")
        assert "🎯" not in text_of(screen), "a completed profile quest is not offered again"

        # The phone shared again, offers switched on and off, the birthday asked again:
        # profile changes, never a second reward.
        await ann.press("profile:phone")
        await ann.share_contact("+79991234567")
        await ann.send("🔔 Get offers")
        await ann.send("🔕 Stop offers")
        again = await ann.press("profile:birthday")
        assert "It is given once" in text_of(again)
        before = len(ann.received)
        await runtime.dispatch_notices(50)
        assert not [c for c in ann.received[before:] if DONE in text_of(c)]
        assert await quest_entries(runtime) == [(member.id, 50, key)]
        assert (await find(runtime, "telegram", "7101")).balance == 150
        assert await completions(runtime) == 1


async def test_in_russian_the_line_and_the_screen_speak_russian(
    telegram_runtime: Runtime,
    fake_telegram: FakeTelegramAPI,
    cli_env: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await create_profile_quest(capsys, "--points", "21")
    async with webhook_client(telegram_runtime) as client:
        boris = TelegramMember(
            fake_telegram, webhook_delivery(client), user_id=7102, language_code="ru"
        )
        done = await boris.sign_up()
        assert (
            "Добавьте телефон и день рождения в разделе 👤 Профиль и получите 21 балл."
            in text_of(done)
        )
        screen = await boris.send("👤 Профиль")
        assert (
            "🎯 Заполните профиль: готово 0 из 2. Добавьте телефон и день рождения и получите "
            "21 балл." in text_of(screen)
        )


async def test_on_whatsapp_the_vouched_number_counts_and_only_the_birthday_is_asked(
    whatsapp: WhatsApp, cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime = whatsapp.runtime
    runtime.whatsapp = whatsapp.channel  # notices are delivered through it
    await create_profile_quest(capsys, "--points", "1")
    (quest,) = await runtime.program.quests.all()

    zoe = WhatsAppMember(whatsapp, "+15550007101", profile_name="Zoe")
    await zoe.say("Hi")
    await zoe.choose("I accept")
    done = await zoe.choose("Yes, please")  # the third message
    assert "Add your birthday in 👤 Profile: 1 point." in done.body
    assert "👤 Profile" in choices(done)
    screen = await zoe.choose("Profile")
    assert "🎯 Complete your profile: 1 of 2 done. Add your birthday and get 1 point." in (
        screen.body
    )
    await zoe.choose("Birthday")
    saved = await zoe.say("25.12.1990")
    assert "your birthday is December 25, 1990" in saved.body
    before = len(zoe.received)
    await runtime.dispatch_notices(50)
    told = [message.body for message in zoe.received[before:]]
    assert told == [f"{DONE}\nYou got 1 point. Your balance: 101 points."]

    member = await zoe.profile()
    key = f"quest:{quest.id}:{member.id}:once"
    assert await quest_entries(runtime) == [(member.id, 1, key)]
    history = await zoe.say("history")
    assert "Quest reward: Complete your profile" in history.body

    # The number re-shared from WhatsApp's sender: no second reward.
    await zoe.say("profile")
    await zoe.choose("Phone")
    reshared = await zoe.choose("Use +15550007101")
    assert "your phone is +15550007101" in reshared.body
    before = len(zoe.received)
    await runtime.dispatch_notices(50)
    assert not [m for m in zoe.received[before:] if DONE in m.body]
    assert await quest_entries(runtime) == [(member.id, 1, key)]
    assert (await zoe.profile()).balance == 101


async def test_a_replacement_pays_new_profiles_and_never_one_rewarded_before(
    whatsapp: WhatsApp, cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime = whatsapp.runtime
    runtime.whatsapp = whatsapp.channel
    program = runtime.program
    # A member whose profile was full before any profile quest existed.
    early = await program.members.enrol(
        Registration(
            identity=IdentityKey("whatsapp", "+15550007201"),
            language="en",
            accepted_terms=True,
            marketing_opt_in=False,
            phone="+15550007201",
            phone_verified=True,
        )
    )
    await program.members.set_birthday(early.member.id, date(1990, 1, 1))

    await create_profile_quest(capsys)
    # A second live one would pay the same profile twice: refused, with what to do.
    refused = await create_profile_quest(capsys, "--points", "80", expect=1)
    assert "Refused: the profile quest 'profile' is live: end it first (quest-end profile)" in (
        refused
    )
    assert "nothing created" in await create_profile_quest(capsys, "--if-missing")

    # Opening the profile counts what it already holds: paid once, and told.
    early_member = WhatsAppMember(whatsapp, "+15550007201", profile_name="Eve")
    screen = await early_member.say("profile")
    assert "🎯" not in screen.body
    await runtime.dispatch_notices(50)
    assert any(DONE in m.body for m in early_member.received)
    assert [amount for _, amount, _ in await quest_entries(runtime)] == [50]
    await early_member.say("profile")
    assert [amount for _, amount, _ in await quest_entries(runtime)] == [50]

    # The shop raises the reward: ends the quest and creates the profile quest again.
    assert await run_cli("quest-end", "profile") == 0
    created = await create_profile_quest(capsys, "--points", "80")
    assert "Quest 2 (profile-2) created: 1 step(s), once, 80 points" in created
    infos = await program.quests.all()
    assert [info.slug for info in infos] == ["profile", "profile-2"]
    assert "nothing created" in await create_profile_quest(capsys, "--if-missing")

    # The early member's profile changes: not paid again by the replacement.
    await early_member.say("start")  # offers on: a profile change
    await early_member.say("profile")
    assert [amount for _, amount, _ in await quest_entries(runtime)] == [50]

    # A new member earns the new reward.
    ned = WhatsAppMember(whatsapp, "+15550007202", profile_name="Ned")
    done = await ned.sign_up()
    assert "Add your birthday in 👤 Profile: 80 points." in done.body
    await ned.choose("Profile")
    await ned.choose("Birthday")
    await ned.say("01.02.1991")
    amounts = [amount for _, amount, _ in await quest_entries(runtime)]
    assert amounts == [50, 80]
    async with runtime.db.reading() as session:
        phones = set((await session.scalars(select(Member.phone))).all())
    assert phones == {"+15550007201", "+15550007202"}


async def test_without_a_profile_quest_joining_says_what_it_said(
    telegram_runtime: Runtime,
    fake_telegram: FakeTelegramAPI,
    cli_env: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with webhook_client(telegram_runtime) as client:
        ann = TelegramMember(fake_telegram, webhook_delivery(client), user_id=7103)
        done = await ann.sign_up()
        assert "You can add your phone and birthday any time in 👤 Profile." in text_of(done)
        screen = await ann.send("👤 Profile")
        assert "🎯" not in text_of(screen)
    # Ended, it is promised no more.
    await create_profile_quest(capsys)
    assert await run_cli("quest-end", "profile") == 0
    async with webhook_client(telegram_runtime) as client:
        bea = TelegramMember(fake_telegram, webhook_delivery(client), user_id=7104)
        done = await bea.sign_up()
        assert "You can add your phone and birthday any time in 👤 Profile." in text_of(done)
