"""Birthday bonus and greeting: on the member's day in the member's time zone, once a year,
with a clock the test moves (on SQLite and on PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import ClauseElement, insert, select, text, update

from app.runtime import Runtime, build_runtime
from app.settings import Settings
from core.birthdays.birthdays import candidate_month_days, candidates_query, celebrated_on
from core.db.models import LedgerEntry, Member, Notice
from core.members.accounts import IdentityKey, Profile, Registration
from core.notices.outbox import NoticeKind
from core.offers.campaigns import CampaignSpec
from tests.clocks import StoppedClock
from tests.data import count
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.telegram_member import TelegramMember, text_of, webhook_client, webhook_delivery

BONUS = 50


@pytest.fixture
def clock() -> StoppedClock:
    # Members join well before the birthdays the tests look at.
    return StoppedClock(datetime(2026, 1, 10, 12, 0, tzinfo=UTC))


@pytest.fixture
async def shop(settings: Settings, clock: StoppedClock) -> AsyncIterator[Runtime]:
    built = build_runtime(settings, clock=clock)
    await built.program.rules.update(actor="test", birthday_bonus=BONUS)
    try:
        yield built
    finally:
        await built.close()


async def join(
    runtime: Runtime, user: str, birthday: date | None, zone: str | None = None
) -> Profile:
    enrolment = await runtime.program.members.enrol(
        Registration(
            identity=IdentityKey("telegram", user),
            language="en",
            accepted_terms=True,
            marketing_opt_in=False,
            birthday=birthday,
        )
    )
    assert enrolment.created
    if zone is not None:
        async with runtime.db.transaction() as session:
            await session.execute(
                update(Member).where(Member.id == enrolment.member.id).values(time_zone=zone)
            )
    return enrolment.member


async def greeted(runtime: Runtime) -> set[int]:
    return {greeting.member_id for greeting in await runtime.program.birthdays.greet_due()}


async def birthday_notices(runtime: Runtime, member_id: int) -> list[Notice]:
    async with runtime.db.reading() as session:
        return list(
            await session.scalars(
                select(Notice).where(
                    Notice.member_id == member_id, Notice.kind == str(NoticeKind.BIRTHDAY)
                )
            )
        )


async def bonuses(runtime: Runtime, member_id: int) -> list[int]:
    async with runtime.db.reading() as session:
        rows = await session.scalars(
            select(LedgerEntry.points).where(
                LedgerEntry.member_id == member_id, LedgerEntry.reason == "birthday"
            )
        )
        return list(rows)


async def test_the_day_begins_in_the_members_own_time_zone(
    shop: Runtime, clock: StoppedClock
) -> None:
    tehran = await join(shop, "1", date(1990, 11, 24), "Asia/Tehran")
    new_york = await join(shop, "2", date(1985, 11, 24), "America/New_York")
    # No zone of their own: the program's (Europe/Moscow by default).
    moscow = await join(shop, "3", date(1970, 11, 24))

    # 06:00 UTC: 09:30 in Tehran and 09:00 in Moscow, but 01:00 in New York.
    clock.set(2026, 11, 24, 6, 0)
    assert await greeted(shop) == {tehran.id, moscow.id}

    # 14:00 UTC: 09:00 in New York.
    clock.set(2026, 11, 24, 14, 0)
    assert await greeted(shop) == {new_york.id}

    # 04:00 UTC on the 25th: still the 24th in New York, but everyone had their greeting.
    clock.set(2026, 11, 25, 4, 0)
    assert await greeted(shop) == set()
    for member in (tehran, new_york, moscow):
        assert await bonuses(shop, member.id) == [BONUS]
        [notice] = await birthday_notices(shop, member.id)
        assert json.loads(notice.payload) == {"points": BONUS}
        assert notice.dedupe_key == f"birthday:{member.id}:2026"
        # Points credited to the member's own account: transactional, sent to everyone.
        assert notice.marketing is False
    assert (await shop.program.members.get(tehran.id)).balance == 100 + BONUS


async def test_zones_a_day_ahead_of_or_behind_utc(shop: Runtime, clock: StoppedClock) -> None:
    kiritimati = await join(shop, "1", date(1990, 11, 25), "Pacific/Kiritimati")  # UTC+14
    honolulu = await join(shop, "2", date(1990, 11, 23), "Pacific/Honolulu")  # UTC-10

    clock.set(2026, 11, 24, 8, 0)  # 22:00 on the 23rd in Honolulu
    assert await greeted(shop) == {honolulu.id}
    clock.set(2026, 11, 24, 20, 0)  # 10:00 on the 25th in Kiritimati
    assert await greeted(shop) == {kiritimati.id}


async def test_once_a_year_however_often_the_job_runs(shop: Runtime, clock: StoppedClock) -> None:
    member = await join(shop, "1", date(1990, 11, 24), "Asia/Tehran")
    other = await join(shop, "2", date(1990, 11, 25), "Asia/Tehran")

    clock.set(2026, 11, 23, 0, 0)
    days: dict[int, list[date]] = {member.id: [], other.id: []}
    for _ in range(72):  # hourly, three days
        for member_id in await greeted(shop):
            days[member_id].append(clock.now().date())
        clock.advance(timedelta(hours=1))

    assert days == {member.id: [date(2026, 11, 24)], other.id: [date(2026, 11, 25)]}
    assert await bonuses(shop, member.id) == [BONUS]

    clock.set(2027, 11, 24, 12, 0)
    assert await greeted(shop) == {member.id}
    assert await bonuses(shop, member.id) == [BONUS, BONUS]


async def test_29_february_is_kept_on_the_28th_in_other_years(
    shop: Runtime, clock: StoppedClock
) -> None:
    leapling = await join(shop, "1", date(2000, 2, 29))
    on_the_28th = await join(shop, "2", date(2001, 2, 28))

    clock.set(2027, 2, 28, 7, 0)  # 10:00 in Moscow, 2027 has no 29 February
    assert await greeted(shop) == {leapling.id, on_the_28th.id}
    clock.set(2027, 3, 1, 7, 0)
    assert await greeted(shop) == set()

    clock.set(2028, 2, 28, 7, 0)  # a leap year: the leapling's day is the 29th
    assert await greeted(shop) == {on_the_28th.id}
    clock.set(2028, 2, 29, 7, 0)
    assert await greeted(shop) == {leapling.id}
    assert await bonuses(shop, leapling.id) == [BONUS, BONUS]


def test_celebrated_on_and_the_candidate_days() -> None:
    assert celebrated_on(date(2000, 2, 29), 2027) == date(2027, 2, 28)
    assert celebrated_on(date(2000, 2, 29), 2028) == date(2028, 2, 29)
    assert celebrated_on(date(1990, 11, 24), 2026) == date(2026, 11, 24)
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert candidate_month_days(now) == {(11, 23), (11, 24), (11, 25)}
    assert (2, 29) in candidate_month_days(datetime(2027, 3, 1, 1, 0, tzinfo=UTC))


async def test_two_processes_greeting_at_once_pay_once(
    settings: Settings, shop: Runtime, clock: StoppedClock
) -> None:
    members = [await join(shop, str(n), date(1990, 11, 24), "Asia/Tehran") for n in range(5)]
    other = build_runtime(settings, clock=clock)  # a second process on the same database
    try:
        clock.set(2026, 11, 24, 12, 0)
        first, second = await asyncio.gather(
            shop.program.birthdays.greet_due(), other.program.birthdays.greet_due()
        )
    finally:
        await other.close()

    assert sorted(g.member_id for g in [*first, *second]) == sorted(m.id for m in members)
    for member in members:
        assert await bonuses(shop, member.id) == [BONUS]
        assert len(await birthday_notices(shop, member.id)) == 1
        assert (await shop.program.members.get(member.id)).balance == 100 + BONUS


async def test_a_greeting_without_a_bonus_is_marketing(shop: Runtime, clock: StoppedClock) -> None:
    await shop.program.rules.update(actor="test", birthday_bonus=0)
    member = await join(shop, "1", date(1990, 11, 24))

    clock.set(2026, 11, 24, 12, 0)
    assert await greeted(shop) == {member.id}

    [notice] = await birthday_notices(shop, member.id)
    assert json.loads(notice.payload) == {"points": 0}
    assert notice.marketing is True
    assert await bonuses(shop, member.id) == []


async def test_no_birthday_erased_or_merged_members_are_not_greeted(
    shop: Runtime, clock: StoppedClock
) -> None:
    await join(shop, "1", None)
    erased = await join(shop, "2", date(1990, 11, 24))
    await shop.program.privacy.erase(erased.id)
    survivor = await join(shop, "3", None)
    absorbed = await join(shop, "4", date(1990, 11, 24))

    clock.set(2026, 11, 24, 7, 0)
    assert await greeted(shop) == {absorbed.id}

    # The greeted card is merged into one without a birthday, which takes it over: the
    # person still celebrates once a year.
    async with shop.db.transaction() as session:
        await session.execute(
            update(Member).where(Member.id == absorbed.id).values(merged_into_id=survivor.id)
        )
        await session.execute(
            update(Member).where(Member.id == survivor.id).values(birthday=date(1990, 11, 24))
        )
    clock.set(2026, 11, 24, 8, 0)
    assert await greeted(shop) == set()
    assert await count(shop, Notice, Notice.member_id == erased.id) == 0

    clock.set(2027, 11, 24, 8, 0)
    assert await greeted(shop) == {survivor.id}


async def test_leaving_and_joining_again_earns_no_second_bonus(
    shop: Runtime, clock: StoppedClock
) -> None:
    clock.set(2026, 11, 24, 7, 0)
    first = await join(shop, "1", date(1990, 11, 24))
    assert await greeted(shop) == {first.id}
    await shop.program.privacy.erase(first.id)

    again = await join(shop, "1", date(1990, 11, 24))
    newcomer = await join(shop, "2", date(1990, 11, 24))
    clock.advance(timedelta(hours=1))
    assert await greeted(shop) == {again.id, newcomer.id}

    assert await bonuses(shop, again.id) == []
    assert [json.loads(n.payload) for n in await birthday_notices(shop, again.id)] == [
        {"points": 0}
    ]
    assert await bonuses(shop, newcomer.id) == [BONUS]

    # A year on, the card that came back is a member like any other.
    clock.set(2027, 11, 24, 7, 0)
    assert await greeted(shop) == {again.id, newcomer.id}
    assert await bonuses(shop, again.id) == [BONUS]


async def query_plan(runtime: Runtime, statement: ClauseElement) -> str:
    dialect = runtime.db.engine.dialect
    sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    async with runtime.db.engine.connect() as connection:
        if runtime.db.dialect == "postgresql":
            # A table this small is cheaper to read whole; forbidding that shows whether the
            # index can answer the lookup at all (its expressions must be the query's). With
            # statistics, the planner knows that `id > 0` keeps every member.
            await connection.execute(text("ANALYZE members"))
            await connection.execute(text("SET enable_seqscan = off"))
            rows = await connection.execute(text(f"EXPLAIN {sql}"))
            return "\n".join(row[0] for row in rows)
        rows = await connection.execute(text(f"EXPLAIN QUERY PLAN {sql}"))
        return "\n".join(str(row[-1]) for row in rows)


async def crowd(runtime: Runtime, size: int = 5000) -> None:
    """Members with birthdays all over the year (written directly: enrolment is slow), enough
    that reading every member is the planner's worse choice."""
    joined = datetime(2026, 1, 1, tzinfo=UTC)
    async with runtime.db.transaction() as session:
        await session.execute(
            insert(Member),
            [
                {
                    "card_code": f"CROWD{n:08d}",
                    "language": "en",
                    "birthday": date(1990, 1, 1) + timedelta(days=n % 365),
                    "terms_accepted_at": joined,
                    "created_at": joined,
                    "updated_at": joined,
                }
                for n in range(size)
            ],
        )


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
        datetime(2027, 3, 1, 1, 0, tzinfo=UTC),  # 28 February is a candidate: and so is the 29th
    ],
)
async def test_the_lookup_reads_the_days_birthdays_through_the_index(
    shop: Runtime, now: datetime
) -> None:
    await crowd(shop)

    for month_day in candidate_month_days(now):
        plan = await query_plan(shop, candidates_query(month_day, after_id=0))

        if shop.db.dialect == "postgresql":
            # Neither the table nor the primary key read whole: only the birthday index.
            scans = [line for line in plan.splitlines() if "Scan" in line and "Heap" not in line]
            assert len(scans) == 1, plan
            assert "Scan using ix_members_birthday_month_day" in scans[0] or (
                "Scan on ix_members_birthday_month_day" in scans[0]
            ), plan
        else:
            # One search of the index, and no scan of anything.
            reads = [line for line in plan.splitlines() if "members" in line]
            assert len(reads) == 1, plan
            assert reads[0].startswith(
                "SEARCH members USING INDEX ix_members_birthday_month_day"
            ), plan
            assert "TEMP B-TREE" not in plan, plan


