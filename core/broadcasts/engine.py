"""The broadcast engine: takes a broadcast's queued recipients in batches and sends each one
its message through an injected `Sender` (the channels), at the rates a `RateLimiter` holds
across every worker process.

Crash safety. A batch is claimed in one short transaction (PostgreSQL: FOR UPDATE SKIP
LOCKED, so workers take different rows; SQLite: the write lock): its rows become "sending"
until `claimed_until`. Outcomes are written in groups, at least every FLUSH_EVERY seconds
(one commit per recipient would cap a worker at what the disk syncs), and only if the claim is
still that worker's (status sending, same attempt). A worker killed mid-batch leaves its rows
claimed (a live worker renews its lease every third of it); when the lease runs out another
worker takes them again, so nobody is lost, and only the sends "in flight" (sent within the
last FLUSH_EVERY seconds, not yet written) can reach their member twice (VK drops even those,
see below).

VK takes up to 100 recipients a request (messages.send with peer_ids) at 20 requests/s: the
recipients of a batch whose account is on a channel that the Sender says takes many
(`group_limit`) and whose message is the very same wait for one another in a `Coalescer`
(core.broadcasts.coalescer, which says when a group goes) and go as one request, one limiter
slot for all; each then records its own outcome. Every send of a broadcast carries the key
"broadcast:<id>:round:<round>" (VK's random_id comes from it): one random_id can cover a
request of many peers because VK drops a repeated random_id per peer (per conversation,
for about an hour), so on VK it still means "this broadcast, this member": a resend after a
crash is dropped for every peer it reaches again, however the groups were made up the second
time, and a group of one (a personalised message) carries the same id as a group of many.
`round` tells the sends apart that are meant to be separate: a triggered broadcast queues a
row of one round more each time it fires for the member again (core.broadcasts.triggers).

Per recipient, in order: the variant by a hash of (broadcast, member) (the holdout gets
nothing); quiet hours in the member's own time zone (queued again for the morning); the coupon,
issued once per delivery row (broadcast, member, round) with the row locked and its code
written with the issue; then the member's accounts, first that can reach them: free text, or
on WhatsApp outside the 24-hour window the variant's approved template, else skipped with the
reason. A skipped (or finally failed) recipient's coupon is taken back with its outcome.

A 429 holds the channel's lane for every worker (`RateLimiter.hold`) and puts the row back for
after the wait. The limiter hears when each send came back (`RateLimiter.sent`): one that came
back late counts in its lane's window from then. The broadcast's state is read while a batch
sends (every `STATE_EVERY` seconds, by a task of its own: never between a sender's slot and its
send): a pause or cancel stops the batch and gives its untouched rows back.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import time
from asyncio import FIRST_COMPLETED as FIRST
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, and_, bindparam, func, or_, select, true, update

from core.broadcasts.broadcasts import (
    CANCELLED,
    FAILED,
    IN_FLIGHT,
    QUEUED,
    SENDING,
    SENT,
    SKIPPED,
    Broadcasts,
    take_back_coupons_in,
)
from core.broadcasts.coalescer import Coalescer
from core.broadcasts.images import BroadcastImage, ImageUnavailable
from core.broadcasts.render import (
    COUPON_STAND_IN,
    PLACEHOLDER_VALUES,
    Numerals,
    Outgoing,
    Personal,
    Wording,
    render,
    template_variables,
    text_language,
    uses,
)
from core.broadcasts.spec import HOLDOUT, BroadcastSpec, Template, Variant
from core.db.database import Database
from core.db.failures import is_infrastructure_failure
from core.db.models import BroadcastDelivery, Member
from core.db.rates import RateLimiter
from core.feedback.service import Feedback
from core.members.activity import (
    BLOCKED,
    MARK_UNREACHABLE,
    NOT_CONNECTED,
    WHATSAPP_WINDOW,
    reachable_accounts,
    refused_for_good,
    refused_row,
)
from core.offers.coupons import Coupons
from core.rules.book import RuleBook
from core.rules.sections import ProgramRules
from core.shared.clock import Clock
from core.shared.errors import CouponRefused, MemberNotFound
from core.shared.quiet_hours import quiet_until, zone_of
from core.tiers.tiers import Tiers

log = logging.getLogger(__name__)

# A batch is one claim, one read of its members and accounts, and one lease; sends overlap
# up to DEFAULT_CONCURRENCY (the platform's answer is what a send mostly waits for).
DEFAULT_BATCH = 200
DEFAULT_CONCURRENCY = 64
DEFAULT_LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 3
RETRY_BACKOFF = timedelta(seconds=30)
# Outcomes are written in groups: every this many seconds, or this many outcomes.
FLUSH_EVERY = 0.1
FLUSH_ROWS = 100
# How stale the broadcast's state may be when a send starts (pause/cancel within a second).
STATE_EVERY = 0.5
# Reasons a recipient is skipped.
SKIP_HOLDOUT = HOLDOUT
SKIP_UNREACHABLE = "unreachable"
SKIP_BLOCKED = BLOCKED
SKIP_WHATSAPP_WINDOW = WHATSAPP_WINDOW
# The member's accounts are all on messengers this process has no connection to (a console
# member while only another terminal's member is connected): nothing is wrong with them.
SKIP_NOT_CONNECTED = NOT_CONNECTED
SKIP_COUPON = "coupon_refused"
SKIP_GONE = "member_gone"
QUIET = "quiet_hours"
SOURCE = "broadcast"


class SendOutcome(StrEnum):
    SENT = "sent"
    # This account cannot get it (blocked bot, dead number, closed WhatsApp window).
    UNREACHABLE = "unreachable"
    # May pass later (network, 5xx, a rate limit with retry_after).
    FAILED = "failed"


@dataclass(frozen=True)
class SendResult:
    outcome: SendOutcome
    detail: str = ""
    retry_after: float | None = None


class Sender(Protocol):
    """The channels as the engine sees them (built in app/, over bots/outbound.py)."""

    def channels(self) -> Collection[str]:
        """The channels that can send now, by the name identities carry."""
        ...

    async def send(
        self, channel: str, external_id: str, message: Outgoing, *, key: str
    ) -> SendResult:
        """Send once: a 429 comes back at once as FAILED with its retry_after."""
        ...

    async def send_template(
        self,
        channel: str,
        external_id: str,
        template: Template,
        variables: Mapping[str, str],
        *,
        key: str,
    ) -> SendResult: ...

    def group_limit(self, channel: str) -> int:
        """How many accounts one `send_many` of `channel` may name (1: it has no such send)."""
        ...

    async def send_many(
        self, channel: str, external_ids: Sequence[str], message: Outgoing, *, key: str
    ) -> dict[str, SendResult]:
        """One request of the same message to each of `external_ids`: each one's result (a
        failure of the whole request, a rate limit or the network, fails them all)."""
        ...


class _Reporting:
    """The sender as the engine uses it: the limiter hears when each send came back (a send
    that came back late counts from then in its lane's window: the platform may have stamped
    it that late)."""

    def __init__(self, sender: Sender, limiter: RateLimiter) -> None:
        self._sender = sender
        self._limiter = limiter

    def channels(self) -> Collection[str]:
        return self._sender.channels()

    async def send(
        self, channel: str, external_id: str, message: Outgoing, *, key: str
    ) -> SendResult:
        try:
            return await self._sender.send(channel, external_id, message, key=key)
        finally:
            await self._limiter.sent(channel)

    async def send_template(
        self,
        channel: str,
        external_id: str,
        template: Template,
        variables: Mapping[str, str],
        *,
        key: str,
    ) -> SendResult:
        try:
            return await self._sender.send_template(
                channel, external_id, template, variables, key=key
            )
        finally:
            await self._limiter.sent(channel)

    def group_limit(self, channel: str) -> int:
        return self._sender.group_limit(channel)

    async def send_many(
        self, channel: str, external_ids: Sequence[str], message: Outgoing, *, key: str
    ) -> dict[str, SendResult]:
        try:
            return await self._sender.send_many(channel, external_ids, message, key=key)
        finally:
            await self._limiter.sent(channel)


@dataclass(frozen=True)
class ChannelRate:
    per_second: float
    # 0: no limit per chat.
    chat_per_second: float = 0


@dataclass(frozen=True)
class Preview:
    variant: Variant
    message: Outgoing
    # The WhatsApp template's variables, when the variant has a template.
    template_variables: dict[str, str] | None


@dataclass
class RunReport:
    claimed: int = 0
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    # Put back: quiet hours, a rate limit, a retry later, a pause.
    deferred: int = 0
    done: bool = False


@dataclass(frozen=True)
class _Claimed:
    id: int
    member_id: int
    attempt: int
    coupon_code: str | None
    # The row's round (BroadcastDelivery.round): part of the key every send carries.
    round: int = 0


@dataclass(frozen=True)
class _Account:
    channel: str
    external_id: str


@dataclass(frozen=True)
class _Recipient:
    member_id: int
    name: str
    language: str
    balance: int
    time_zone: str | None
    accounts: tuple[_Account, ...]


@dataclass
class _State:
    value: str
    read_at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class _Batch:
    """What every recipient of a batch shares, worked out once per batch."""

    broadcast_id: int
    spec: BroadcastSpec
    variants: tuple[Variant, ...]
    rules: ProgramRules
    # The shop's zone: a member's own, if they have none.
    zone: ZoneInfo
    # The variants that show the tier (asked of the tiers per recipient).
    tiered: frozenset[str]
    # The variants that show {points} (worded per recipient in their language).
    counted: frozenset[str]
    state: _State
    # The groups of sends to channels that take many recipients a request.
    coalescer: Coalescer[Outgoing, SendResult] | None = None
    # The broadcast's stored images, by the reference its spec names them by.
    images: Mapping[str, BroadcastImage] = field(default_factory=dict)


_TABLE = cast(Table, BroadcastDelivery.__table__)
# One outcome, only if the claim is still the recorder's (status sending, the same attempt):
# a worker whose lease ran out and whose row another took must not overwrite that one's.
_RECORD = (
    update(_TABLE)
    .where(
        _TABLE.c.id == bindparam("row_id"),
        _TABLE.c.status == IN_FLIGHT,
        _TABLE.c.attempts == bindparam("claimed"),
    )
    .values(
        status=bindparam("new_status"),
        reason=bindparam("new_reason"),
        variant=func.coalesce(bindparam("new_variant"), _TABLE.c.variant),
        channel=func.coalesce(bindparam("new_channel"), _TABLE.c.channel),
        attempts=bindparam("new_attempts"),
        not_before=bindparam("new_not_before"),
        sent_at=bindparam("new_sent_at"),
        claimed_until=None,
    )
)


class _Recorder:
    """Outcomes written a group at a time (one transaction for many recipients, not one each:
    on SQLite a commit costs a disk sync). What a killed worker had not written yet is sent
    again by the next one: at most FLUSH_EVERY seconds of sends, the "in flight" ones.

    The accounts a recipient's sends found refused are written in the same transaction as the
    recipient's outcome, and so is the take-back of a coupon issued to a recipient the message
    did not reach (core.broadcasts.broadcasts.take_back_coupons_in): a worker killed in
    between would otherwise leave a code with a member who never saw it, or the account passed
    over and the row queued, and the row's next try would report "unreachable" where the
    member had blocked the bot (sending to a blocked chat again delivers nothing).

    A sender never waits for a write: `add` only queues the outcome (and wakes the batch's
    flusher once FLUSH_ROWS are waiting); the flusher writes. What waits is bounded by the
    batch (a batch's rows are all its claim holds).

    Locking. Every write to this worker's claimed rows goes through `writing()`, one at a time:
    the outcomes and the lease renewal (`BroadcastEngine._renew`) would otherwise run at once on
    two connections and lock the same rows in different orders (a group in the order its sends
    came back, a renewal in the table's), which PostgreSQL ends as a deadlock by failing one
    of them: a failed group write stops the worker, and its in-flight recipients get the
    message again after the lease. Within a group the rows and the refused accounts are
    written in key order, so two workers' groups that touch the same accounts (two broadcasts
    to the same blocked members) lock them in one order too."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._pending: list[dict[str, object]] = []
        self._refused: list[dict[str, object]] = []
        self._lock = asyncio.Lock()
        self.full = asyncio.Event()

    def add(self, outcome: dict[str, object], refused: Sequence[dict[str, object]] = ()) -> None:
        self._pending.append(outcome)
        self._refused.extend(refused)
        if len(self._pending) >= FLUSH_ROWS:
            self.full.set()

    def writing(self) -> asyncio.Lock:
        """Held for a write to the worker's claimed rows (see Locking above)."""
        return self._lock

    async def flush(self) -> None:
        async with self._lock:
            self.full.clear()
            if not self._pending:
                return
            group, self._pending = self._pending, []
            refused, self._refused = self._refused, []
            try:
                async with self._db.transaction() as session:
                    await session.execute(_RECORD, sorted(group, key=_row_of))
                    if refused:
                        await session.execute(MARK_UNREACHABLE, sorted(refused, key=_account_of))
                    # A coupon issued for a message that did not reach the member is taken
                    # back with the outcome (a crash leaves neither without the other).
                    ended = [
                        cast(int, outcome["row_id"])
                        for outcome in group
                        if outcome["new_status"] in (SKIPPED, FAILED)
                    ]
                    if ended:
                        await take_back_coupons_in(
                            session, BroadcastDelivery.id.in_(ended), now=self._clock.now()
                        )
                    # A feedback question becomes answerable with its sending, and only then.
                    await Feedback.ask_sent_in(
                        session,
                        [
                            cast(int, outcome["row_id"])
                            for outcome in group
                            if outcome["new_status"] == SENT
                        ],
                    )
            except BaseException:
                # Not written: kept for the next write (or, if the worker dies, the lease).
                self._pending[:0] = group
                self._refused[:0] = refused
                raise


def _row_of(outcome: Mapping[str, object]) -> int:
    return cast(int, outcome["row_id"])


def _account_of(refused: Mapping[str, object]) -> tuple[str, str]:
    return cast(str, refused["refused_channel"]), cast(str, refused["refused_address"])


def variant_for(
    broadcast_id: int, member_id: int, variants: tuple[Variant, ...], holdout: int
) -> str:
    """The variant (or HOLDOUT) of a member: the same on every worker and every run."""
    digest = hashlib.sha256(f"broadcast:{broadcast_id}:{member_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
    if point < holdout / 100:
        return HOLDOUT
    point = (point - holdout / 100) / (1 - holdout / 100)
    edge = 0.0
    for variant in variants:
        edge += variant.share / 100
        if point < edge:
            return variant.key
    return variants[-1].key


def delivery_key(broadcast_id: int, round: int = 0) -> str:
    """What every send of the broadcast's round carries (VK's random_id comes from it): the
    same for every member, since VK drops a repeated random_id per member (module docstring)."""
    return f"broadcast:{broadcast_id}:round:{round}"


class BroadcastEngine:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        rules: RuleBook,
        broadcasts: Broadcasts,
        coupons: Coupons,
        tiers: Tiers,
        sender: Sender,
        limiter: RateLimiter,
        rates: Mapping[str, ChannelRate],
        *,
        default_language: str = "en",
        wording: Wording | None = None,
        batch: int = DEFAULT_BATCH,
        concurrency: int = DEFAULT_CONCURRENCY,
        lease: timedelta = DEFAULT_LEASE,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self._db = db
        self._clock = clock
        self._rules = rules
        self.broadcasts = broadcasts
        self._coupons = coupons
        self._tiers = tiers
        self._sender: Sender = _Reporting(sender, limiter)
        self.limiter = limiter
        self._rates = dict(rates)
        self._default_language = default_language
        self._wording = wording or Numerals()
        self.batch = batch
        self._concurrency = concurrency
        self.lease = lease
        self._max_attempts = max_attempts
        self._recorder = _Recorder(db, clock)

    # ------------------------------------------------------------------ runs
    async def run_due(self) -> RunReport:
        """Work every broadcast that is due until none has a recipient to take now."""
        total = RunReport()
        for broadcast_id in await self.broadcasts.due():
            try:
                report = await self.run(broadcast_id)
            except Exception as error:
                if is_infrastructure_failure(error):
                    raise  # the caller waits for the database or Redis with backoff
                # A broadcast this version cannot send (a bug, a spec it cannot read) holds
                # up no other: it is said each time, and the next one goes.
                log.exception("broadcast %s could not be sent; the others go on", broadcast_id)
                continue
            total.claimed += report.claimed
            total.sent += report.sent
            total.skipped += report.skipped
            total.failed += report.failed
            total.deferred += report.deferred
        return total

    async def run(
        self,
        broadcast_id: int,
        *,
        progress: Callable[[RunReport], None] | None = None,
        stop: asyncio.Event | None = None,
    ) -> RunReport:
        """Plan (once) and send a sending broadcast until no recipient can be taken now
        (the rest wait for their morning or a retry, or are another worker's); marks it done
        when nobody is left. Returns at once for a broadcast that is not sending."""
        report = RunReport()
        info = await self.broadcasts.get(broadcast_id)
        if info.state != SENDING or not self._sender.channels():
            # A process without any messenger would skip everyone as unreachable.
            return report
        try:
            images = await self.broadcasts.images(info)
        except ImageUnavailable as unavailable:
            # This broadcast fails, with the reason in its status; the others go on.
            log.warning("broadcast %s cannot be sent: %s", broadcast_id, unavailable)
            await self.broadcasts.fail(broadcast_id, str(unavailable))
            return report
        await self.broadcasts.plan(broadcast_id)
        spec = info.spec
        while stop is None or not stop.is_set():
            if await self.broadcasts.state(broadcast_id) != SENDING:
                return report
            claimed = await self._claim(broadcast_id)
            if not claimed:
                break
            report.claimed += len(claimed)
            await self._send_batch(broadcast_id, spec, claimed, report, progress, images)
        report.done = await self.broadcasts.finish_if_done(broadcast_id)
        return report

    async def _claim(self, broadcast_id: int) -> list[_Claimed]:
        now = self._clock.now()
        d = BroadcastDelivery
        takeable = and_(
            d.broadcast_id == broadcast_id,
            or_(
                and_(d.status == QUEUED, or_(d.not_before.is_(None), d.not_before <= now)),
                and_(d.status == IN_FLIGHT, d.claimed_until <= now),
            ),
        )
        async with self._db.transaction() as session:
            # A lease that ran out on the last attempt: failed, not tried for ever.
            await session.execute(
                update(d)
                .where(
                    d.broadcast_id == broadcast_id,
                    d.status == IN_FLIGHT,
                    d.claimed_until <= now,
                    d.attempts >= self._max_attempts,
                )
                .values(status=FAILED, reason="lease expired after the last attempt")
            )
            ids = list(
                (
                    await session.execute(
                        select(d.id)
                        .where(takeable)
                        .order_by(d.id)
                        .limit(self.batch)
                        .with_for_update(skip_locked=True)
                    )
                ).scalars()
            )
            if not ids:
                return []
            await session.execute(
                update(d)
                .where(d.id.in_(ids))
                .values(
                    status=IN_FLIGHT,
                    attempts=d.attempts + 1,
                    claimed_until=now + self.lease,
                    not_before=None,
                )
            )
            rows = (
                await session.execute(
                    select(d.id, d.member_id, d.attempts, d.coupon_code, d.round)
                    .where(d.id.in_(ids))
                    .order_by(d.id)
                )
            ).all()
        return [
            _Claimed(row.id, row.member_id, row.attempts, row.coupon_code, row.round)
            for row in rows
        ]

    async def _send_batch(
        self,
        broadcast_id: int,
        spec: BroadcastSpec,
        claimed: list[_Claimed],
        report: RunReport,
        progress: Callable[[RunReport], None] | None,
        images: Mapping[str, BroadcastImage],
    ) -> None:
        rules = await self._rules.current(max_age=60)
        recipients = await self._recipients([row.member_id for row in claimed])
        variants = spec.resolved()
        state = _State(SENDING)
        # Room for a full group of the channel that takes the most recipients a request.
        concurrency = max(
            [self._concurrency, *map(self._sender.group_limit, self._sender.channels())]
        )
        gate = asyncio.Semaphore(concurrency)
        coalescer: Coalescer[Outgoing, SendResult] = Coalescer(
            functools.partial(self._send_group, broadcast_id, state),
            [row.id for row in claimed],
            capacity=concurrency,
        )
        batch = _Batch(
            broadcast_id,
            spec,
            variants,
            rules,
            zone_of(rules.time_zone, ZoneInfo("UTC")),
            frozenset(
                variant.key
                for variant in variants
                if uses(variant, "tier") or uses(variant, "points_to_next_tier")
            ),
            frozenset(variant.key for variant in variants if uses(variant, "points")),
            state,
            coalescer,
            images,
        )

        async def serve(row: _Claimed) -> None:
            try:
                await serve_one(row)
            finally:
                coalescer.done(row.id)

        async def serve_one(row: _Claimed) -> None:
            async with gate:
                if not await self._still_sending(broadcast_id, state):
                    await self._release(row, state.value)
                    report.deferred += 1
                    return
                try:
                    outcome = await self._deliver(batch, row, recipients.get(row.member_id))
                except Exception:
                    # One broken recipient must not stop the batch: retried like a network error.
                    log.exception("broadcast %s: a delivery failed", broadcast_id)
                    outcome = await self._retry_or_fail(row, "internal error")
                setattr(report, outcome, getattr(report, outcome) + 1)
                if progress is not None:
                    progress(report)

        done = asyncio.Event()
        flusher = asyncio.create_task(self._flushing(done))
        watcher = asyncio.create_task(self._watching(broadcast_id, state, claimed, done))
        try:
            await asyncio.gather(*(serve(row) for row in claimed))
        finally:
            await coalescer.close()
            done.set()
            await watcher
            await flusher
            await self._recorder.flush()  # what came in during the flusher's last write

    async def _flushing(self, done: asyncio.Event) -> None:
        """Write the outcomes every FLUSH_EVERY seconds, or as soon as FLUSH_ROWS wait, while a
        batch sends (a batch may wait long on a rate limit: what was sent before it must not
        wait with it). Never cancelled mid-write: `done` ends it between two writes."""
        while not done.is_set():
            woken = asyncio.ensure_future(self._recorder.full.wait())
            ended = asyncio.ensure_future(done.wait())
            try:
                await asyncio.wait({woken, ended}, timeout=FLUSH_EVERY, return_when=FIRST)
            finally:
                woken.cancel()
                ended.cancel()
            await self._recorder.flush()

    async def _watching(
        self, broadcast_id: int, state: _State, claimed: list[_Claimed], done: asyncio.Event
    ) -> None:
        """Read the broadcast's state every STATE_EVERY seconds while a batch sends, so a
        sender never waits for that read between its slot and its send (a late send is
        jitter the rate's margin must absorb); and renew the batch's lease every third of it,
        so a batch that takes longer than the lease (a slow rate, a long retry_after) is
        never taken over from a worker that is still sending it. A dead worker renews
        nothing: its batch is taken over when the lease it had runs out."""
        renew_every = max(STATE_EVERY, self.lease.total_seconds() / 3)
        renewed = time.monotonic()
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), STATE_EVERY)
            if done.is_set():
                return
            try:
                value = await self.broadcasts.state(broadcast_id)
            except Exception:
                log.exception("broadcast %s: its state could not be read", broadcast_id)
                continue
            state.value, state.read_at = value, time.monotonic()
            if time.monotonic() - renewed >= renew_every:
                try:
                    await self._renew(claimed)
                except Exception:
                    log.exception("broadcast %s: its batch's lease was not renewed", broadcast_id)
                    continue
                renewed = time.monotonic()

    async def _renew(self, claimed: list[_Claimed]) -> None:
        """A new lease for the batch's rows that are still this worker's claim (sending, the
        same attempt): a row recorded already, or taken over, is left alone."""
        d = BroadcastDelivery
        by_attempt: dict[int, list[int]] = {}
        for row in claimed:
            by_attempt.setdefault(row.attempt, []).append(row.id)
        # Not while an outcome group is written (the _Recorder's Locking): the two would lock
        # the same rows in different orders. A group's write is short; the lease has room.
        async with self._recorder.writing(), self._db.transaction() as session:
            until = self._clock.now() + self.lease
            for attempt, ids in by_attempt.items():
                await session.execute(
                    update(d)
                    .where(d.id.in_(ids), d.status == IN_FLIGHT, d.attempts == attempt)
                    .values(claimed_until=until)
                )

    async def _still_sending(self, broadcast_id: int, state: _State) -> bool:
        """The state as the batch's watcher last read it (at most STATE_EVERY ago)."""
        return state.value == SENDING

    async def _recipients(
        self, member_ids: list[int], *, consenting_only: bool = True
    ) -> dict[int, _Recipient]:
        async with self._db.reading() as session:
            members = (
                await session.execute(
                    select(
                        Member.id,
                        Member.name,
                        Member.language,
                        Member.balance,
                        Member.time_zone,
                    ).where(
                        Member.id.in_(member_ids),
                        Member.erased_at.is_(None),
                        Member.merged_into_id.is_(None),
                        Member.marketing_opt_in.is_(True) if consenting_only else true(),
                    )
                )
            ).all()
            accounts: dict[int, list[_Account]] = {}
            # The account the member wrote from last first: the broadcast goes there, or to
            # the next one that can reach them (accounts never seen yet: newest first). One a
            # messenger refused for good is passed over until the member writes from it.
            for member_id, channel, external_id in (
                await session.execute(reachable_accounts(member_ids))
            ).all():
                accounts.setdefault(member_id, []).append(_Account(channel, external_id))
        return {
            row.id: _Recipient(
                member_id=row.id,
                name=row.name or "",
                language=row.language,
                balance=int(row.balance),
                time_zone=row.time_zone,
                accounts=tuple(accounts.get(row.id, ())),
            )
            for row in members
        }

    # ------------------------------------------------------------------ one recipient
    async def _deliver(self, batch: _Batch, row: _Claimed, recipient: _Recipient | None) -> str:
        """The report's field this recipient counts in."""
        broadcast_id, spec, variants = batch.broadcast_id, batch.spec, batch.variants
        key = variant_for(broadcast_id, row.member_id, variants, spec.holdout)
        if key == HOLDOUT:
            return await self._skip(row, SKIP_HOLDOUT, variant=HOLDOUT)
        if recipient is None:
            # Erased, merged or withdrew consent since planning.
            return await self._skip(row, SKIP_GONE, variant=key)
        variant = next(v for v in variants if v.key == key)
        now = self._clock.now()
        zone = zone_of(recipient.time_zone, batch.zone) if recipient.time_zone else batch.zone
        morning = quiet_until(now, zone, spec.quiet_hours)
        if morning is not None:
            # The member's night is nobody's fault: the wait takes none of the attempts.
            return await self._defer(row, morning, QUIET, variant=key, counts=False)
        channels = self._sender.channels()
        reachable = [account for account in recipient.accounts if account.channel in channels]
        if not reachable:
            # None left to try (every one refused for good) is unreachable; accounts only on
            # messengers not connected here are not.
            reason = SKIP_NOT_CONNECTED if recipient.accounts else SKIP_UNREACHABLE
            return await self._skip(row, reason, variant=key)
        coupon = row.coupon_code
        if spec.coupon_campaign is not None and coupon is None:
            try:
                coupon = await self._issue_coupon(row, spec.coupon_campaign)
            except CouponRefused as no_coupon:
                log.info("broadcast %s: no coupon (%s)", broadcast_id, no_coupon.code)
                return await self._skip(row, SKIP_COUPON, variant=key)
        personal = await self._personal(
            recipient,
            variant,
            batch.rules,
            coupon or "",
            tiered=key in batch.tiered,
            counted=key in batch.counted,
        )
        message = render(
            variant,
            broadcast_id=broadcast_id,
            language=recipient.language,
            default_language=self._default_language,
            values=personal.values(),
            images=batch.images,
        )
        refusal: tuple[str, str] | None = None
        # Refused for good (blocked, dead number, STOP): not tried again until they write.
        refused: list[_Account] = []
        key_text = delivery_key(broadcast_id, row.round)
        for account in reachable:
            group_limit = self._sender.group_limit(account.channel)
            if group_limit > 1 and batch.coalescer is not None:
                # With the batch's others that get the same message (one request for all).
                grouped = await batch.coalescer.send(
                    account.channel,
                    account.external_id,
                    message,
                    key=key_text,
                    limit=group_limit,
                    sender=row.id,
                )
                if grouped is None:
                    await self._release(row, batch.state.value, refused=refused)
                    return "deferred"
                result = grouped
            else:
                rate = self._rates.get(account.channel, ChannelRate(0))
                await self.limiter.acquire(
                    account.channel,
                    rate.per_second,
                    chat=account.external_id,
                    chat_per_second=rate.chat_per_second,
                )
                if not await self._still_sending(broadcast_id, batch.state):
                    # Paused or cancelled while this one waited for its slot (at most
                    # concurrency / rate seconds): nothing was sent yet, the row goes back.
                    await self._release(row, batch.state.value, refused=refused)
                    return "deferred"
                result = await self._sender.send(
                    account.channel, account.external_id, message, key=key_text
                )
            if (
                result.outcome is SendOutcome.UNREACHABLE
                and result.detail == SKIP_WHATSAPP_WINDOW
                and variant.whatsapp_template is not None
            ):
                result = await self._sender.send_template(
                    account.channel,
                    account.external_id,
                    variant.whatsapp_template,
                    template_variables(variant.whatsapp_template, personal.values()),
                    key=key_text,
                )
            if result.outcome is SendOutcome.SENT:
                return await self._finish(
                    row,
                    status=SENT,
                    variant=key,
                    channel=account.channel,
                    sent_at=now,
                    refused=refused,
                )
            if result.outcome is SendOutcome.FAILED:
                if result.retry_after is not None:
                    # Every worker of this channel waits it out; this one is sent after.
                    await self.limiter.hold(account.channel, result.retry_after)
                    return await self._defer(
                        row,
                        self._clock.now() + timedelta(seconds=result.retry_after),
                        "rate_limited",
                        variant=key,
                        channel=account.channel,
                        counts=False,
                        refused=refused,
                    )
                return await self._retry_or_fail(row, result.detail, variant=key, refused=refused)
            if refused_for_good(result.detail):
                refused.append(account)
            refusal = refusal or (account.channel, result.detail)
        assert refusal is not None
        channel, detail = refusal
        kept = (SKIP_BLOCKED, SKIP_WHATSAPP_WINDOW, SKIP_NOT_CONNECTED)
        reason = detail if detail in kept else SKIP_UNREACHABLE
        return await self._skip(row, reason, variant=key, channel=channel, refused=refused)

    async def _send_group(
        self,
        broadcast_id: int,
        state: _State,
        channel: str,
        key: str,
        message: Outgoing,
        external_ids: list[str],
    ) -> dict[str, SendResult] | None:
        """One request of a group (the coalescer's): one slot of the channel's rate, as the
        platform counts requests (a channel that takes many has no rate per chat here); None
        if the broadcast was paused or cancelled while it waited (nothing was sent)."""
        rate = self._rates.get(channel, ChannelRate(0))
        await self.limiter.acquire(channel, rate.per_second)
        if not await self._still_sending(broadcast_id, state):
            return None
        return await self._sender.send_many(channel, external_ids, message, key=key)

    async def _issue_coupon(self, row: _Claimed, campaign_slug: str) -> str:
        """The member's coupon of this broadcast: issued once, its code written with it."""
        d = BroadcastDelivery
        async with self._db.transaction() as session:
            held = await session.scalar(
                select(d.coupon_code).where(d.id == row.id).with_for_update()
            )
            if held is not None:
                return held
            campaign = await self._coupons.campaigns.campaign_in(session, campaign_slug, lock=True)
            issued = await self._coupons.issuing.issue_in(
                session, campaign, row.member_id, source=SOURCE, notify=False
            )
            await session.execute(update(d).where(d.id == row.id).values(coupon_code=issued.code))
            return issued.code

    async def _personal(
        self,
        recipient: _Recipient,
        variant: Variant,
        rules: ProgramRules,
        coupon: str,
        *,
        tiered: bool | None = None,
        counted: bool | None = None,
    ) -> Personal:
        """`tiered`, `counted`: whether the variant shows the tier, {points} (known per
        batch; None: look)."""
        tier = ""
        to_next = ""
        if tiered is None:
            tiered = uses(variant, "tier") or uses(variant, "points_to_next_tier")
        if counted is None:
            counted = uses(variant, "points")
        # In the language the text is written in (the member's, or the shop's default).
        language = text_language(variant, recipient.language, self._default_language)
        if tiered:
            status = await self._tiers.status(recipient.member_id, rules)
            # Never a blank in the text: a member in no tier is said to be so, and the top
            # tier (or no tiers) leaves nothing to go.
            tier = (
                status.tier.name.get(recipient.language)
                if status.tier is not None
                else self._wording.no_tier(language)
            )
            to_next = _number(status.to_next) if status.to_next is not None else "0"
        return Personal(
            name=recipient.name or self._wording.nameless(language),
            balance=recipient.balance,
            points=self._wording.points(language, recipient.balance) if counted else "",
            tier=tier,
            points_to_next_tier=to_next,
            coupon=coupon,
        )

    # ------------------------------------------------------------------ preview
    async def preview(self, broadcast_id: int, member_id: int | None = None) -> list[Preview]:
        """Each variant's message in each of its languages, placeholders shown as such; for
        a member, their own variant in their language with their values (their coupon if it
        was issued), or nothing if they are in the holdout."""
        info = await self.broadcasts.get(broadcast_id)
        rules = await self._rules.current()
        try:
            images = await self.broadcasts.images(info)
        except ImageUnavailable:
            # Shown without it (the variant still names it): it is said, not a traceback.
            images = {}
        recipient = None
        coupon = ""
        variants = info.spec.resolved()
        if member_id is not None:
            own = variant_for(broadcast_id, member_id, variants, info.spec.holdout)
            variants = tuple(variant for variant in variants if variant.key == own)
            found = await self._recipients([member_id], consenting_only=False)
            recipient = found.get(member_id)
            if recipient is None:
                raise MemberNotFound(member_id)
            async with self._db.reading() as session:
                coupon = (
                    await session.scalar(
                        select(BroadcastDelivery.coupon_code)
                        .where(
                            BroadcastDelivery.broadcast_id == broadcast_id,
                            BroadcastDelivery.member_id == member_id,
                        )
                        .order_by(BroadcastDelivery.round.desc())
                        .limit(1)
                    )
                    or ""
                )
        previews = []
        for variant in variants:
            if recipient is not None:
                # Before the send the member has no code yet: a stand-in that reads as one.
                personal = await self._personal(
                    recipient, variant, rules, coupon or COUPON_STAND_IN
                )
                values = personal.values()
                languages = [recipient.language]
            else:
                values = PLACEHOLDER_VALUES
                languages = variant.languages()
            for language in languages:
                message = render(
                    variant,
                    broadcast_id=broadcast_id,
                    language=language,
                    default_language=self._default_language,
                    values=values,
                    images=images,
                )
                template = None
                if variant.whatsapp_template is not None:
                    template = template_variables(variant.whatsapp_template, values)
                previews.append(Preview(variant, message, template))
        return previews

    # ------------------------------------------------------------------ outcomes
    async def _finish(
        self,
        row: _Claimed,
        *,
        status: str,
        reason: str | None = None,
        variant: str | None = None,
        channel: str | None = None,
        attempts: int | None = None,
        not_before: datetime | None = None,
        sent_at: datetime | None = None,
        refused: Sequence[_Account] = (),
    ) -> str:
        """Record an outcome (in the next group write, with the accounts found refused) if the
        claim is still ours; the report's field it counts in."""
        at = self._clock.now()
        self._recorder.add(
            {
                "row_id": row.id,
                "claimed": row.attempt,
                "new_status": status,
                "new_reason": reason,
                "new_variant": variant,
                "new_channel": channel,
                "new_attempts": row.attempt if attempts is None else attempts,
                "new_not_before": not_before,
                "new_sent_at": sent_at,
            },
            [refused_row(account, at) for account in refused],
        )
        return "deferred" if status == QUEUED else status

    async def _skip(
        self,
        row: _Claimed,
        reason: str,
        *,
        variant: str,
        channel: str | None = None,
        refused: Sequence[_Account] = (),
    ) -> str:
        return await self._finish(
            row, status=SKIPPED, reason=reason, variant=variant, channel=channel, refused=refused
        )

    async def _defer(
        self,
        row: _Claimed,
        until: datetime,
        reason: str,
        *,
        variant: str,
        channel: str | None = None,
        counts: bool = True,
        refused: Sequence[_Account] = (),
    ) -> str:
        """Queued again, for `until`; `counts=False` gives the attempt back (a rate limit is
        no fault of the recipient's)."""
        attempts = row.attempt if counts else row.attempt - 1
        return await self._finish(
            row,
            status=QUEUED,
            reason=reason,
            variant=variant,
            channel=channel,
            not_before=until,
            attempts=attempts,
            refused=refused,
        )

    async def _retry_or_fail(
        self,
        row: _Claimed,
        error: str,
        *,
        variant: str | None = None,
        refused: Sequence[_Account] = (),
    ) -> str:
        detail = (error or "failed")[:64]
        if row.attempt < self._max_attempts:
            wait = RETRY_BACKOFF * 2 ** (row.attempt - 1)
            return await self._finish(
                row,
                status=QUEUED,
                reason=detail,
                variant=variant,
                not_before=self._clock.now() + wait,
                refused=refused,
            )
        return await self._finish(
            row, status=FAILED, reason=detail, variant=variant, refused=refused
        )

    async def _release(
        self, row: _Claimed, state: str, *, refused: Sequence[_Account] = ()
    ) -> None:
        """Give an untouched claimed row back (a pause came mid-batch), or skip it (a cancel)."""
        if state == CANCELLED:
            await self._finish(row, status=SKIPPED, reason=CANCELLED, refused=refused)
        else:
            await self._finish(row, status=QUEUED, attempts=row.attempt - 1, refused=refused)


def _number(value: Decimal) -> str:
    return str(int(value)) if value == value.to_integral_value() else f"{value:.2f}"
