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


async def test_a_phone_the_channel_vouches_for_skips_the_phone_question(
    runtime: Runtime,
) -> None:
    ann = Member(runtime, "+79990001122", verified_phone="+7 999 000-11-22", display_name="Ann")
    await ann.say("hello")
    await ann.say(action="lang:en")
    await ann.say(action="terms:accept")
    birthday = await ann.say(action="consent:no")
    assert "birthday" in birthday.text, "no phone question: the channel gave the number"
    await ann.say(action="skip")

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
    await friend.say(action="lang:en")
    await friend.say(action="terms:accept")
    await friend.say(action="consent:no")
    await friend.say(action="skip")
    done = await friend.say(action="skip")
    assert "friend's invitation" in done.text
    joined = await runtime.program.members.find(IdentityKey("sms", "friend"))
    assert joined is not None and joined.referrer_id == referrer.id

    # Something that merely looks like a code is no referral, and no crash.
    stranger = Member(runtime, "stranger")
    assert "Welcome to Loyalty Club" in (await stranger.say("ref_NOPE")).text


async def test_a_saved_state_this_version_cannot_read_restarts_with_its_referral(
    runtime: Runtime,
) -> None:
    """A step renamed by an upgrade (or a garbled state) restarts sign-up; the friend who came
    through a referral link still joins as that member's referral."""
    referrer = await enrol(runtime, "referrer")
    await runtime.conversations.set(
        "flow:signup:sms:friend",
        {"flow": "signup", "step": "no_such_step", "language": "en",
         "referral": referrer.card_code, "marketing": True},
    )  # fmt: skip
    friend = Member(runtime, "friend")

    assert "Welcome to Loyalty Club" in (await friend.say("hello")).text
    await friend.say(action="lang:en")
    await friend.say(action="terms:accept")
    await friend.say(action="consent:no")
    await friend.say(action="skip")
    done = await friend.say(action="skip")

    assert "friend's invitation" in done.text
    joined = await runtime.program.members.find(IdentityKey("sms", "friend"))
    assert joined is not None and joined.referrer_id == referrer.id


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
    await telegram.say(action="lang:en")
    await telegram.say(action="terms:accept")
    await telegram.say(action="consent:no")
    (own_contact,) = await runtime.conversation.handle(
        Incoming("telegram", "6001", contact=Contact("+79990006001", is_own=True))
    )
    assert "birthday" in own_contact.text, "nobody else has this number yet"
    await telegram.say(action="skip")
    owner = await runtime.program.members.find(IdentityKey("telegram", "6001"))
    assert owner is not None

    whatsapp = Member(runtime, "+79990006001", channel="whatsapp", verified_phone="+79990006001")
    await whatsapp.say("hi")
    await whatsapp.say(action="lang:en")
    await whatsapp.say(action="terms:accept")
    offer = await whatsapp.say(action="consent:no")
    assert "This phone number already has a card with us" in offer.text
    assert offer.actions == ["phone:link", "phone:new"]
    assert await runtime.program.members.find(IdentityKey("whatsapp", "+79990006001")) is None
    assert "already has a card" in (await whatsapp.say("what?")).text, "asked again"

    linked = await whatsapp.say(action="phone:link")

    assert linked.text.startswith("Done! This messenger is now linked to your card")
    found = await runtime.program.members.find(IdentityKey("whatsapp", "+79990006001"))
    assert found is not None and found.id == owner.id
    assert found.balance == 100, "no second welcome bonus"


async def test_declining_the_offered_card_opens_a_new_one(runtime: Runtime) -> None:
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
    await whatsapp.say(action="lang:en")
    await whatsapp.say(action="terms:accept")
    await whatsapp.say(action="consent:no")
    birthday = await whatsapp.say(action="phone:new")
    assert "birthday" in birthday.text
    done = await whatsapp.say(action="skip")
    assert "Your card is ready" in done.text
    new = await runtime.program.members.find(IdentityKey("whatsapp", "+79990007001"))
    assert new is not None and new.id != owner.member.id
