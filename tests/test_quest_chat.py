"""Quests in the member's chat, every step kind end to end: on Telegram (aiogram against the
fake Bot API, the channel subscription checked with getChatMember) and on WhatsApp (numbered
menus through signed Twilio webhooks); what the member reads, the notices they are sent, and
the ledger afterwards. A typed quiz answer survives a restart of the process (Redis)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from app.runtime import Runtime, build_runtime
from app.settings import Settings
from bots.vk.channel import VkChannel
from core.db.models import LedgerEntry, Member, QuestCompletion
from core.games.events import CheckedIn
from core.games.quests.definition import parse_definition
from core.members.accounts import IdentityKey, Profile, Registration
from core.members.events import ProfileChanged
from core.shared import qr
from core.shared.bus import DomainEvent
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.vk_api import FakeVkAPI
from tests.telegram_member import (
    TelegramMember,
    inline_actions,
    inline_labels,
    keyboard_labels,
    text_of,
    webhook_client,
    webhook_delivery,
)
from tests.test_cli import cli_env, run_cli
from tests.test_vk import VkMember, fake_vk, vk, webhook
from tests.test_whatsapp import (
    WhatsApp,
    WhatsAppMember,
    choices,
    fake_twilio,
    whatsapp,
)

__all__ = ["cli_env", "fake_twilio", "fake_vk", "vk", "webhook", "whatsapp"]

EVERYTHING: dict[str, Any] = {
    "slug": "everything",
    "title": {"en": "Everything", "ru": "Всё сразу"},
    "description": "Every kind of step at once.",
    "starts": "2026-01-01T00:00:00+00:00",
    "steps": [
        {"kind": "purchase", "count": 1},
        {"kind": "referral"},
        {"kind": "checkin"},
        {
            "kind": "quiz",
            "question": "Where do our beans come from?",
            "choices": ["Brazil", "Ethiopia"],
            "correct": 2,
        },
        {"kind": "quiz", "question": "Capital of France?", "answers": ["Paris"]},
        {"kind": "proof", "prompt": "Tell us about your favourite drink"},
        {"kind": "event", "event": "review", "title": "Review us on the map"},
        {"kind": "channel", "chat": "@shopchannel", "link": "https://t.me/shopchannel"},
        {"kind": "profile", "fields": ["phone"]},
    ],
    "reward": {"points": 100, "badge": "all-rounder"},
}
STEPS = len(EVERYTHING["steps"])


async def setup_program(runtime: Runtime) -> int:
    program = runtime.program
    await program.rules.update(
        actor="t",
        event_bonuses={"review": {"points": 0, "per_member": 0}},
        referral_qualifies_on="join",
    )
    info = await program.quests.create(parse_definition(EVERYTHING), actor="marketer")
    return info.id


async def publish(runtime: Runtime, event: DomainEvent) -> None:
    async with runtime.db.transaction() as session:
        await runtime.program.bus.publish_in(session, event)


async def member(runtime: Runtime, channel: str, user_id: str) -> Profile:
    found = await runtime.program.members.find(IdentityKey(channel, user_id))
    assert found is not None
    return found


async def invite_friend(runtime: Runtime, referrer: Profile, friend_id: str) -> None:
    await runtime.program.members.enrol(
        Registration(
            identity=IdentityKey("vk", friend_id),
            language="en",
            accepted_terms=True,
            marketing_opt_in=False,
            referral_code=referrer.referral_code,
        )
    )


async def check_in(runtime: Runtime, member_id: int) -> None:
    now = runtime.program.clock.now()
    await publish(runtime, CheckedIn(occurred_at=now, member_id=member_id, day=now.date()))


async def phone_given(runtime: Runtime, member_id: int) -> None:
    await publish(
        runtime,
        ProfileChanged(
            occurred_at=runtime.program.clock.now(),
            member_id=member_id,
            has_phone=True,
            has_birthday=False,
            marketing=False,
        ),
    )


def line_of(text: str, start: str) -> str:
    (line,) = [line for line in text.splitlines() if line.startswith(start)]
    return line


def notices_to(fake: FakeTelegramAPI, user_id: int, before: int) -> list[str]:
    return [text_of(call) for call in fake.sent_to(user_id)[before:]]


async def test_every_step_kind_on_telegram(
    telegram_runtime: Runtime,
    telegram_settings: Settings,
    fake_telegram: FakeTelegramAPI,
    cli_env: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    runtime = telegram_runtime
    program = runtime.program
    quest = await setup_program(runtime)
    async with webhook_client(runtime) as client:
        ann = TelegramMember(fake_telegram, webhook_delivery(client), user_id=7001)
        await ann.sign_up()
        assert "🎮 Games" in keyboard_labels(ann.last)
        profile = await member(runtime, "telegram", "7001")

        hub = await ann.send("🎮 Games")
        assert text_of(hub) == "🎮 Games: pick one."
        assert inline_actions(hub) == [
            "menu:quests", "games:checkin", "games:badges", "games:top", "menu:contests",
        ]  # fmt: skip
        listed = await ann.press("menu:quests")
        assert text_of(listed).splitlines() == [
            "🎯 One quest you can do:",
            "• Everything — not joined yet",
        ]
        shown = await ann.press(f"quest:{quest}")
        assert "▫️ 1. Make a purchase — 0 of 1 purchase" in text_of(shown)
        assert inline_actions(shown) == [f"quest:join:{quest}", "menu:quests"]
        joined = await ann.press(f"quest:join:{quest}")
        text = text_of(joined)
        assert text.startswith("You have joined the quest. Good luck!\n🎯 Everything")
        assert "Reward: 100 points + the badge “all-rounder”" in text
        assert "▫️ 8. Subscribe to our channel @shopchannel\n   https://t.me/shopchannel" in text
        assert inline_labels(joined) == [
            "Brazil",
            "Ethiopia",
            "📝 Send proof",
            "🔄 Check my subscription",
            "⬅️ All quests",
        ]

        # Purchases, friends, check-ins and the shop's events move steps from their events;
        # the member is told through the notices outbox.
        before = len(ann.received)
        await program.purchases.credit(profile.card_code, "100", purchase_id="T1", actor="till")
        await program.bus.drain()
        await invite_friend(runtime, profile, "friend-1")
        await check_in(runtime, profile.id)
        await program.events.emit(
            card_code=profile.card_code, kind="review", event_id="map-1", actor="shop"
        )
        await program.events.emit(
            card_code=profile.card_code, kind="review", event_id="map-1", actor="shop"
        )
        await runtime.dispatch_notices(50)
        told = notices_to(fake_telegram, 7001, before)
        assert [text for text in told if "A step of" in text] == [
            f"✅ A step of “Everything” is done: {done} of {STEPS} steps." for done in (1, 2, 3, 4)
        ]

        # A multiple-choice question, wrong and then right.
        wrong = await ann.press(f"quest:choice:{quest}:3:1")
        assert text_of(wrong).startswith("❌ Not quite. Try again!")
        right = await ann.press(f"quest:choice:{quest}:3:2")
        assert text_of(right).startswith("✅ Right!")
        assert "✅ 4. Answer: Where do our beans come from?" in text_of(right)

        # A typed answer: the question waits in the conversation store.
        asked = await ann.press(f"quest:answer:{quest}:4")
        assert text_of(asked) == "Capital of France?\nType your answer in a message."
        wrong = await ann.send("London")
        assert text_of(wrong).startswith("❌ Not quite. Type another answer")
        right = await ann.send("  pa RIS ")
        assert text_of(right).startswith("✅ Right!")

        # A proof: staff reject it with a reason the member is told, then approve another.
        await ann.press(f"quest:proof:{quest}:5")
        received = await ann.send("I like flat white")
        assert text_of(received).startswith("📨 Thank you! Our staff will check it")
        assert "⏳ 6. Tell us about your favourite drink (being checked)" in text_of(received)
        assert await run_cli("quest-review") == 0
        pending = capsys.readouterr().out
        assert "everything step 6" in pending and '"I like flat white"' in pending
        proof_id = pending.split()[0]
        assert await run_cli("quest-review", "--reject", proof_id, "--reason", "Too short") == 0
        before = len(ann.received)
        await runtime.dispatch_notices(50)
        assert notices_to(fake_telegram, 7001, before) == [
            "❌ Your proof for “Everything” was not accepted: Too short. You can send another one."
        ]
        await ann.press(f"quest:proof:{quest}:5")
        await ann.send("A flat white with oat milk, every morning before work.")
        (second,) = await program.quests.pending_proofs()
        assert await run_cli("quest-review", "--approve", str(second.id)) == 0

        # The channel: not subscribed as Telegram says, then subscribed.
        not_yet = await ann.press(f"quest:check:{quest}:7")
        assert text_of(not_yet).startswith(
            "We cannot see you in the channel yet. Subscribe (https://t.me/shopchannel)"
        )
        asked_telegram = fake_telegram.calls_of("getChatMember")[-1].params
        assert asked_telegram == {"chat_id": "@shopchannel", "user_id": 7001}
        fake_telegram.chat_members[("@shopchannel", 7001)] = "member"
        confirmed = await ann.press(f"quest:check:{quest}:7")
        assert text_of(confirmed).startswith("✅ Subscription confirmed!")

        # The last step: the profile.
        before = len(ann.received)
        await phone_given(runtime, profile.id)
        await runtime.dispatch_notices(50)
        told = notices_to(fake_telegram, 7001, before)
        assert "✅ Your proof for “Everything” was approved." in told
        assert told[-1] == (
            "🏆 Quest “Everything” completed!\n"
            "You got 100 points. Your balance: 410 points.\n"
            "New badge: all-rounder."
        )
        history = await ann.send("📜 History")
        assert "Quest reward: Everything" in text_of(history)
        done = await ann.press("menu:quests")
        assert "• Everything — done ✅" in text_of(done)

    entries = await quest_entries(runtime)
    assert [(entry.points, entry.idempotency_key) for entry in entries] == [
        (100, f"quest:{quest}:{profile.id}:once")
    ]


async def quest_entries(runtime: Runtime) -> list[LedgerEntry]:
    async with runtime.db.sessions() as session:
        rows = await session.scalars(select(LedgerEntry).where(LedgerEntry.reason == "quest"))
        return list(rows)


# The embedded store lives in the process: only Redis outlives a restart.
@pytest.mark.parametrize("backend", ["services"], indirect=True)
async def test_a_typed_quiz_answer_survives_a_restart(
    telegram_runtime: Runtime, telegram_settings: Settings, fake_telegram: FakeTelegramAPI
) -> None:
    assert telegram_settings.redis_url
    quest = await setup_program(telegram_runtime)
    async with webhook_client(telegram_runtime) as client:
        ann = TelegramMember(fake_telegram, webhook_delivery(client), user_id=7002)
        await ann.sign_up()
        await ann.send("/quests")
        await ann.press(f"quest:{quest}")
        await ann.press(f"quest:join:{quest}")
        await ann.press(f"quest:choice:{quest}:3:2")
        asked = await ann.press(f"quest:answer:{quest}:4")
        assert text_of(asked).endswith("Type your answer in a message.")
    await telegram_runtime.close()

    restarted = build_runtime(telegram_settings)
    try:
        async with webhook_client(restarted) as client:
            ann = TelegramMember(fake_telegram, webhook_delivery(client), user_id=7002)
            right = await ann.send("PARIS")
            assert text_of(right).startswith("✅ Right!")
            assert "✅ 5. Answer: Capital of France?" in text_of(right)
    finally:
        await restarted.close()


async def test_a_channel_subscription_telegram_does_not_confirm_is_not_counted(
    telegram_runtime: Runtime, fake_telegram: FakeTelegramAPI
) -> None:
    program = telegram_runtime.program
    definition = {
        **EVERYTHING,
        "slug": "channel",
        "steps": [{"kind": "channel", "chat": "@shopchannel"}],
    }
    quest = (await program.quests.create(parse_definition(definition), actor="t")).id
    async with webhook_client(telegram_runtime) as client:
        bob = TelegramMember(fake_telegram, webhook_delivery(client), user_id=7003)
        await bob.sign_up()
        await bob.send("/quests")
        await bob.press(f"quest:{quest}")
        await bob.press(f"quest:join:{quest}")
        fake_telegram.chat_members[("@shopchannel", 7003)] = "kicked"
        kicked = await bob.press(f"quest:check:{quest}:0")
        assert text_of(kicked).startswith("We cannot see you in the channel yet. Subscribe (—)")
        fake_telegram.chat_members[("@shopchannel", 7003)] = "left"
        left = await bob.press(f"quest:check:{quest}:0")
        assert "▫️ 1. Subscribe to our channel @shopchannel" in text_of(left)
        # Typing that one has subscribed changes nothing: only Telegram's answer counts.
        said = await bob.send("I subscribed, honestly")
        assert "Sorry, I did not understand" in text_of(said)
    async with telegram_runtime.db.sessions() as session:
        assert await session.scalar(select(QuestCompletion.id)) is None


async def test_every_step_kind_on_whatsapp_by_numbers(whatsapp: WhatsApp) -> None:
    runtime = whatsapp.runtime
    runtime.whatsapp = whatsapp.channel  # notices are delivered through it
    program = runtime.program
    await setup_program(runtime)
    zoe = WhatsAppMember(whatsapp, "+15550007001", profile_name="Zoe")
    menu = await zoe.sign_up()
    assert "🎮 Games" in choices(menu)
    hub = await zoe.choose("🎮 Games")
    assert hub.body.startswith("🎮 Games: pick one.")
    listed = await zoe.choose("Quests")
    assert "• Everything — not joined yet" in listed.body
    await zoe.choose("Everything")
    joined = await zoe.choose("Join")
    assert "You have joined the quest" in joined.body
    assert {"Brazil", "Ethiopia", "📝 Send proof", "🔄 Check my subscription"} <= set(
        choices(joined)
    )
    profile = await zoe.profile()

    await program.purchases.credit(profile.card_code, "100", purchase_id="W1", actor="till")
    await program.bus.drain()
    await invite_friend(runtime, profile, "friend-2")
    await check_in(runtime, profile.id)
    await program.events.emit(
        card_code=profile.card_code, kind="review", event_id="map-2", actor="shop"
    )
    before = len(zoe.received)
    await runtime.dispatch_notices(50)
    told = [message.body for message in zoe.received[before:]]
    # WhatsApp vouches for the phone: the profile step was done on joining.
    assert told[-1] == f"✅ A step of “Everything” is done: 5 of {STEPS} steps."

    await zoe.say("quests")
    await zoe.choose("Everything")
    right = await zoe.choose("Ethiopia")
    assert right.body.startswith("✅ Right!")
    asked = await zoe.choose("Answer")
    assert asked.body.startswith("Capital of France?\nType your answer in a message.")
    typed = await zoe.say("paris")
    assert typed.body.startswith("✅ Right!")

    # The channel is on Telegram: a WhatsApp-only member is asked to link it first.
    check = await zoe.choose("Check my subscription")
    assert "link your Telegram account" in check.body

    await zoe.choose("All quests")
    await zoe.choose("Everything")
    await zoe.choose("Send proof")
    sent = await zoe.say("Cappuccino")
    assert sent.body.startswith("📨 Thank you!")
    (proof,) = await program.quests.pending_proofs()
    await program.quests.review(proof.id, approve=False, actor="staff", reason="Show a photo")
    before = len(zoe.received)
    await runtime.dispatch_notices(50)
    assert [message.body for message in zoe.received[before:]] == [
        "❌ Your proof for “Everything” was not accepted: Show a photo. You can send another one."
    ]
    await zoe.say("quests")
    await zoe.choose("Everything")
    await zoe.choose("Send proof")
    photo = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"
    await zoe.say("", media=("image/jpeg", photo))
    (proof,) = await program.quests.pending_proofs()
    assert (proof.text, proof.photo) == (None, photo)
    await program.quests.review(proof.id, approve=True, actor="staff")
    await phone_given(runtime, profile.id)
    shown = await zoe.say("quests")
    assert "• Everything — 8 of 9 steps done" in shown.body
    await zoe.choose("Everything")
    view = zoe.last.body
    assert "▫️ 8. Subscribe to our channel @shopchannel" in view
    assert "✅ 1. Make a purchase — 1 of 1 purchase" in view
    assert await quest_entries(runtime) == []


async def test_a_photo_as_proof_on_telegram(
    telegram_runtime: Runtime,
    fake_telegram: FakeTelegramAPI,
    cli_env: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    program = telegram_runtime.program
    definition = {
        **EVERYTHING,
        "slug": "photo",
        "title": "Show your cup",
        "steps": [{"kind": "proof", "prompt": "A photo of your cup"}],
        "reward": {"points": 20},
    }
    quest = (await program.quests.create(parse_definition(definition), actor="t")).id
    async with webhook_client(telegram_runtime) as client:
        cat = TelegramMember(fake_telegram, webhook_delivery(client), user_id=7004)
        await cat.sign_up()
        await cat.send("/quests")
        await cat.press(f"quest:{quest}")
        await cat.press(f"quest:join:{quest}")
        await cat.press(f"quest:proof:{quest}:0")
        update = fake_telegram.message_update(user_id=7004, text=None)
        update["message"]["photo"] = [
            {"file_id": "small-id", "file_unique_id": "s", "width": 90, "height": 90},
            {"file_id": "large-id", "file_unique_id": "l", "width": 1280, "height": 1280},
        ]
        update["message"]["caption"] = "Morning cup"
        received = await cat.exchange(update)
        assert text_of(received).startswith("📨 Thank you!")
    assert await run_cli("quest-review") == 0
    listed = capsys.readouterr().out
    assert '"Morning cup" photo: telegram:large-id' in listed
    (proof,) = await program.quests.pending_proofs()
    outcome = await program.quests.review(proof.id, approve=True, actor="staff")
    assert outcome.quest_done
    await telegram_runtime.dispatch_notices(50)
    texts = [text_of(call) for call in fake_telegram.sent_to(7004)]
    assert "✅ Your proof for “Show your cup” was approved." in texts
    assert texts[-1].startswith("🏆 Quest “Show your cup” completed!\nYou got 20 points.")


PHOTO_QUEST: dict[str, Any] = {
    **EVERYTHING,
    "slug": "photo",
    "title": "Show your cup",
    "steps": [{"kind": "proof", "prompt": "A photo of your cup"}],
    "reward": {"points": 20},
}


async def reviewed_and_approved(
    runtime: Runtime, capsys: pytest.CaptureFixture[str], shown: str
) -> None:
    """Staff list the pending proof (it shows `shown`) and approve it, both by the CLI: the
    quest is complete and its reward posted once."""
    capsys.readouterr()
    assert await run_cli("quest-review") == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.endswith(shown), line
    proof_id = line.split()[0]
    assert await run_cli("quest-review", "--approve", proof_id) == 0
    assert "The quest is complete: reward paid." in capsys.readouterr().out
    assert [entry.points for entry in await quest_entries(runtime)] == [20]


async def test_a_photo_as_proof_on_vk(
    runtime: Runtime,
    fake_vk: FakeVkAPI,
    vk: VkChannel,
    webhook: TestClient[Any, Any],
    cli_env: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    runtime.vk = vk  # notices are delivered through it
    quest = (await runtime.program.quests.create(parse_definition(PHOTO_QUEST), actor="t")).id
    dan = VkMember(fake_vk, webhook, 6070)
    await dan.sign_up()
    await dan.send("quests")
    await dan.press(f"quest:{quest}")
    await dan.press(f"quest:join:{quest}")
    await dan.press(f"quest:proof:{quest}:0")
    attachment = fake_vk.member_photo(6070)
    thanks = await dan.send("", attachments=[attachment])
    assert thanks[0].message.startswith("📨 Thank you!")
    # The original upload, the largest: what staff open.
    original = attachment["photo"]["orig_photo"]["url"]
    await reviewed_and_approved(runtime, capsys, f"photo: {original}")
    await runtime.dispatch_notices(50)
    told = [sent.message for sent in dan.received[-2:]]
    assert told[0] == "✅ Your proof for “Show your cup” was approved."
    assert told[1].startswith("🏆 Quest “Show your cup” completed!\nYou got 20 points.")


async def test_a_photo_with_a_caption_as_proof_on_whatsapp(
    whatsapp: WhatsApp, cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime = whatsapp.runtime
    runtime.whatsapp = whatsapp.channel  # notices are delivered through it
    await runtime.program.quests.create(parse_definition(PHOTO_QUEST), actor="t")
    amy = WhatsAppMember(whatsapp, "+15550007002", profile_name="Amy")
    await amy.sign_up()
    await amy.say("quests")
    await amy.choose("Show your cup")
    await amy.choose("Join")
    await amy.choose("Send proof")
    photo = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM2/Media/ME2"
    thanks = await amy.send("Morning cup", media=("image/png", photo))
    assert thanks[0].body.startswith("📨 Thank you!")
    await reviewed_and_approved(runtime, capsys, f'"Morning cup" photo: {photo}')
    before = len(amy.received)
    await runtime.dispatch_notices(50)
    told = [message.body for message in amy.received[before:]]
    assert told[0] == "✅ Your proof for “Show your cup” was approved."
    assert told[1].startswith("🏆 Quest “Show your cup” completed!\nYou got 20 points.")


async def test_a_quests_picture_in_the_members_language(
    telegram_runtime: Runtime, fake_telegram: FakeTelegramAPI, tmp_path: Path
) -> None:
    picture = tmp_path / "cup.png"
    content = qr.png("a cup")
    await asyncio.to_thread(picture.write_bytes, content)
    definition = {
        **EVERYTHING,
        "slug": "pictured",
        "title": {"en": "Cup", "ru": "Чашка"},
        "picture": {"en": str(picture), "ru": "https://example.com/cup-ru.png"},
        "steps": [{"kind": "checkin"}],
    }
    program = telegram_runtime.program
    quest = (await program.quests.create(parse_definition(definition), actor="t")).id
    async with webhook_client(telegram_runtime) as client:
        ann = TelegramMember(fake_telegram, webhook_delivery(client), user_id=7005)
        await ann.sign_up()
        await ann.send("/quests")
        shown = await ann.press(f"quest:{quest}")
        assert shown.method == "sendPhoto" and shown.files["photo"] == content
        assert text_of(shown).startswith("🎯 Cup")
        ivan = TelegramMember(
            fake_telegram, webhook_delivery(client), user_id=7006, language_code="ru"
        )
        await ivan.sign_up(language="ru")
        await ivan.send("/quests")
        shown = await ivan.press(f"quest:{quest}")
        assert shown.method == "sendMessage"
        assert text_of(shown).splitlines()[:2] == ["🎯 Чашка", "https://example.com/cup-ru.png"]


REGULARS: dict[str, Any] = {
    "slug": "regulars",
    "title": "Regulars' tasting",
    "starts": "2026-01-01T00:00:00+00:00",
    "audience": {
        "kind": "segment",
        "segment": {"bought": {"category": "coffee", "min": 2, "days": 30}},
    },
    "steps": [{"kind": "purchase", "count": 1, "category": "pastry"}],
    "reward": {"points": 40},
}


async def test_a_segments_quest_is_seen_and_joined_only_by_its_members(
    telegram_runtime: Runtime, fake_telegram: FakeTelegramAPI
) -> None:
    """Who is in the segment is asked when a member opens the quests or joins; one who
    joined stays in when the segment no longer holds them. Consent to offers is not needed:
    the member asks for the quest, nothing is sent to them."""
    program = telegram_runtime.program
    quest = (await program.quests.create(parse_definition(REGULARS), actor="t")).id

    async def buy(card: str, purchase_id: str, category: str) -> None:
        await program.purchases.credit(
            card, "200", purchase_id=purchase_id, actor="till", categories={category: "200"}
        )
        await program.bus.drain()

    async with webhook_client(telegram_runtime) as client:
        ann = TelegramMember(fake_telegram, webhook_delivery(client), user_id=7101)
        bob = TelegramMember(fake_telegram, webhook_delivery(client), user_id=7102)
        cat = TelegramMember(fake_telegram, webhook_delivery(client), user_id=7103)
        cards = {}
        for user in (ann, bob, cat):
            await user.sign_up(marketing=user is not ann)
            cards[user.user_id] = (
                await member(telegram_runtime, "telegram", str(user.user_id))
            ).card_code
        for user, purchase_ids in ((ann, ["A1", "A2"]), (bob, ["B1", "B2"]), (cat, ["C1"])):
            for purchase_id in purchase_ids:
                await buy(cards[user.user_id], purchase_id, "coffee")

        assert text_of(await cat.send("/quests")) == (
            "No quests are running right now. Look in again soon!"
        )
        assert text_of(await ann.send("/quests")).splitlines() == [
            "🎯 One quest you can do:",
            "• Regulars' tasting — not joined yet",
        ]
        await ann.press(f"quest:{quest}")
        joined = await ann.press(f"quest:join:{quest}")
        assert text_of(joined).startswith("You have joined the quest. Good luck!")

        # Bob looks at the quest, a coffee of his is refunded, then he presses "Join".
        await bob.send("/quests")
        assert f"quest:join:{quest}" in inline_actions(await bob.press(f"quest:{quest}"))
        await program.purchases.refund("B1", refund_id="RB1", actor="till")
        refused = await bob.press(f"quest:join:{quest}")
        assert text_of(refused).startswith("This quest is no longer available.")
        assert text_of(await bob.send("/quests")) == (
            "No quests are running right now. Look in again soon!"
        )

        # Ann's coffee refunded: out of the segment, but she joined, so she stays in.
        await program.purchases.refund("A1", refund_id="RA1", actor="till")
        await program.bus.drain()
        assert text_of(await ann.send("/quests")).splitlines() == [
            "🎯 One quest you can do:",
            "• Regulars' tasting — 0 of 1 step done",
        ]
        await buy(cards[ann.user_id], "A3", "pastry")
        # A second coffee puts Cat in the segment: the quest is hers to see now.
        await buy(cards[cat.user_id], "C2", "coffee")
        assert "• Regulars' tasting — not joined yet" in text_of(await cat.send("/quests"))

    async with telegram_runtime.db.sessions() as session:
        completed = (await session.scalars(select(QuestCompletion.member_id))).all()
        rewarded = await session.scalar(
            select(LedgerEntry.points).where(LedgerEntry.reason == "quest")
        )
    assert completed == [(await member(telegram_runtime, "telegram", "7101")).id]
    assert rewarded == 40


GOLD: dict[str, Any] = {
    "slug": "gold-tasting",
    "title": "Gold tasting",
    "starts": "2026-01-01T00:00:00+00:00",
    "audience": {"kind": "tier", "tiers": ["gold"]},
    "steps": [
        {"kind": "quiz", "question": "Our roast?", "choices": ["Light", "Dark"], "correct": 2},
        {"kind": "purchase", "count": 1, "category": "pastry"},
    ],
    "reward": {"points": 70},
}


async def test_a_member_who_joined_a_tier_quest_keeps_it_after_losing_the_tier(
    telegram_runtime: Runtime, fake_telegram: FakeTelegramAPI
) -> None:
    """The tier is asked when a member opens the quests or joins; one who joined keeps the
    quest when they drop out of the tier (a refund here) and finishes it, in the chat and by
    purchases. A member not in the tier cannot join, also with a button from before."""
    program = telegram_runtime.program
    await program.rules.update(
        actor="t", tiers=[{"key": "gold", "name": "Gold", "threshold": 1000}]
    )
    quest = (await program.quests.create(parse_definition(GOLD), actor="t")).id

    async def buy(card: str, purchase_id: str, amount: str, category: str = "coffee") -> None:
        await program.purchases.credit(
            card, amount, purchase_id=purchase_id, actor="till", categories={category: amount}
        )
        await program.bus.drain()

    async def tier_of(user: TelegramMember) -> str | None:
        found = await member(telegram_runtime, "telegram", str(user.user_id))
        async with telegram_runtime.db.sessions() as session:
            return await session.scalar(select(Member.tier).where(Member.id == found.id))

    async with webhook_client(telegram_runtime) as client:
        ann = TelegramMember(fake_telegram, webhook_delivery(client), user_id=7201)
        bob = TelegramMember(fake_telegram, webhook_delivery(client), user_id=7202)
        cat = TelegramMember(fake_telegram, webhook_delivery(client), user_id=7203)
        cards = {}
        for user in (ann, bob, cat):
            await user.sign_up()
            cards[user.user_id] = (
                await member(telegram_runtime, "telegram", str(user.user_id))
            ).card_code
        await buy(cards[ann.user_id], "A1", "1500")
        await buy(cards[bob.user_id], "B1", "100")
        await buy(cards[cat.user_id], "C1", "1200")
        assert [await tier_of(user) for user in (ann, bob, cat)] == ["gold", None, "gold"]

        assert text_of(await bob.send("/quests")) == (
            "No quests are running right now. Look in again soon!"
        )

        await ann.send("/quests")
        await ann.press(f"quest:{quest}")
        joined = await ann.press(f"quest:join:{quest}")
        assert text_of(joined).startswith("You have joined the quest. Good luck!")
        # Cat looks at the quest, loses gold (her purchase returned), then presses "Join".
        await cat.send("/quests")
        assert f"quest:join:{quest}" in inline_actions(await cat.press(f"quest:{quest}"))
        await program.purchases.refund("C1", refund_id="RC1", actor="till")
        await program.bus.drain()
        assert await tier_of(cat) is None
        refused = await cat.press(f"quest:join:{quest}")
        assert text_of(refused).startswith("This quest is no longer available.")
        assert text_of(await cat.send("/quests")) == (
            "No quests are running right now. Look in again soon!"
        )

        # Ann's purchase returned: no longer gold, but she joined, so the quest stays hers.
        await program.purchases.refund("A1", refund_id="RA1", actor="till")
        await program.bus.drain()
        assert await tier_of(ann) is None
        assert text_of(await ann.send("/quests")).splitlines() == [
            "🎯 One quest you can do:",
            "• Gold tasting — 0 of 2 steps done",
        ]
        await ann.press(f"quest:{quest}")
        right = await ann.press(f"quest:choice:{quest}:0:2")
        assert text_of(right).startswith("✅ Right!")
        before = len(ann.received)
        await buy(cards[ann.user_id], "A2", "100", category="pastry")
        await telegram_runtime.dispatch_notices(50)
        told = notices_to(fake_telegram, ann.user_id, before)
        assert any(text.startswith("🏆 Quest “Gold tasting” completed!") for text in told), told
        assert "• Gold tasting — done ✅" in text_of(await ann.send("/quests"))

    async with telegram_runtime.db.sessions() as session:
        completed = (await session.scalars(select(QuestCompletion.member_id))).all()
    assert completed == [(await member(telegram_runtime, "telegram", "7201")).id]
    entries = await quest_entries(telegram_runtime)
    assert [entry.points for entry in entries] == [70]
