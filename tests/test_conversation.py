"""The channel-neutral conversation, driven directly: what any channel's member would get."""

from __future__ import annotations

from typing import Any

from app.runtime import Runtime
from core.db.state import MemoryFloodGate, RedisFloodGate
from core.members.accounts import IdentityKey, Registration
from handlers.conversation import Conversation
from handlers.messages import Contact, Incoming, Reply
from tests.data import enrol


class Member:
    def __init__(
        self, runtime: Runtime, user_id: str, *, channel: str = "sms", **fields: Any
    ) -> None:
        self._runtime = runtime
        self._channel = channel
        self._user_id = user_id
        self._fields = fields

    async def say(self, text: str = "", *, action: str | None = None) -> Reply:
        message = Incoming(self._channel, self._user_id, text=text, action=action, **self._fields)
        replies = await self._runtime.conversation.handle(message)
        assert len(replies) == 1
        return replies[0]


async def test_a_phone_the_channel_vouches_for_is_kept_without_a_question(
    runtime: Runtime,
) -> None:
    ann = Member(runtime, "+79990001122", verified_phone="+7 999 000-11-22", display_name="Ann")
    await ann.say("hello")
    await ann.say(action="terms:accept")
    done = await ann.say(action="consent:no")
    assert "Your card is ready" in done.text

    member = await runtime.program.members.find(IdentityKey("sms", "+79990001122"))
    assert member is not None
    assert (member.phone, member.phone_verified, member.name) == ("+79990001122", True, "Ann")


async def test_a_referral_code_sent_as_the_first_message_is_attributed(
    runtime: Runtime,
) -> None:
    referrer = await enrol(runtime, "referrer")
    friend = Member(runtime, "friend")
    welcome = await friend.say(f"ref_{referrer.card_code}")
    assert "Welcome to Loyalty Club" in welcome.text
    await friend.say(action="terms:accept")
    done = await friend.say(action="consent:no")
    assert "friend's invitation" in done.text
    joined = await runtime.program.members.find(IdentityKey("sms", "friend"))
    assert joined is not None and joined.referrer_id == referrer.id

    # Something that merely looks like a code is no referral, and no crash.
    stranger = Member(runtime, "stranger")
    assert "Welcome to Loyalty Club" in (await stranger.say("ref_NOPE")).text


async def test_a_saved_state_this_version_cannot_read_restarts_with_its_referral(
    runtime: Runtime,
) -> None:
    """A step no version knew (or a garbled state) restarts sign-up; the friend who came
    through a referral link still joins as that member's referral."""
    referrer = await enrol(runtime, "referrer")
    await runtime.conversations.set(
        "flow:signup:sms:friend",
        {"flow": "signup", "step": "no_such_step", "language": "en",
         "referral": referrer.card_code, "marketing": True},
    )  # fmt: skip
    friend = Member(runtime, "friend")

    assert "Welcome to Loyalty Club" in (await friend.say("hello")).text
    await friend.say(action="terms:accept")
    done = await friend.say(action="consent:no")

    assert "friend's invitation" in done.text
    joined = await runtime.program.members.find(IdentityKey("sms", "friend"))
    assert joined is not None and joined.referrer_id == referrer.id
    assert joined.marketing_opt_in is False, "the restarted sign-up asked again"


