"""Birthday bonus and greeting: on the member's day, in the member's time zone, once a year.

`greet_due` is run by the scheduler every hour, so every time zone gets its day: a member in
Tehran and one in New York have their birthday at different UTC instants. A greeting found in
the member's night (the rules' quiet hours; from 22:00 on the day itself, by default) waits for
the morning: the notice's `due_at`. Each greeting is
one transaction keyed `birthday:{member}:{year}`: the ledger's idempotency key and the
notice's dedupe key, so hourly runs, replays and concurrent processes pay it at most once.

The gift is the member's tier's own `birthday_bonus` when it has one, else the base one, and
the coupon of the `birthday_coupon` campaign, if the rules name one: issued in the greeting's
transaction, so it comes once a year with the points. A campaign that ended or ran out gives
no coupon (the log says why); the points and the greeting still go out.

Is the greeting marketing? With a gift (points or a coupon) it tells the member about their
own account under the program's terms (they gave their birthday in their profile for "a gift on
the day"), so it is transactional and goes to every member. A greeting without a gift is only a
courtesy from the shop, so it is marked marketing and reaches only members who opted in.

Guards against farming: a birthday is given once, in the profile (`Members.set_birthday`
refuses a second one, so nothing in the chat moves it later). A messenger account that left a
card and joined again gets a new card, but no birthday gift until that card is a year old (the
greeting still comes), the way it gets no second welcome bonus; and cards merged into one
celebrate once a year between them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.database import Database
from core.db.models import Identity, Member, Notice, RetiredIdentity, birthday_month_day
from core.ledger.entries import Ledger
from core.members.accounts import IdentityKey, Members
from core.notices.outbox import NoticeKind, enqueue_in
from core.offers.coupons import Coupons
from core.rules.book import ProgramRules, RuleBook
from core.shared.clock import Clock
from core.shared.errors import CampaignNotFound, CouponRefused
from core.shared.quiet_hours import quiet_until, zone_of

log = logging.getLogger(__name__)

BIRTHDAY_REASON = "birthday"
COUPON_SOURCE = "birthday"
ACTOR = "scheduler:birthdays"
# Nobody wants a greeting at midnight: it goes out from this local hour of the day on.
GREETING_LOCAL_HOUR = 9
# A card opened by an account that had left another one earns its first birthday bonus
# only after this long, so leaving and joining again cannot be repeated for a bonus.
REJOINED_BONUS_AFTER = timedelta(days=365)
# Members looked at per query: the day's candidates of a big base, never all of it at once.
BATCH_SIZE = 500


def birthday_key(member_id: int, year: int) -> str:
    return f"birthday:{member_id}:{year}"


def celebrated_on(birthday: date, year: int) -> date:
    """The day a birthday falls on in `year`: 29 February is kept on 28 February in years
    without one (the member's day stays in February, never slides into March)."""
    if (birthday.month, birthday.day) == (2, 29):
        try:
            return date(year, 2, 29)
        except ValueError:
            return date(year, 2, 28)
    return birthday.replace(year=year)


def candidate_month_days(now: datetime) -> set[tuple[int, int]]:
    """(month, day) pairs that can be someone's local today when it is `now` in UTC: every
    zone's date is UTC's yesterday, today or tomorrow (UTC-12 .. UTC+14)."""
    pairs: set[tuple[int, int]] = set()
    for offset in (-1, 0, 1):
        day = (now + timedelta(days=offset)).date()
        pairs.add((day.month, day.day))
        if (day.month, day.day) == (2, 28):
            # Whether 29 February is celebrated on the 28th depends on the local year,
            # which the precise check decides; here it only has to be a candidate.
            pairs.add((2, 29))
    return pairs


def candidates_query(
    month_day: tuple[int, int], after_id: int
) -> Select[int, date | None, str | None]:
    """A page (by id) of the members born on one (month, day). It compares the expressions
    of the index on (month, day, id) (`birthday_month_day`), which hands the rows over in
    id order: a run reads that day's birthdays, not every member. One day per query: with
    several days OR-ed, PostgreSQL may rather walk the primary key in id order."""
    month, day = birthday_month_day()
    return (
        select(Member.id, Member.birthday, Member.time_zone)
        .where(
            month == month_day[0],
            day == month_day[1],
            Member.id > after_id,
            Member.birthday.is_not(None),
            Member.erased_at.is_(None),
            Member.merged_into_id.is_(None),
        )
        .order_by(Member.id)
        .limit(BATCH_SIZE)
    )


@dataclass(frozen=True)
class Greeting:
    member_id: int
    points: int
    year: int
    coupon: str | None = None


class Birthdays:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        ledger: Ledger,
        rules: RuleBook,
        members: Members,
        coupons: Coupons,
    ) -> None:
        self._db = db
        self._clock = clock
        self._ledger = ledger
        self._rules = rules
        self._members = members
        self._coupons = coupons

    async def greet_due(self) -> list[Greeting]:
        """Greet (and reward) every member whose birthday it is now in their own time zone
        and who was not greeted for it yet. Safe to run often and in several processes."""
        now = self._clock.now()
        rules = await self._rules.current()
        program_zone = zone_of(rules.time_zone, ZoneInfo("UTC"))
        greetings: list[Greeting] = []
        for month_day in sorted(candidate_month_days(now)):
            after_id = 0
            while True:
                batch = await self._candidates(month_day, after_id)
                if not batch:
                    break
                after_id = batch[-1][0]
                for member_id, birthday, zone_name in batch:
                    zone = zone_of(zone_name, program_zone)
                    local = now.astimezone(zone)
                    if celebrated_on(birthday, local.year) != local.date():
                        continue
                    if local.hour < GREETING_LOCAL_HOUR:
                        continue
                    # Found in the member's night (a late run, a birthday given in the
                    # evening): the gift now, the greeting when the night is over.
                    morning = quiet_until(now, zone, rules.quiet_hours)
                    greeting = await self._greet(member_id, local.year, rules, now, morning)
                    if greeting is not None:
                        greetings.append(greeting)
        return greetings

    async def _candidates(
        self, month_day: tuple[int, int], after_id: int
    ) -> list[tuple[int, date, str | None]]:
        async with self._db.reading() as session:
            rows = (await session.execute(candidates_query(month_day, after_id))).all()
        return [(row.id, row.birthday, row.time_zone) for row in rows]

    async def _greet(
        self,
        member_id: int,
        year: int,
        rules: ProgramRules,
        now: datetime,
        morning: datetime | None = None,
    ) -> Greeting | None:
        key = birthday_key(member_id, year)
        rejoined = await self._rejoined_recently(member_id, now)
        async with self._db.transaction() as session:
            # The member's row lock serializes this with a concurrent greeter (another
            # process), a merge and an erasure; whoever comes second sees the first's notice.
            member = await session.get(Member, member_id, with_for_update=True)
            if member is None or member.erased_at is not None or member.merged_into_id:
                return None
            if member.birthday is None:
                return None
            if await self._celebrated(session, member_id, year):
                return None
            bonus = 0 if rejoined else rules.birthday_points(member.tier)
            if bonus > 0:
                await self._ledger.post_in(
                    session,
                    member_id,
                    bonus,
                    reason=BIRTHDAY_REASON,
                    actor=ACTOR,
                    idempotency_key=key,
                )
            coupon = None if rejoined else await self._give_coupon_in(session, rules, member_id)
            payload: dict[str, object] = {"points": bonus}
            if coupon is not None:
                payload["coupon"] = coupon
            await enqueue_in(
                session,
                member_id=member_id,
                kind=NoticeKind.BIRTHDAY,
                payload=payload,
                dedupe_key=key,
                now=now,
                # A greeting with a gift is news about the member's own account; one without
                # is a courtesy, i.e. marketing (see the module's docstring).
                marketing=bonus == 0 and coupon is None,
                due_at=morning,
            )
        return Greeting(member_id=member_id, points=bonus, year=year, coupon=coupon)

    async def _give_coupon_in(
        self, session: AsyncSession, rules: ProgramRules, member_id: int
    ) -> str | None:
        """The birthday coupon's code, issued in the greeting's transaction (the greeting
        itself shows it, so no separate "coupon received" notice); None without one."""
        slug = rules.birthday_coupon
        if not slug:
            return None
        try:
            async with session.begin_nested():
                campaign = await self._coupons.campaigns.campaign_in(session, slug, lock=True)
                issued = await self._coupons.issuing.issue_in(
                    session, campaign, member_id, source=COUPON_SOURCE, notify=False
                )
        except (CampaignNotFound, CouponRefused) as refusal:
            log.warning("birthday coupon %r not given to member %s: %s", slug, member_id, refusal)
            return None
        return issued.code

    async def _celebrated(self, session: AsyncSession, member_id: int, year: int) -> bool:
        """Greeted this year already: on this card, or on a card merged into it."""
        absorbed = (
            await session.scalars(select(Member.id).where(Member.merged_into_id == member_id))
        ).all()
        keys = [birthday_key(one, year) for one in (member_id, *absorbed)]
        found = await session.scalar(select(Notice.id).where(Notice.dedupe_key.in_(keys)))
        return found is not None

    async def _rejoined_recently(self, member_id: int, now: datetime) -> bool:
        """A young card one of whose messenger accounts had left a card before."""
        async with self._db.reading() as session:
            created_at = await session.scalar(
                select(Member.created_at).where(Member.id == member_id)
            )
            if created_at is None or now - created_at >= REJOINED_BONUS_AFTER:
                return False
            identities = (
                await session.execute(
                    select(Identity.channel, Identity.external_id).where(
                        Identity.member_id == member_id
                    )
                )
            ).all()
        hashes = [
            await self._members.identity_hash(IdentityKey(row.channel, row.external_id))
            for row in identities
        ]
        if not hashes:
            return False
        async with self._db.reading() as session:
            retired = await session.scalar(
                select(RetiredIdentity.identity_hash).where(
                    RetiredIdentity.identity_hash.in_(hashes)
                )
            )
        return retired is not None
