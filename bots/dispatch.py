"""The notice dispatcher: delivers what the core put in the outbox through the member's
messenger, and records what became of each notice.

Several processes may run it at once (and a scheduler may call it too): each claims its own
batch (core/notices/outbox.py), so every notice is delivered by one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from itertools import groupby

from bots.outbound import Outbound, Outcome
from core.members.activity import refused_for_good
from core.notices.outbox import (
    SKIP_ERASED,
    SKIP_NO_CHANNEL,
    SKIP_NO_CONSENT,
    SKIP_UNKNOWN_KIND,
    ClaimedNotice,
    Notices,
    RecipientIdentity,
)
from core.rules.book import RuleBook
from core.shared.outage import Outage
from handlers.render.i18n import Translator
from handlers.render.notices import NoticeTexts, UnknownNotice

DEFAULT_BATCH = 100
DEFAULT_INTERVAL_SECONDS = 2.0
# Members served at once within a batch: one member's notices still go out in order.
DEFAULT_CONCURRENCY = 8
# The program's currency (for coupon values) may lag a marketer's change by this much.
RULES_MAX_AGE_SECONDS = 60.0

log = logging.getLogger(__name__)

ChannelMap = Callable[[], Mapping[str, Outbound]]


@dataclass
class DispatchReport:
    claimed: int = 0
    sent: int = 0
    skipped: int = 0
    # Not delivered this time, to be tried again after a backoff.
    retrying: int = 0
    # Not delivered after the last attempt.
    failed: int = 0

    def add(self, other: DispatchReport) -> None:
        self.claimed += other.claimed
        self.sent += other.sent
        self.skipped += other.skipped
        self.retrying += other.retrying
        self.failed += other.failed


class NoticeDispatcher:
    def __init__(
        self,
        notices: Notices,
        rules: RuleBook,
        texts: Translator,
        channels: ChannelMap,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        self.notices = notices
        self._rules = rules
        self._texts = texts
        # Asked on every batch: channels may be attached after start (the console).
        self._channels = channels
        self._concurrency = concurrency

    async def dispatch(self, limit: int = DEFAULT_BATCH) -> DispatchReport:
        """Claim up to `limit` due notices, deliver each, and record the outcomes."""
        report = DispatchReport()
        if not await self.notices.has_due():
            return report
        claimed = await self.notices.claim_batch(limit)
        report.claimed = len(claimed)
        if not claimed:
            return report
        rules = await self._rules.current(max_age=RULES_MAX_AGE_SECONDS)
        renderer = NoticeTexts(self._texts, currency=rules.currency)
        channels = dict(self._channels())
        gate = asyncio.Semaphore(self._concurrency)

        async def serve(member_notices: list[ClaimedNotice]) -> None:
            async with gate:
                for notice in member_notices:
                    report.add(await self._deliver(notice, renderer, channels))

        by_member = sorted(claimed, key=lambda notice: (notice.member_id, notice.id))
        await asyncio.gather(
            *(serve(list(group)) for _, group in groupby(by_member, key=lambda n: n.member_id))
        )
        return report

    async def _deliver(
        self, notice: ClaimedNotice, renderer: NoticeTexts, channels: Mapping[str, Outbound]
    ) -> DispatchReport:
        try:
            return await self._try(notice, renderer, channels)
        except Exception as error:
            # One broken notice must not stop the batch; it is retried like a network error.
            log.exception("notice %s could not be delivered", notice.id)
            return await self._failed(notice, f"{type(error).__name__}: {error}", None)

    async def _try(
        self, notice: ClaimedNotice, renderer: NoticeTexts, channels: Mapping[str, Outbound]
    ) -> DispatchReport:
        recipient = await self.notices.recipient(notice.member_id)
        if recipient is None or recipient.erased:
            return await self._skipped(notice, SKIP_ERASED)
        if notice.marketing and not recipient.marketing_opt_in:
            return await self._skipped(notice, SKIP_NO_CONSENT)
        try:
            replies = renderer.render(notice.kind, notice.payload, recipient.language)
        except UnknownNotice:
            return await self._skipped(notice, SKIP_UNKNOWN_KIND)
        refusal: tuple[str, str] | None = None
        # Refused for good (blocked bot, dead number, STOP): marked with the outcome, so no
        # later notice or broadcast tries it again until the member writes from it.
        refused: list[RecipientIdentity] = []
        # The account the member wrote from last first; one that cannot be reached (blocked
        # bot, closed WhatsApp window) gives way to the next.
        for identity in recipient.identities:
            channel = channels.get(identity.channel)
            if channel is None:
                continue
            delivery = await channel.send_outbound(
                identity.external_id, replies, key=f"notice:{notice.id}"
            )
            if delivery.outcome is Outcome.SENT:
                await self.notices.mark_sent(notice, identity.channel, refused=refused)
                return DispatchReport(sent=1)
            if delivery.outcome is Outcome.FAILED:
                wait = delivery.retry_after
                return await self._failed(
                    notice,
                    delivery.detail,
                    identity.channel,
                    retry_after=timedelta(seconds=wait) if wait is not None else None,
                    refused=refused,
                )
            if refused_for_good(delivery.detail):
                refused.append(identity)
            refusal = refusal or (identity.channel, delivery.detail)
        if refusal is not None:
            return await self._skipped(notice, refusal[1], refusal[0], refused=refused)
        return await self._skipped(notice, SKIP_NO_CHANNEL)

    async def _skipped(
        self,
        notice: ClaimedNotice,
        reason: str,
        channel: str | None = None,
        *,
        refused: Sequence[RecipientIdentity] = (),
    ) -> DispatchReport:
        log.info("notice %s skipped: %s", notice.id, reason)
        await self.notices.mark_skipped(notice, reason, channel, refused=refused)
        return DispatchReport(skipped=1)

    async def _failed(
        self,
        notice: ClaimedNotice,
        error: str,
        channel: str | None,
        *,
        retry_after: timedelta | None = None,
        refused: Sequence[RecipientIdentity] = (),
    ) -> DispatchReport:
        if await self.notices.mark_failed(
            notice, error or "failed", channel, retry_after=retry_after, refused=refused
        ):
            log.info("notice %s will be retried: %s", notice.id, error)
            return DispatchReport(retrying=1)
        log.warning("notice %s failed for good: %s", notice.id, error)
        return DispatchReport(failed=1)

    async def run_forever(
        self,
        stop: asyncio.Event,
        *,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        limit: int = DEFAULT_BATCH,
    ) -> None:
        """Dispatch until `stop` is set; a batch in progress is finished first, so nothing
        is left claimed (and waiting for its lease to expire) by a clean shutdown.

        A failing batch (the database or Redis away, or a bug) never ends the loop: the
        failure is logged once, at ERROR (with its traceback if it is a bug), the next
        batch is tried after a growing pause, and the end of the outage is logged once."""
        outage = Outage("notice dispatch", log)
        while not stop.is_set():
            pause = interval
            try:
                report = await self.dispatch(limit)
            except Exception as error:
                report = DispatchReport()
                pause = max(interval, outage.failed(error))
            else:
                outage.recovered()
            if report.claimed >= limit:
                continue  # more are waiting: no pause
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