async def test_drafts_saved_in_the_old_steps_finish_with_their_referral(
    runtime: Runtime,
) -> None:
    """Members mid-sign-up during the deploy that moved phone and birthday to the profile:
    past the offers question their card opens with their next message, keeping what they
    answered (offers, a number, a birthday sent right then); before it they see the welcome."""
    referrer = await enrol(runtime, "referrer")
    base = {"flow": "signup", "language": "ru", "referral": referrer.referral_code}
    await runtime.conversations.set(
        "flow:signup:sms:at-phone", {**base, "step": "phone", "marketing": True}
    )
    await runtime.conversations.set(
        "flow:signup:sms:at-birthday",
        {**base, "step": "birthday", "marketing": False, "phone": "+79990002020",
         "phone_verified": True},
    )  # fmt: skip
    await runtime.conversations.set(
        "flow:signup:sms:at-card",
        {**base, "step": "phone_card", "phone": "+79990003030", "phone_verified": True},
    )
    await runtime.conversations.set("flow:signup:sms:at-language", {**base, "step": "language"})

    phone = await Member(runtime, "at-phone").say("+7 999 000-10-10")
    birthday = await Member(runtime, "at-birthday").say("25.12.1990")
    card = await Member(runtime, "at-card").say(action="phone:new")
    for reply in (phone, birthday, card):
        assert reply.text.startswith("Ваша карта готова! В подарок вам 100 баллов."), reply.text
        assert "Вы присоединились по приглашению друга." in reply.text
    language = Member(runtime, "at-language")
    welcome = await language.say(action="lang:ru")
    assert welcome.actions[:2] == ["terms:accept", "terms:decline"]
    await language.say(action="terms:accept")
    await language.say(action="consent:no")

    members = runtime.program.members
    found = {
        user: await members.find(IdentityKey("sms", user))
        for user in ("at-phone", "at-birthday", "at-card", "at-language")
    }
    assert all(m is not None and m.referrer_id == referrer.id for m in found.values())
    at_phone, at_birthday, at_card = found["at-phone"], found["at-birthday"], found["at-card"]
    assert at_phone is not None and at_birthday is not None and at_card is not None
    assert (at_phone.marketing_opt_in, at_phone.phone, at_phone.phone_verified) == (
        True,
        "+79990001010",
        False,
    )
    assert (at_birthday.phone, str(at_birthday.birthday)) == ("+79990002020", "1990-12-25")
    assert (at_card.phone, at_card.phone_verified) == ("+79990003030", True)


async def test_stop_and_start_switch_offers_in_every_language(runtime: Runtime) -> None:
    member = await enrol(runtime, "opt")
    ann = Member(runtime, "opt", channel="telegram")

    for stop, start in (("STOP", "START"), ("стоп", "Старт"), ("توقف", "شروع")):
        off = await ann.say(stop)
        assert "no more offers" in off.text
        assert (await runtime.program.members.get(member.id)).marketing_opt_in is False
        on = await ann.say(start)
        assert "personal offers" in on.text
        assert (await runtime.program.members.get(member.id)).marketing_opt_in is True

    consents = await runtime.program.members.consents(member.id)
    assert [c.granted for c in consents if c.kind == "marketing"] == [False] + [False, True] * 3


async def test_a_flooding_member_gets_one_polite_notice_then_silence(runtime: Runtime) -> None:
    await enrol(runtime, "flood")
    conversation = Conversation(
        runtime.program,
        runtime.conversations,
        runtime.conversation.texts,
        flood=MemoryFloodGate(window_seconds=60),
        flood_limit=3,
    )

    answers = [
        await conversation.handle(Incoming("telegram", "flood", text="balance", language_code="ru"))
        for _ in range(6)
    ]

    assert all(replies[0].text.startswith("You have 100") for replies in answers[:3])
    assert [reply.text for reply in answers[3]] == [
        "Вы отправляете сообщения слишком быстро. Подождите несколько секунд, и я снова отвечу."
    ]
    assert answers[4] == [] and answers[5] == []
    # Someone else is not slowed down by it.
    other = await conversation.handle(Incoming("telegram", "calm", text="hello"))
    assert "Welcome to Loyalty Club" in other[0].text


async def test_the_flood_window_is_shared_and_expires(runtime: Runtime) -> None:
    clock = [0.0]
    gate = MemoryFloodGate(window_seconds=10, monotonic=lambda: clock[0])
    assert [await gate.count("a") for _ in range(3)] == [1, 2, 3]
    clock[0] = 9.9
    assert await gate.count("a") == 4, "a fixed window: more messages do not extend it"
    clock[0] = 10.1
    assert await gate.count("a") == 1
    if runtime.redis is not None:
        shared = RedisFloodGate(runtime.redis, window_seconds=10)
        other_process = RedisFloodGate(runtime.redis, window_seconds=10)
        assert [await shared.count("b"), await other_process.count("b")] == [1, 2]
        assert 0 < await runtime.redis.ttl("loyalty:flood:b") <= 10


