"""Reminders nobody asked for just then (points or a coupon about to expire, a birthday), and
what a scheduled job did at night (points expired, a tier lost in the review), reach a member
in their waking hours: one found in the member's night, in their own time zone, is
held until the night ends; what the member's own action causes still comes at once. Driven
through the Telegram fake with a clock the test moves (on SQLite and on PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select, update

from app.runtime import Runtime, build_runtime
from app.settings import Settings
from core.db.models import ContestWinner, Member, Notice
from core.members.accounts import IdentityKey
from core.notices.outbox import NoticeKind
from core.offers.campaigns import CampaignSpec
from tests.clocks import StoppedClock
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.telegram_member import TelegramMember, text_of, webhook_client, webhook_delivery

# Members join at 10:00 UTC; their welcome points expire 30 days later, at the same hour.
JOINED = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
TTL_DAYS = 30
EXPIRING = "⏳ 100 points will expire on"


@pytest.fixture
def clock() -> StoppedClock:
    return StoppedClock(JOINED)


@pytest.fixture
async def shop(telegram_settings: Settings, clock: StoppedClock) -> AsyncIterator[Runtime]:
    built = build_runtime(telegram_settings, clock=clock)
    await built.program.rules.update(actor="test", points_ttl_days=TTL_DAYS)
    try:
        yield built
    finally:
        await built.close()


async def member_in(
    shop: Runtime, fake: FakeTelegramAPI, user_id: int, zone: str
) -> tuple[TelegramMember, int]:
    async with webhook_client(shop) as client:
        member = TelegramMember(fake, webhook_delivery(client), user_id=user_id)
        await member.sign_up()
    profile = await shop.program.members.find(IdentityKey("telegram", str(user_id)))
    assert profile is not None
    async with shop.db.transaction() as session:
        await session.execute(update(Member).where(Member.id == profile.id).values(time_zone=zone))
    await shop.dispatch_notices(10)  # what joining said
    return member, profile.id


def texts_since(member: TelegramMember, before: int) -> list[str]:
    return [text_of(call) for call in member.received[before:]]


async def test_a_points_reminder_found_at_2_am_arrives_in_the_morning(
    shop: Runtime, fake_telegram: FakeTelegramAPI, clock: StoppedClock
) -> None:
    # 21:00 UTC on 24 March: 02:00 on the 25th in Yekaterinburg, 17:00 in New York.
    yekaterinburg, _ = await member_in(shop, fake_telegram, 7101, "Asia/Yekaterinburg")
    new_york, _ = await member_in(shop, fake_telegram, 7102, "America/New_York")
    asleep, awake = len(yekaterinburg.received), len(new_york.received)
    clock.set(2026, 3, 24, 21, 0)

    assert await shop.program.reminders.remind_due() == 2
    await shop.dispatch_notices(10)

    assert [text.startswith(EXPIRING) for text in texts_since(new_york, awake)] == [True]
    assert texts_since(yekaterinburg, asleep) == []

    # 08:59 there: still the night.
    clock.set(2026, 3, 25, 3, 59)
    assert (await shop.dispatch_notices(10)).claimed == 0
    assert texts_since(yekaterinburg, asleep) == []

    # 09:00 there: the reminder, once.
    clock.set(2026, 3, 25, 4, 0)
    assert (await shop.dispatch_notices(10)).sent == 1
    assert await shop.program.reminders.remind_due() == 0
    await shop.dispatch_notices(10)
    (text,) = texts_since(yekaterinburg, asleep)
    assert text.startswith(EXPIRING)


async def test_the_rules_quiet_hours_are_the_shops_to_set(
    shop: Runtime, fake_telegram: FakeTelegramAPI, clock: StoppedClock
) -> None:
    # A shop whose members sleep from midnight to 07:00 (and are to be told at 23:00).
    await shop.program.rules.update(actor="test", quiet_hours_start=0, quiet_hours_end=7)
    yekaterinburg, _ = await member_in(shop, fake_telegram, 7201, "Asia/Yekaterinburg")
    before = len(yekaterinburg.received)

    clock.set(2026, 3, 24, 18, 0)  # 23:00 there: not their night under these rules
    assert await shop.program.reminders.remind_due() == 1
    assert (await shop.dispatch_notices(10)).sent == 1
    assert len(texts_since(yekaterinburg, before)) == 1

    # Later that night a coupon reminder waits for 07:00, not 09:00.
    await shop.program.coupons.create_campaign(
        CampaignSpec(slug="spring", name="Spring", kind="percent", value="15", valid_days=2),
        actor="marketer",
    )
    profile = await shop.program.members.find(IdentityKey("telegram", "7201"))
    assert profile is not None
    clock.set(2026, 3, 24, 21, 0)  # 02:00 there
    await shop.program.coupons.issue("spring", profile.id)
    # The coupon itself (the shop gave it just now) comes at once; its reminder does not.
    assert (await shop.dispatch_notices(10)).sent == 1
    assert await shop.program.coupon_reminders.remind_due() == 1
    assert (await shop.dispatch_notices(10)).claimed == 0
    clock.set(2026, 3, 25, 2, 0)  # 07:00 there
    assert (await shop.dispatch_notices(10)).sent == 1
    assert texts_since(yekaterinburg, before)[-1].startswith("⏳ Your coupon")


async def test_no_reminder_when_the_points_are_gone_before_the_member_wakes(
    shop: Runtime, fake_telegram: FakeTelegramAPI, clock: StoppedClock
) -> None:
    await shop.program.rules.update(actor="test", expiry_reminder_days=1)
    # The points expire at 10:00 UTC on 31 March: 03:00 in Los Angeles.
    los_angeles, member_id = await member_in(shop, fake_telegram, 7301, "America/Los_Angeles")
    before = len(los_angeles.received)

    clock.set(2026, 3, 31, 9, 0)  # 02:00 there, an hour before they go
    assert await shop.program.reminders.remind_due() == 0
    await shop.dispatch_notices(10)
    assert texts_since(los_angeles, before) == []
    async with shop.db.reading() as session:
        kinds = list(
            await session.scalars(select(Notice.kind).where(Notice.member_id == member_id))
        )
    assert str(NoticeKind.POINTS_EXPIRING) not in kinds


async def test_a_birthday_found_late_in_the_evening_is_greeted_the_next_morning(
    shop: Runtime, fake_telegram: FakeTelegramAPI, clock: StoppedClock
) -> None:
    await shop.program.rules.update(actor="test", birthday_bonus=50)
    moscow, member_id = await member_in(shop, fake_telegram, 7401, "Europe/Moscow")
    async with shop.db.transaction() as session:
        await session.execute(
            update(Member).where(Member.id == member_id).values(birthday=date(1990, 4, 2))
        )
    before = len(moscow.received)

    clock.set(2026, 4, 2, 19, 30)  # 22:30 on her birthday in Moscow (the job was down all day)
    assert {g.member_id for g in await shop.program.birthdays.greet_due()} == {member_id}
    assert (await shop.dispatch_notices(10)).claimed == 0
    assert (await shop.program.members.get(member_id)).balance == 150  # the gift is hers

    clock.set(2026, 4, 3, 6, 0)  # 09:00 in Moscow
    assert (await shop.dispatch_notices(10)).sent == 1
    (text,) = texts_since(moscow, before)
    assert "birthday" in text.lower()


# What the scheduled jobs do to a member at night (the expiry, the tier review at 02:20 UTC)
# waits for the member's morning as well; a tier reached at the till is told at once.
EXPIRED = "⌛ 100 points expired"
DOWNGRADED = "Your level is now"
UPGRADED = "🏆 Congratulations! You have reached the Silver level."


async def test_points_expired_by_the_night_job_are_told_in_the_morning(
    shop: Runtime, fake_telegram: FakeTelegramAPI, clock: StoppedClock
) -> None:
    moscow, moscow_id = await member_in(shop, fake_telegram, 7501, "Europe/Moscow")
    tokyo, tokyo_id = await member_in(shop, fake_telegram, 7502, "Asia/Tokyo")
    asleep, awake = len(moscow.received), len(tokyo.received)

    clock.set(2026, 4, 1, 2, 20)  # 05:20 in Moscow, 11:20 in Tokyo (gone at 10:00 UTC)
    run = await shop.program.expiry.expire_due()
    assert (run.members, run.points) == (2, 200)
    assert (await shop.program.members.get(moscow_id)).balance == 0  # gone at once
    assert (await shop.dispatch_notices(10)).sent == 1
    assert [text.startswith(EXPIRED) for text in texts_since(tokyo, awake)] == [True]
    assert texts_since(moscow, asleep) == []

    clock.set(2026, 4, 1, 5, 59)  # 08:59 in Moscow
    assert (await shop.dispatch_notices(10)).claimed == 0
    clock.set(2026, 4, 1, 6, 0)  # 09:00 in Moscow
    assert (await shop.dispatch_notices(10)).sent == 1
    (text,) = texts_since(moscow, asleep)
    assert text.startswith(EXPIRED)
    assert (await shop.program.members.get(tokyo_id)).balance == 0


async def test_a_tier_lost_in_the_night_review_is_told_in_the_morning_one_won_at_the_till_at_once(
    shop: Runtime, fake_telegram: FakeTelegramAPI, clock: StoppedClock
) -> None:
    await shop.program.rules.update(
        actor="test",
        tiers=[{"key": "silver", "name": "Silver", "threshold": 1000}],
        tier_window_days=1,
        tier_grace_days=0,
    )
    moscow, member_id = await member_in(shop, fake_telegram, 7601, "Europe/Moscow")
    card = (await shop.program.members.get(member_id)).card_code
    before = len(moscow.received)

    # 23:00 in Moscow: the member buys at the till and reaches Silver; told at once.
    clock.set(2026, 3, 2, 20, 0)
    bought = await shop.program.purchases.credit(card, "1200", purchase_id="P1", actor="till")
    assert (bought.tier, bought.tier_changed) == ("silver", True)
    await shop.dispatch_notices(10)
    assert UPGRADED in texts_since(moscow, before)
    before = len(moscow.received)

    # The review at 02:20 UTC (05:20 in Moscow), the purchase out of the window: Silver is
    # gone at once, the notice waits for 09:00 there.
    clock.set(2026, 3, 4, 2, 20)
    assert (await shop.program.tiers.review_all()).downgraded == 1
    assert (await shop.program.tiers.status(member_id)).tier is None
    assert (await shop.dispatch_notices(10)).claimed == 0
    clock.set(2026, 3, 4, 5, 59)
    assert (await shop.dispatch_notices(10)).claimed == 0
    assert texts_since(moscow, before) == []

    clock.set(2026, 3, 4, 6, 0)
    assert (await shop.dispatch_notices(10)).sent == 1
    (text,) = texts_since(moscow, before)
    assert text.startswith(DOWNGRADED)


async def test_a_contest_won_when_the_job_closes_it_at_night_is_told_in_the_morning(
    shop: Runtime, fake_telegram: FakeTelegramAPI, clock: StoppedClock
) -> None:
    moscow, member_id = await member_in(shop, fake_telegram, 7701, "Europe/Moscow")
    card = (await shop.program.members.get(member_id)).card_code
    contest = await shop.program.contests.create(
        {
            "slug": "march-top",
            "kind": "leaderboard",
            "metric": "points",
            "title": "March top",
            "starts_at": JOINED.isoformat(),
            # 03:00 in Moscow: the settle_contests job closes it in the member's night.
            "ends_at": datetime(2026, 3, 2, 0, 0, tzinfo=UTC).isoformat(),
            "winners": 1,
            "reserves": 0,
            "claim_hours": 48,
            "prize": {"points": 300},
        },
        actor="test",
    )
    clock.set(2026, 3, 1, 12, 0)
    await shop.program.contests.join(contest.id, member_id)
    await shop.program.purchases.credit(card, "300", purchase_id="M-1", actor="till")
    await shop.program.bus.drain()
    await shop.dispatch_notices(10)
    before = len(moscow.received)

    clock.set(2026, 3, 2, 0, 1)
    assert (await shop.program.contests.settle_due()).closed == 1
    assert await shop.program.contests.awaiting_for(member_id) == [contest.id]
    assert (await shop.dispatch_notices(10)).claimed == 0
    clock.set(2026, 3, 2, 5, 59)
    assert (await shop.dispatch_notices(10)).claimed == 0
    assert texts_since(moscow, before) == []

    clock.set(2026, 3, 2, 6, 0)  # 09:00 in Moscow: told, with 48 hours to claim from now
    assert (await shop.dispatch_notices(10)).sent == 1
    (text,) = texts_since(moscow, before)
    assert text.startswith("🎉 You won «March top»!")
    async with shop.db.reading() as session:
        deadline = await session.scalar(
            select(ContestWinner.claim_deadline).where(ContestWinner.contest_id == contest.id)
        )
    assert deadline is not None
    assert deadline.replace(tzinfo=UTC) == datetime(2026, 3, 4, 6, 0, tzinfo=UTC)
