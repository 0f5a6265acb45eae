"""Segments: each condition picks exactly the members it says, consent always holds, merged
and erased members are never in one; the count by last-used channel; tags; the throttled
record of a member's last message. On both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from app.runtime import Runtime
from core.db.models import Identity, Member, QuestCompletion
from core.games.quests.definition import parse_definition
from core.members.accounts import IdentityKey, Registration
from core.offers.campaigns import CampaignSpec
from core.program import LoyaltyProgram
from core.segments.definition import Segment, parse_segment
from core.segments.errors import InvalidSegment, InvalidTag
from core.segments.query import members_in
from core.segments.service import SegmentCount
from tests.clocks import ShiftedClock
from tests.data import scalar

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


async def join(
    program: LoyaltyProgram,
    external_id: str,
    *,
    channel: str = "telegram",
    language: str = "en",
    marketing: bool = True,
    birthday: date | None = None,
) -> int:
    enrolment = await program.members.enrol(
        Registration(
            identity=IdentityKey(channel, external_id),
            language=language,
            accepted_terms=True,
            marketing_opt_in=marketing,
            birthday=birthday,
        )
    )
    return enrolment.member.id


async def set_member(runtime: Runtime, member_id: int, **values: Any) -> None:
    async with runtime.db.transaction() as session:
        await session.execute(update(Member).where(Member.id == member_id).values(**values))


async def ids(runtime: Runtime, segment: dict[str, Any]) -> set[int]:
    """Who is in the segment, read both ways: the engine's statement and the service."""
    parsed = parse_segment(segment)
    async with runtime.db.reading() as session:
        found = set(
            (await session.scalars(members_in(parsed, now=runtime.program.clock.now()))).all()
        )
    paged: list[int] = []
    while page := await runtime.program.segments.member_ids(
        parsed, after=paged[-1] if paged else 0, limit=2
    ):
        paged.extend(page)
    assert paged == sorted(found), "the pages cover the segment, in order, once"
    counted = await runtime.program.segments.count(parsed)
    assert counted.total == len(found) == sum(counted.by_channel.values())
    # One member asked alone (a quest's audience) gets the answer the whole segment gives.
    async with runtime.db.reading() as session:
        everyone = (await session.scalars(select(Member.id))).all()
    for member_id in everyone:
        inside = await runtime.program.segments.contains(parsed, member_id)
        assert inside == (member_id in found), (member_id, segment)
    return found


async def test_an_empty_segment_is_everyone_who_opted_in(runtime: Runtime) -> None:
    program = runtime.program
    ann = await join(program, "1")
    bob = await join(program, "2", channel="vk")
    await join(program, "3", marketing=False)
    cat = await join(program, "+79990000004", channel="whatsapp")
    assert await ids(runtime, {}) == {ann, bob, cat}
    assert await program.segments.count(parse_segment("{}")) == SegmentCount(
        total=3, by_channel={"telegram": 1, "vk": 1, "whatsapp": 1}
    )
    # Opting out takes a member out of every segment, whatever it says.
    await program.members.set_marketing(bob, opt_in=False, channel="vk")
    assert await ids(runtime, {"channel": "vk"}) == set()
    assert await ids(runtime, {}) == {ann, cat}


async def test_merged_and_erased_members_are_never_in_a_segment(runtime: Runtime) -> None:
    program = runtime.program
    ann = await join(program, "10")
    bob = await join(program, "11", channel="vk")
    cat = await join(program, "12")
    await set_member(runtime, cat, erased_at=program.clock.now())
    assert await ids(runtime, {}) == {ann, bob}, "erased, even if the consent flag stayed"
    # Bob types Ann's link code in VK: the younger card (Bob's) is merged into Ann's.
    code = await program.linking.issue(ann)
    linked = await program.linking.redeem(IdentityKey("vk", "11"), code.code)
    assert linked.member.id == ann
    assert await ids(runtime, {}) == {ann}
    # Ann wrote last from VK (she typed the code there): her last channel.
    assert await ids(runtime, {"channel": "vk"}) == {ann}
    await program.privacy.erase(ann)
    assert await ids(runtime, {}) == set()


