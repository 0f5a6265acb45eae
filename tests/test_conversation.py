"""The channel-neutral conversation, driven directly: what any channel's member would get."""

from __future__ import annotations

from core.members import IdentityKey
from handlers.messages import Incoming, Reply
from main import Runtime
from tests.data import enrol


class Member:
    def __init__(
        self, runtime: Runtime, user_id: str, *, channel: str = "sms", **fields: str | None
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