async def test_the_cards_merged_into_a_member_are_found_through_the_index(shop: Runtime) -> None:
    # Asked for every birthday (a merged card's greeting counts) and every tier metric.
    await crowd(shop)
    absorbed = select(Member.id).where(Member.merged_into_id == 1)

    plan = await query_plan(shop, absorbed)

    assert "ix_members_merged_into_id" in plan, plan
    assert "Seq Scan" not in plan and "SCAN members" not in plan, plan


# ---------------------------------------------------------------- the gift: coupon and tiers
@pytest.fixture
async def telegram_shop(telegram_settings: Settings, clock: StoppedClock) -> AsyncIterator[Runtime]:
    built = build_runtime(telegram_settings, clock=clock)
    await built.program.coupons.create_campaign(
        CampaignSpec(slug="cake", name="Birthday cake", kind="free_item", item="Cake"),
        actor="marketer",
    )
    await built.program.rules.update(actor="test", birthday_bonus=BONUS, birthday_coupon="cake")
    try:
        yield built
    finally:
        await built.close()


async def test_the_greeting_brings_the_birthday_coupon_once_a_year(
    telegram_shop: Runtime, fake_telegram: FakeTelegramAPI, clock: StoppedClock
) -> None:
    runtime = telegram_shop
    async with webhook_client(runtime) as client:
        ann = TelegramMember(fake_telegram, webhook_delivery(client), user_id=5151)
        await ann.sign_up()
        profile = await runtime.program.members.find(IdentityKey("telegram", "5151"))
        assert profile is not None
        await runtime.program.members.set_birthday(profile.id, date(1990, 11, 24))

        clock.set(2026, 11, 24, 10, 0)
        before = len(ann.received)
        [greeting] = await runtime.program.birthdays.greet_due()
        assert (await runtime.dispatch_notices(10)).sent == 1
        code = greeting.coupon
        assert code is not None
        received = text_of(ann.last)
        assert received.startswith(f"🎂 Happy birthday! Here is our gift to you: {BONUS} points.")
        assert f"Your birthday coupon: {code}" in received
        # Only the greeting: the coupon is in it, not in a notice of its own.
        assert len(ann.received[before:]) == 1

        coupons = text_of(await ann.send("🎟 My coupons"))
        assert code in coupons and "Birthday cake" in coupons
        [notice] = await birthday_notices(runtime, profile.id)
        assert json.loads(notice.payload) == {"points": BONUS, "coupon": code}
        assert notice.marketing is False

        # Later the same day and the next: nothing more.
        clock.set(2026, 11, 24, 20, 0)
        assert await runtime.program.birthdays.greet_due() == []
        clock.set(2026, 11, 25, 10, 0)
        assert await runtime.program.birthdays.greet_due() == []
        assert [c.code for c in await runtime.program.coupons.active_for(profile.id)] == [code]

        # A year later: a new coupon.
        clock.set(2027, 11, 24, 10, 0)
        [next_year] = await runtime.program.birthdays.greet_due()
        assert next_year.coupon is not None and next_year.coupon != code
        assert len(await runtime.program.coupons.active_for(profile.id)) == 2
        assert await bonuses(runtime, profile.id) == [BONUS, BONUS]