async def test_channel_language_tier_balance_and_birthday(runtime: Runtime) -> None:
    program = runtime.program
    await program.rules.update(actor="t", welcome_bonus=0)
    ann = await join(program, "20", language="ru", birthday=date(1990, 12, 5))
    bob = await join(program, "21", channel="vk", language="ru")
    cat = await join(program, "22", language="en", birthday=date(1985, 3, 1))
    await set_member(runtime, ann, tier="gold", balance=500)
    await set_member(runtime, bob, balance=50)
    assert await ids(runtime, {"channel": "telegram", "language": "ru"}) == {ann}
    assert await ids(runtime, {"language": "ru"}) == {ann, bob}
    assert await ids(runtime, {"tier": "gold"}) == {ann}
    assert await ids(runtime, {"tier": "base"}) == {bob, cat}
    assert await ids(runtime, {"balance": {"min": 100}}) == {ann}
    assert await ids(runtime, {"balance": {"min": 50, "max": 100}}) == {bob}
    assert await ids(runtime, {"birthday_month": 12}) == {ann}
    assert await ids(runtime, {"birthday_month": 3, "language": "ru"}) == set()


async def test_purchases_and_points_earned_in_a_period(runtime: Runtime) -> None:
    program = runtime.program
    await program.rules.update(actor="t", welcome_bonus=0)
    ann = await join(program, "30")
    bob = await join(program, "31")
    cat = await join(program, "32")
    ann_card = (await program.members.get(ann)).card_code
    bob_card = (await program.members.get(bob)).card_code
    for number in range(3):
        await program.purchases.credit(ann_card, "100", purchase_id=f"a{number}", actor="till")
        await program.bus.drain()
    await program.purchases.credit(bob_card, "1000", purchase_id="b0", actor="till")
    await program.bus.drain()
    assert await ids(runtime, {"purchases": {"min": 2, "days": 30}}) == {ann}
    assert await ids(runtime, {"purchases": {"min": 1, "max": 1, "days": 30}}) == {bob}
    assert await ids(runtime, {"purchases": {"max": 0, "days": 30}}) == {cat}, "none at all"
    today = program.clock.now().date()
    assert (
        await ids(runtime, {"purchases": {"min": 1, "until": str(today - timedelta(days=1))}})
        == set()
    )
    assert await ids(runtime, {"purchases": {"min": 1, "since": str(today)}}) == {ann, bob}
    earned = {
        member_id: await scalar(runtime, select(Member.balance).where(Member.id == member_id))
        for member_id in (ann, bob)
    }
    assert earned[bob] > earned[ann] > 0
    assert await ids(runtime, {"points_earned": {"min": earned[bob], "days": 7}}) == {bob}
    assert await ids(runtime, {"points_earned": {"max": earned[ann], "days": 7}}) == {ann, cat}


async def test_a_purchase_refunded_in_full_is_not_counted_in_purchases(runtime: Runtime) -> None:
    """`purchases` counts as `spent`, `average_receipt` and `bought` do: a purchase refunded
    in full (at once, or by refunds that add up to it) is no purchase; one refunded in part
    still is. Asked for the whole segment and for one member alone (a quest's audience)."""
    program = runtime.program
    ann = await join(program, "40")
    bob = await join(program, "41")
    cat = await join(program, "42")
    cards = {member: (await program.members.get(member)).card_code for member in (ann, bob, cat)}
    for member, prefix in ((ann, "a"), (bob, "b"), (cat, "c")):
        for number in range(2):
            await program.purchases.credit(
                cards[member], "100", purchase_id=f"{prefix}{number}", actor="till"
            )
            await program.bus.drain()
    # Ann: one of her two refunded in full; Bob: one in part; Cat: one by two partial refunds.
    await program.purchases.refund("a1", refund_id="ra1", actor="till")
    await program.purchases.refund("b1", refund_id="rb1", actor="till", amount="40")
    await program.purchases.refund("c1", refund_id="rc1", actor="till", amount="60")
    await program.purchases.refund("c1", refund_id="rc2", actor="till", amount="40")
    await program.bus.drain()
    assert await ids(runtime, {"purchases": {"min": 2, "days": 30}}) == {bob}
    assert await ids(runtime, {"purchases": {"min": 1, "max": 1, "days": 30}}) == {ann, cat}
    assert await ids(runtime, {"purchases": {"max": 1, "days": 30}}) == {ann, cat}
    # Both of Ann's refunded: she has none, as a member who never bought.
    await program.purchases.refund("a0", refund_id="ra0", actor="till")
    assert await ids(runtime, {"purchases": {"max": 0, "days": 30}}) == {ann}
    assert await ids(runtime, {"purchases": {"min": 1, "days": 30}}) == {bob, cat}


