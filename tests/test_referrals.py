"""Referral rewards: paid once, to both sides, when the friend qualifies; never for what the
rules forbid (oneself, beyond the daily cap, a second referrer)."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import func, select

from app.runtime import Runtime, build_runtime
from app.settings import Settings
from core.db.models import LedgerEntry, Referral
from core.members.accounts import IdentityKey, Profile, Registration
from core.offers.campaigns import CampaignSpec
from core.program import LoyaltyProgram
from core.referrals.referrals import Progress
from core.shared import cards
from core.shared.cards import InvalidCardCode
from handlers.conversation import Conversation
from handlers.menus.invite import InviteLinks
from handlers.messages import Incoming
from tests.clocks import StoppedClock
from tests.conftest import Backend, make_settings
from tests.data import enrol, scalar
from tests.test_conversation import Member


async def join(
    program: LoyaltyProgram, user: str, referrer: Profile | None, phone: str | None = None
) -> Profile:
    enrolment = await program.members.enrol(
        Registration(
            identity=IdentityKey("telegram", user),
            language="en",
            accepted_terms=True,
            marketing_opt_in=False,
            phone=phone,
            phone_verified=phone is not None,
            referral_code=referrer.card_code if referrer else None,
        )
    )
    return enrolment.member


async def referral_points(runtime: Runtime, member_id: int) -> int:
    return int(
        await scalar(
            runtime,
            select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(
                LedgerEntry.member_id == member_id, LedgerEntry.reason.like("referral%")
            ),
        )
    )


async def test_both_sides_are_rewarded_once_at_the_friends_first_purchase(
    runtime: Runtime,
) -> None:
    program = runtime.program
    ann = await enrol(runtime, "ann")
    bob = await join(program, "bob", ann)
    assert (await program.ledger.balance(bob.id), await program.ledger.balance(ann.id)) == (
        100,
        100,
    )
    assert await program.referrals.progress(ann.id) == Progress(1, 0, 1, 0)

    first = await program.purchases.credit(bob.card_code, "500", purchase_id="B1", actor="t")
    await program.purchases.credit(bob.card_code, "500", purchase_id="B2", actor="t")
    await program.purchases.credit(bob.card_code, "500", purchase_id="B1", actor="t")  # replay

    assert first.balance == 100 + 50 + 100, "the friend's bonus comes with the first purchase"
    assert await referral_points(runtime, bob.id) == 100
    assert await referral_points(runtime, ann.id) == 200
    assert await program.referrals.progress(ann.id) == Progress(1, 1, 0, 200)


async def test_when_joining_qualifies_the_reward_comes_with_the_card(runtime: Runtime) -> None:
    program = runtime.program
    await program.rules.update(actor="marketer", referral_qualifies_on="join")
    ann = await enrol(runtime, "ann")
    bob = await join(program, "bob", ann)
    again = await program.members.enrol(
        Registration(IdentityKey("telegram", "bob"), "en", True, False, referral_code="x")
    )
    assert not again.created
    assert await program.ledger.balance(bob.id) == 200
    assert await program.ledger.balance(ann.id) == 300


async def test_the_same_phone_is_the_same_person(runtime: Runtime) -> None:
    program = runtime.program
    ann = await join(program, "ann", None, phone="+79990000001")
    twin = await join(program, "ann-2", ann, phone="+79990000001")
    await program.purchases.credit(twin.card_code, "100", purchase_id="T", actor="t")
    row = await scalar(runtime, select(Referral))
    assert (row.status, row.reason) == ("rejected", "same_person")
    assert await referral_points(runtime, ann.id) == 0
    assert await referral_points(runtime, twin.id) == 0


async def test_accounts_that_merge_later_get_nothing_from_each_other(runtime: Runtime) -> None:
    program = runtime.program
    ann = await enrol(runtime, "ann")
    second = await join(program, "ann-second-phone", ann)
    code = await program.linking.issue(ann.id)
    await program.linking.redeem(IdentityKey("telegram", "ann-second-phone"), code.display)
    await program.purchases.credit(second.card_code, "100", purchase_id="M", actor="t")

    row = await scalar(runtime, select(Referral))
    assert (row.status, row.reason) == ("rejected", "same_person")
    assert await referral_points(runtime, ann.id) == 0


async def test_the_daily_cap_holds_and_a_new_day_opens_it_again(runtime: Runtime) -> None:
    clock = StoppedClock()
    program = LoyaltyProgram.build(runtime.db, clock)
    await program.rules.update(actor="m", referral_qualifies_on="join", referral_daily_cap=3)
    ann = await join(program, "ann", None)
    for n in range(5):
        await join(program, f"friend-{n}", ann)
    assert await referral_points(runtime, ann.id) == 3 * 200
    statuses = await scalar(runtime, select(func.count()).where(Referral.reason == "daily_cap"))
    assert statuses == 2

    clock.current += timedelta(days=1)
    await join(program, "tomorrow", ann)
    assert await referral_points(runtime, ann.id) == 4 * 200


async def test_a_scripted_farm_earns_nothing_the_rules_forbid(runtime: Runtime) -> None:
    clock = StoppedClock()
    program = LoyaltyProgram.build(runtime.db, clock)
    await program.rules.update(actor="m", referral_qualifies_on="join", referral_daily_cap=10)
    boss = await join(program, "boss", None, phone="+79991110000")

    # 60 fresh accounts use the boss's code, 20 of them with the boss's own phone; then a ring
    # of 20 accounts where each invites the next, and each tries its own code as well.
    for n in range(60):
        phone = "+79991110000" if n % 3 == 0 else None
        await join(program, f"farm-{n}", boss, phone=phone)
    ring: list[Profile] = [await join(program, "ring-0", None)]
    for n in range(1, 20):
        ring.append(await join(program, f"ring-{n}", ring[-1]))
    for member in ring:  # a member who already joined cannot pick a referrer, least of all itself
        again = await program.members.enrol(
            Registration(
                IdentityKey("telegram", f"ring-{ring.index(member)}"),
                "en",
                True,
                False,
                referral_code=member.card_code,
            )
        )
        assert not again.created

    boss_rewards = await referral_points(runtime, boss.id)
    assert boss_rewards == 10 * 200, "the daily cap, not 40 or 60 rewards"
    rows = list(await _referrals(runtime))
    assert sum(1 for r in rows if r.reason == "same_person") == 20
    assert len({r.friend_id for r in rows}) == len(rows), "one referrer per member"
    total = int(
        await scalar(
            runtime,
            select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(
                LedgerEntry.reason.like("referral%")
            ),
        )
    )
    rewarded = sum(1 for r in rows if r.status == "rewarded")
    assert total == rewarded * (100 + 200)
    assert rewarded == 10 + 19


async def test_concurrent_first_purchases_reward_the_referral_once(runtime: Runtime) -> None:
    program = runtime.program
    ann = await enrol(runtime, "ann")
    bob = await join(program, "bob", ann)
    await asyncio.gather(
        *(
            program.purchases.credit(bob.card_code, "100", purchase_id=f"C{n}", actor="t")
            for n in range(6)
        )
    )
    assert await referral_points(runtime, bob.id) == 100
    assert await referral_points(runtime, ann.id) == 200
    assert (await program.ledger.audit(ann.id)).consistent


@pytest.mark.parametrize(
    "changes",
    [
        {"referral_qualifies_on": "dance"},
        {"referral_daily_cap": -1},
        {"referral_referrer_bonus": 1.5},
        {"referral_friend_bonus": "100"},
    ],
)
async def test_invalid_referral_rules_are_refused(
    runtime: Runtime, changes: dict[str, object]
) -> None:
    with pytest.raises(ValueError):
        await runtime.program.rules.update(actor="m", **changes)


async def _referrals(runtime: Runtime) -> list[Referral]:
    async with runtime.db.reading() as session:
        return list(await session.scalars(select(Referral).order_by(Referral.id)))


async def test_the_invite_screen_shows_links_progress_and_a_qr_of_this_channels_link(
    runtime: Runtime,
) -> None:
    invites = InviteLinks()
    invites.add_telegram("shop_bot")
    invites.add_vk(227000001)
    invites.add_whatsapp("whatsapp:+1 (415) 523-8886")
    conversation = Conversation(
        runtime.program, runtime.conversations, runtime.conversation.texts, invites=invites
    )
    ann = await enrol(runtime, "ann")
    await join(runtime.program, "bob", ann)

    (reply,) = await conversation.handle(Incoming("telegram", "ann", action="menu:invite"))

    payload = f"ref_{ann.referral_code}"
    assert ann.card_code not in reply.text, "the till credential is never in an invite"
    assert "when a friend makes a first purchase, you get 200 points" in reply.text
    assert f"• Telegram: https://t.me/shop_bot?start={payload}" in reply.text
    assert f"• VK: https://vk.me/club227000001?ref={payload}" in reply.text
    assert f"• WhatsApp: https://wa.me/14155238886?text={payload}" in reply.text
    assert f"send this code to our bot: {payload}" in reply.text
    assert "So far: 1 friend joined, 0 qualified, you earned 0 points." in reply.text
    assert reply.image is not None
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(reply.image.png)))
    assert [code.text for code in decoded] == [f"https://t.me/shop_bot?start={payload}"]

    # A channel with no link of its own (the console) gets the code itself as the QR.
    await runtime.program.linking.redeem(
        IdentityKey("console", "ann-pc"),
        (await runtime.program.linking.issue(ann.id)).display,
    )
    (console,) = await conversation.handle(Incoming("console", "ann-pc", text="invite"))
    assert console.image is not None
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(console.image.png)))
    assert [code.text for code in decoded] == [payload]


async def test_the_runtime_builds_invite_links_from_its_settings(
    backend: Backend, settings: Settings
) -> None:
    runtime = build_runtime(
        make_settings(
            backend,
            telegram_bot_token="123:abc",
            telegram_bot_username="@shop_bot",
            vk_group_token="t",
            vk_group_id=42,
        )
    )
    try:
        links = runtime.conversation.invites.for_member("ABCDEFGH2")
    finally:
        await runtime.close()
    assert links == {
        "telegram": "https://t.me/shop_bot?start=ref_ABCDEFGH2",
        "vk": "https://vk.me/club42?ref=ref_ABCDEFGH2",
    }


async def test_a_referral_can_also_give_each_side_a_coupon(runtime: Runtime) -> None:
    program = runtime.program
    await program.coupons.create_campaign(
        CampaignSpec(slug="friend-gift", name="Friend gift", kind="percent", value="10"),
        actor="marketer",
    )
    await program.coupons.create_campaign(
        CampaignSpec(slug="thanks", name="Thank you", kind="free_item", item="Coffee"),
        actor="marketer",
    )
    await program.rules.update(
        actor="marketer",
        referral_qualifies_on="join",
        referral_friend_coupon="friend-gift",
        referral_referrer_coupon="thanks",
    )
    ann = await enrol(runtime, "ann")
    bob = await join(program, "bob", ann)

    [bobs] = await program.coupons.active_for(bob.id)
    [anns] = await program.coupons.active_for(ann.id)
    assert (bobs.campaign, anns.campaign) == ("Friend gift", "Thank you")
    # A second friend after the campaign was switched off: points still paid, no coupon.
    await program.coupons.set_active("friend-gift", False)
    cid = await join(program, "cid", ann)
    assert await program.coupons.active_for(cid.id) == []
    assert await program.ledger.balance(cid.id) == 100 + 100
    assert len(await program.coupons.active_for(ann.id)) == 2
    assert (await program.referrals.progress(ann.id)).rewarded == 2


async def test_a_referral_code_of_its_own_joins_but_spends_nothing(runtime: Runtime) -> None:
    """The code in invite links is not the card: it brings friends in, and is refused wherever
    a card code is expected (points at the till, holder-only coupons, a purchase)."""
    program = runtime.program
    ann = await enrol(runtime, "ann")
    other = await enrol(runtime, "other")
    code = ann.referral_code
    assert code and code != ann.card_code and code != other.referral_code
    assert not cards.is_valid(code), "a referral code can never be read as a card"
    assert len(code) >= 16

    # Joining with it, in core and through the conversation (a typed ref_ message).
    bob = await program.members.enrol(
        Registration(
            identity=IdentityKey("telegram", "bob"),
            language="en",
            accepted_terms=True,
            marketing_opt_in=False,
            referral_code=code,
        )
    )
    assert bob.member.referrer_id == ann.id
    friend = Member(runtime, "friend")
    await friend.say(f"ref_{code.upper()}")
    for step in ("terms:accept", "consent:no"):
        await friend.say(action=step)
    joined = await program.members.find(IdentityKey("sms", "friend"))
    assert joined is not None and joined.referrer_id == ann.id
    # Links that carried the card code keep working, for joining only.
    carol = await join(program, "carol", ann)
    assert carol.referrer_id == ann.id

    await program.purchases.credit(ann.card_code, "1000", purchase_id="P-1", actor="till")
    with pytest.raises(InvalidCardCode):
        await program.purchases.redeem(code, 10, redemption_id="R-1", actor="till")
    with pytest.raises(InvalidCardCode):
        await program.purchases.credit(code, "100", purchase_id="P-2", actor="till")
    await program.coupons.create_campaign(
        CampaignSpec(slug="mine", name="Mine", kind="percent", value="10"), actor="t"
    )
    coupon = await program.coupons.issue("mine", ann.id)
    with pytest.raises(InvalidCardCode):
        await program.coupons.check(coupon.code, order_amount="100", card_code=code)
    with pytest.raises(InvalidCardCode):
        await program.coupons.redeem(
            coupon.code, redemption_id="C-1", actor="till", order_amount="100", card_code=code
        )
    assert (await program.members.get(ann.id)).balance > 0, "nothing was spent"