async def test_a_card_with_the_same_verified_phone_is_offered_never_applied_silently(
    runtime: Runtime,
) -> None:
    telegram = Member(runtime, "6001", channel="telegram")
    await telegram.say("/start")
    await telegram.say(action="terms:accept")
    await telegram.say(action="consent:no")
    await telegram.say(action="profile:phone")
    (own_contact,) = await runtime.conversation.handle(
        Incoming("telegram", "6001", contact=Contact("+79990006001", is_own=True))
    )
    assert own_contact.text == "Saved: your phone is +79990006001.", "nobody else has it yet"
    owner = await runtime.program.members.find(IdentityKey("telegram", "6001"))
    assert owner is not None and owner.phone_verified

    whatsapp = Member(runtime, "+79990006001", channel="whatsapp", verified_phone="+79990006001")
    offer = await whatsapp.say("hi")
    assert "Your phone number already has a card with us" in offer.text
    assert offer.actions[:3] == ["terms:accept", "terms:decline", "phone:link"]
    assert await runtime.program.members.find(IdentityKey("whatsapp", "+79990006001")) is None
    assert "already has a card" in (await whatsapp.say("what?")).text, "asked again"

    linked = await whatsapp.say(action="phone:link")

    assert linked.text.startswith("Done! This messenger is now linked to your card")
    found = await runtime.program.members.find(IdentityKey("whatsapp", "+79990006001"))
    assert found is not None and found.id == owner.id
    assert found.balance == 100, "no second welcome bonus"


async def test_accepting_the_terms_instead_opens_a_new_card(runtime: Runtime) -> None:
    owner = await runtime.program.members.enrol(
        Registration(
            identity=IdentityKey("telegram", "7001"),
            language="en",
            accepted_terms=True,
            marketing_opt_in=False,
            phone="+79990007001",
            phone_verified=True,
        )
    )
    whatsapp = Member(runtime, "+79990007001", channel="whatsapp", verified_phone="+79990007001")
    await whatsapp.say("hi")
    await whatsapp.say(action="terms:accept")
    done = await whatsapp.say(action="consent:no")
    assert "Your card is ready" in done.text
    new = await runtime.program.members.find(IdentityKey("whatsapp", "+79990007001"))
    assert new is not None and new.id != owner.member.id


async def test_a_contact_shared_in_the_profile_offers_the_card_of_that_number(
    runtime: Runtime,
) -> None:
    """A card opened elsewhere with the number (another messenger, or the till) is offered
    when the member's messenger vouches for the same number; yes makes the two one."""
    holder = await runtime.program.members.enrol(
        Registration(
            identity=IdentityKey("vk", "8001"),
            language="en",
            accepted_terms=True,
            marketing_opt_in=False,
            phone="+79990008001",
            phone_verified=True,
        )
    )
    ann = Member(runtime, "8002", channel="telegram")
    await ann.say("/start")
    await ann.say(action="terms:accept")
    await ann.say(action="consent:no")
    joined = await runtime.program.members.find(IdentityKey("telegram", "8002"))
    assert joined is not None

    # A typed number is not vouched for: it finds no card.
    await ann.say(action="profile:phone")
    typed = await ann.say("+7 999 000 80 01")
    assert typed.text == "Saved: your phone is +79990008001."
    assert typed.actions and "profile:link" not in typed.actions

    await ann.say(action="profile:phone")
    saved, offer = await runtime.conversation.handle(
        Incoming("telegram", "8002", contact=Contact("+79990008001", is_own=True))
    )
    assert saved.text == "Saved: your phone is +79990008001."
    assert "This number already has another card" in offer.text
    assert offer.actions == ["profile:link", "profile:keep"]
    linked = await ann.say(action="profile:link")

    assert linked.text.startswith("Done! Your two accounts are now one card")
    survivor = await runtime.program.members.find(IdentityKey("telegram", "8002"))
    assert survivor is not None and survivor.id == holder.member.id, "the older card survives"
    assert survivor.balance == 200
    assert (await runtime.program.members.find(IdentityKey("vk", "8001"))) == survivor
    # The button, pressed again, does nothing more.
    again = await ann.say(action="profile:link")
    assert "no longer valid" in again.text


async def test_joining_promises_a_birthday_gift_only_when_the_program_gives_one(
    runtime: Runtime,
) -> None:
    plain = Member(runtime, "no-gift")
    await plain.say("/start")
    await plain.say(action="terms:accept")
    done = await plain.say(action="consent:no")
    assert "You can add your phone and birthday any time in 👤 Profile." in done.text
    assert "on the day" not in done.text, "no gift is promised that the rules do not give"

    await runtime.program.rules.update(actor="marketer", birthday_bonus=50)
    gifted = Member(runtime, "gift")
    await gifted.say("/start")
    await gifted.say(action="terms:accept")
    done = await gifted.say(action="consent:yes")
    assert "Add your birthday in 👤 Profile and get 50 points on the day." in done.text
    profile = await gifted.say("profile")
    assert "Tell us your birthday and get 50 points on the day." in profile.text
    await gifted.say(action="profile:birthday")
    await gifted.say("01.02.2000")
    assert "Tell us your birthday" not in (await gifted.say("profile")).text