async def test_money_spent_average_receipt_and_what_was_bought(runtime: Runtime) -> None:
    """Spending and the average receipt count what is left of each purchase after its
    refunds; a category is read from the purchase's JSON on either backend, names with
    quotes and non-Latin letters included."""
    program = runtime.program
    ann = await join(program, "50")
    bob = await join(program, "51")
    cat = await join(program, "52")
    dan = await join(program, "53")
    cards = {member: (await program.members.get(member)).card_code for member in (ann, bob, dan)}

    async def buy(member: int, purchase_id: str, amount: str, **purchase: Any) -> None:
        await program.purchases.credit(
            cards[member], amount, purchase_id=purchase_id, actor="till", **purchase
        )
        await program.bus.drain()

    # Ann: three coffees at the centre (300 each, one partly refunded); Bob: one big basket
    # with a little "tea \"green\"" in it at the airport; Dan: a purchase refunded in full.
    for number in range(3):
        await buy(ann, f"a{number}", "300", store="centre", categories={"кофе": "300"})
    await program.purchases.refund("a2", refund_id="ra2", actor="till", amount="150")
    await buy(bob, "b0", "2000.50", store="airport", categories={'tea "green"': "100"})
    await buy(dan, "d0", "5000", store="centre", categories={"кофе": "5000"})
    await program.purchases.refund("d0", refund_id="rd0", actor="till")

    week = {"days": 7}
    assert await ids(runtime, {"spent": {"min": 750, **week}}) == {ann, bob}
    assert await ids(runtime, {"spent": {"min": "750.01", **week}}) == {bob}
    assert await ids(runtime, {"spent": {"max": 750, **week}}) == {ann, cat, dan}, "none: 0"
    assert await ids(runtime, {"spent": {"min": 2000, "max": "2000.50", **week}}) == {bob}
    # Ann's average is (300 + 300 + 150) / 3 = 250; nobody without a purchase has one.
    assert await ids(runtime, {"average_receipt": {"min": 250, "max": 250, **week}}) == {ann}
    assert await ids(runtime, {"average_receipt": {"max": 5000, **week}}) == {ann, bob}
    assert await ids(runtime, {"average_receipt": {"min": 1000, **week}}) == {bob}
    assert await ids(runtime, {"bought": {"category": "кофе", "min": 3, **week}}) == {ann}
    assert await ids(runtime, {"bought": {"category": "кофе", "min": 4, **week}}) == set()
    assert await ids(runtime, {"bought": {"category": 'tea "green"', "min": 1, **week}}) == {bob}
    assert await ids(runtime, {"bought": {"category": "tea", "min": 1, **week}}) == set()
    assert await ids(runtime, {"bought": {"store": "centre", "min": 1, **week}}) == {ann}
    assert (
        await ids(runtime, {"bought": {"store": "airport", "category": "кофе", "min": 1, **week}})
        == set()
    )
    assert await ids(runtime, {"bought": {"category": "кофе", "max": 0, **week}}) == {
        bob,
        cat,
        dan,
    }
    tomorrow = str(program.clock.now().date() + timedelta(days=1))
    assert await ids(runtime, {"spent": {"min": 1, "since": tomorrow}}) == set()


async def test_last_activity_and_joining_date(runtime: Runtime) -> None:
    program = runtime.program
    now = program.clock.now()
    ann = await join(program, "40")
    bob = await join(program, "41")
    cat = await join(program, "42")
    await set_member(runtime, bob, last_active_at=now - timedelta(days=45))
    await set_member(
        runtime, cat, last_active_at=now - timedelta(days=10), created_at=now - timedelta(days=400)
    )
    assert await ids(runtime, {"inactive_days": 30}) == {bob}
    assert await ids(runtime, {"active_within_days": 7}) == {ann}
    assert await ids(runtime, {"active_within_days": 60, "inactive_days": 7}) == {bob, cat}
    assert await ids(runtime, {"joined": {"days": 30}}) == {ann, bob}
    until = (now - timedelta(days=365)).date().isoformat()
    assert await ids(runtime, {"joined": {"until": until}}) == {cat}
    # A purchase is activity: Bob is no longer inactive.
    bob_card = (await program.members.get(bob)).card_code
    await program.purchases.credit(bob_card, "10", purchase_id="act", actor="till")
    await program.bus.drain()
    assert await ids(runtime, {"inactive_days": 30}) == set()