async def test_a_campaign_that_ended_gives_no_coupon_and_the_points_still_come(
    shop: Runtime, clock: StoppedClock
) -> None:
    await shop.program.coupons.create_campaign(
        CampaignSpec(slug="cake", name="Birthday cake", kind="free_item", item="Cake"),
        actor="marketer",
    )
    await shop.program.rules.update(actor="test", birthday_coupon="cake")
    await shop.program.coupons.set_active("cake", False)
    ann = await join(shop, "1", date(1990, 11, 24))

    clock.set(2026, 11, 24, 10, 0)
    [greeting] = await shop.program.birthdays.greet_due()

    assert (greeting.points, greeting.coupon) == (BONUS, None)
    assert await shop.program.coupons.active_for(ann.id) == []
    [notice] = await birthday_notices(shop, ann.id)
    assert json.loads(notice.payload) == {"points": BONUS}


async def test_a_coupon_without_points_is_a_gift_not_marketing(
    shop: Runtime, clock: StoppedClock
) -> None:
    await shop.program.coupons.create_campaign(
        CampaignSpec(slug="cake", name="Birthday cake", kind="percent", value="20"),
        actor="marketer",
    )
    await shop.program.rules.update(actor="test", birthday_bonus=0, birthday_coupon="cake")
    ann = await join(shop, "1", date(1990, 11, 24))

    clock.set(2026, 11, 24, 10, 0)
    [greeting] = await shop.program.birthdays.greet_due()

    assert greeting.points == 0 and greeting.coupon is not None
    assert await bonuses(shop, ann.id) == []
    [notice] = await birthday_notices(shop, ann.id)
    assert notice.marketing is False, "a coupon of one's own is news about one's account"


async def test_a_tiers_own_birthday_bonus_replaces_the_base_one(
    shop: Runtime, clock: StoppedClock
) -> None:
    await shop.program.rules.update(
        actor="test",
        tiers=[
            {"key": "base", "name": "Base", "threshold": 0},
            {"key": "silver", "name": "Silver", "threshold": 1000},
            {"key": "gold", "name": "Gold", "threshold": 5000, "birthday_bonus": 300},
        ],
    )
    base = await join(shop, "1", date(1990, 11, 24))
    silver = await join(shop, "2", date(1990, 11, 24))
    gold = await join(shop, "3", date(1990, 11, 24))
    async with shop.db.transaction() as session:
        await session.execute(update(Member).where(Member.id == silver.id).values(tier="silver"))
        await session.execute(update(Member).where(Member.id == gold.id).values(tier="gold"))

    clock.set(2026, 11, 24, 10, 0)
    await shop.program.birthdays.greet_due()

    assert await bonuses(shop, base.id) == [BONUS]
    assert await bonuses(shop, silver.id) == [BONUS], "a tier without its own: the base bonus"
    assert await bonuses(shop, gold.id) == [300]