async def test_friends_quests_badges_and_coupons(runtime: Runtime) -> None:
    program = runtime.program
    ann = await join(program, "50")
    bob = await join(program, "51")
    ann_profile = await program.members.get(ann)
    friend = await program.members.enrol(
        Registration(
            identity=IdentityKey("telegram", "52"),
            language="en",
            accepted_terms=True,
            marketing_opt_in=False,
            referral_code=ann_profile.referral_code,
        )
    )
    assert friend.member.referrer_id == ann
    assert await ids(runtime, {"friends_referred": {"min": 1}}) == {ann}
    assert await ids(runtime, {"friends_referred": {"max": 0}}) == {bob}

    quest = await program.quests.create(
        parse_definition(
            {
                "slug": "coffee",
                "title": "Coffee",
                "starts": (program.clock.now() - timedelta(days=1)).isoformat(),
                "steps": [{"kind": "checkin"}],
                "reward": {"points": 5},
            }
        ),
        actor="m",
    )
    await program.quests.join(bob, quest.id)
    assert await ids(runtime, {"quest": {"slug": "coffee", "state": "joined"}}) == {bob}
    assert await ids(runtime, {"quest": {"slug": "coffee"}}) == set()
    async with runtime.db.transaction() as session:
        session.add(
            QuestCompletion(
                quest_id=quest.id,
                member_id=bob,
                period="once",
                points=5,
                created_at=program.clock.now(),
            )
        )
    assert await ids(runtime, {"quest": {"slug": "coffee"}}) == {bob}

    await program.badges.create(
        {
            "name": "regular",
            "title": "Regular",
            "description": "Three visits",
            "emoji": "☕",
            "condition": {"kind": "visits", "count": 3},
        },
        actor="m",
    )
    async with runtime.db.transaction() as session:
        assert await program.badges.award(session, ann, "regular", "test:1")
    assert await ids(runtime, {"badge": "regular"}) == {ann}
    assert await ids(runtime, {"badge": "regular", "quest": {"slug": "coffee"}}) == set()

    await program.coupons.create_campaign(
        CampaignSpec(slug="spring", name="Spring", kind="percent", value="10"), actor="m"
    )
    issued = await program.coupons.issue("spring", ann)
    await program.coupons.issue("spring", bob)
    assert await ids(runtime, {"coupon": {"campaign": "spring"}}) == set(), "issued, not redeemed"
    await program.coupons.redeem(
        issued.code, redemption_id="r1", actor="till", member_id=ann, order_amount="100"
    )
    assert await ids(runtime, {"coupon": {"campaign": "spring"}}) == {ann}
    assert await ids(runtime, {"coupon": {"campaign": "spring", "redeemed": False}}) == {bob}


async def test_tags_any_all_none(runtime: Runtime) -> None:
    program = runtime.program
    segments = program.segments
    ann = await join(program, "60")
    bob = await join(program, "61")
    cat = await join(program, "62")
    assert await segments.tag(ann, "vip", actor="m") == (True, ["vip"])
    assert await segments.tag(ann, "vip", actor="m") == (False, ["vip"]), "once"
    await segments.tag(ann, "coffee-lover", actor="m")
    await segments.tag(bob, "coffee-lover", actor="m")
    assert await ids(runtime, {"tags": {"any": ["vip", "coffee-lover"]}}) == {ann, bob}
    assert await ids(runtime, {"tags": {"all": ["vip", "coffee-lover"]}}) == {ann}
    assert await ids(runtime, {"tags": {"none": ["vip"]}}) == {bob, cat}
    assert await ids(runtime, {"tags": {"any": ["coffee-lover"], "none": ["vip"]}}) == {bob}
    assert await segments.untag(ann, "vip") == (True, ["coffee-lover"])
    assert await segments.untag(ann, "vip") == (False, ["coffee-lover"])
    assert await ids(runtime, {"tags": {"all": ["vip", "coffee-lover"]}}) == set()
    with pytest.raises(InvalidTag):
        await segments.tag(ann, "VIP!", actor="m")
    # The member sees their tags in "My data"; erasing forgets them.
    assert [row["tag"] for row in (await program.privacy.export(ann))["tags"]] == ["coffee-lover"]
    await program.privacy.erase(ann)
    assert await segments.tags_of(ann) == []


async def test_the_engine_finds_the_channel_used_last(runtime: Runtime) -> None:
    program = runtime.program
    ann = await join(program, "70")
    code = await program.linking.issue(ann)
    await program.linking.redeem(IdentityKey("whatsapp", "+79990000070"), code.code)
    found = await program.segments.identities_by_recency([ann])
    assert [identity.channel for identity in found[ann]] == ["whatsapp", "telegram"]
    # WhatsApp cannot reach her (say, its window is closed): the next one can.
    telegram = await program.segments.channel_of(ann, can_reach=lambda i: i.channel != "whatsapp")
    assert telegram is not None and telegram.external_id == "70"
    assert await program.segments.contains(parse_segment({"channel": "whatsapp"}), ann)


async def test_a_message_records_the_last_channel_at_most_once_a_minute(runtime: Runtime) -> None:
    clock = ShiftedClock()
    program = LoyaltyProgram.build(runtime.db, clock)
    ann = await join(program, "80")
    code = await program.linking.issue(ann)
    await program.linking.redeem(IdentityKey("vk", "80"), code.code)

    async def seen(channel: str) -> datetime | None:
        return await program.members.last_seen(IdentityKey(channel, "80"))

    async def member() -> tuple[str | None, datetime]:
        async with runtime.db.reading() as session:
            row = await session.get(Member, ann)
            assert row is not None
            return row.last_channel, row.last_active_at

    vk_linked = await seen("vk")
    telegram_joined = await seen("telegram")
    assert vk_linked is not None and telegram_joined is not None
    assert (await member())[0] == "vk"
    clock.offset = timedelta(seconds=30)
    await program.members.visit(IdentityKey("telegram", "80"))
    assert await seen("telegram") == telegram_joined, "within a minute: nothing written"
    assert (await member())[0] == "vk"
    clock.offset = timedelta(minutes=2)
    await program.members.visit(IdentityKey("telegram", "80"))
    written = await seen("telegram")
    assert written is not None and written - telegram_joined >= timedelta(minutes=2)
    assert await member() == ("telegram", written)
    # A stranger's message records nothing (and finds nobody).
    assert await program.members.visit(IdentityKey("telegram", "nobody")) is None
    async with runtime.db.reading() as session:
        assert (
            await session.scalar(select(Identity).where(Identity.external_id == "nobody")) is None
        )


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("{not json", "not JSON"),
        ("[1]", "a segment is a JSON object"),
        ({"chanel": "vk"}, "unknown fields: chanel"),
        ({"channel": "icq"}, "channel"),
        ({"balance": {}}, "give min, max or both"),
        ({"balance": {"min": 5, "max": 1}}, "min is more than max"),
        ({"purchases": {"min": 1}}, "needs a period"),
        ({"purchases": {"min": 1, "days": 7, "since": "2026-01-01"}}, "not both"),
        ({"joined": {"since": "2026-02-01T00:00:00"}}, "time zone offset"),
        ({"joined": {"since": "2026-02-01", "until": "2026-01-01"}}, "since must be before until"),
        ({"birthday_month": 13}, "birthday_month"),
        ({"tags": {"any": ["VIP"]}}, "is not a tag"),
        ({"tags": {}}, "give any, all or none"),
        ({"active_within_days": 7, "inactive_days": 30}, "leave nobody"),
        ({"quest": {"state": "joined"}}, "slug"),
        ({"spent": {"min": 100}}, "spent: needs a period"),
        ({"spent": {"min": "10.005", "days": 7}}, "no more than 2 decimal places"),
        ({"average_receipt": {"min": 500, "max": 100, "days": 7}}, "min is more than max"),
        ({"bought": {"min": 2, "days": 30}}, "give a category, a store or both"),
        ({"bought": {"category": "", "min": 2, "days": 30}}, "bought.category"),
    ],
)
def test_a_segment_that_cannot_be_used_is_refused_with_the_reason(
    data: object, reason: str
) -> None:
    with pytest.raises(InvalidSegment) as refused:
        parse_segment(data)
    assert reason in str(refused.value), str(refused.value)


def test_every_example_segment_parses() -> None:
    from pathlib import Path

    examples = sorted(
        (Path(__file__).resolve().parent.parent / "examples" / "segments").glob("*.json")
    )
    assert len(examples) >= 4
    for path in examples:
        assert isinstance(parse_segment(path.read_text("utf-8")), Segment), path.name
