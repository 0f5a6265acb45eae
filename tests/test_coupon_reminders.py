"""A member hears once, a few days ahead, that a coupon of theirs is about to expire: through
the notices outbox, in their language, never for a coupon used up or voided, and not at all
when the shop turns the reminder off."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.runtime import Runtime, build_runtime
from app.settings import Settings
from core.db.models import Notice
from core.members.accounts import IdentityKey
from core.notices.outbox import SKIPPED, NoticeKind
from core.offers.campaigns import CampaignSpec
from tests.clocks import StoppedClock
from tests.data import enrol
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.telegram_member import TelegramMember, text_of, webhook_client, webhook_delivery

START = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> StoppedClock:
    return StoppedClock(START)


@pytest.fixture
async def shop(telegram_settings: Settings, clock: StoppedClock) -> AsyncIterator[Runtime]:
    built = build_runtime(telegram_settings, clock=clock)
    # Coupons valid for ten days once issued.
    await built.program.coupons.create_campaign(
        CampaignSpec(slug="spring", name="Spring", kind="percent", value="15", valid_days=10),
        actor="marketer",
    )
    try:
        yield built
    finally:
        await built.close()


async def reminders(runtime: Runtime, member_id: int) -> list[Notice]:
    async with runtime.db.reading() as session:
        return list(
            await session.scalars(
                select(Notice).where(
                    Notice.member_id == member_id,
                    Notice.kind == str(NoticeKind.COUPON_EXPIRING),
                )
            )
        )


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "⏳ Your coupon {code} (15% off) expires on 3/11/26. Use it before then!"),
        (
            "ru",
            "⏳ Ваш купон {code} (скидка 15\xa0%) действует до 11.03.2026."
            " Успейте воспользоваться!",
        ),
        (
            "fa",
            "⏳ کوپن {code} شما (15% تخفیف) در تاریخ 2026/3/11 منقضی می\u200cشود."
            " پیش از آن از آن استفاده کنید!",
        ),
    ],
)
async def test_the_member_is_reminded_once_in_their_language(
    shop: Runtime,
    fake_telegram: FakeTelegramAPI,
    clock: StoppedClock,
    language: str,
    expected: str,
) -> None:
    async with webhook_client(shop) as client:
        ann = TelegramMember(
            fake_telegram, webhook_delivery(client), user_id=6161, language_code=language
        )
        await ann.sign_up()
        member = await shop.program.members.find(IdentityKey("telegram", "6161"))
        assert member is not None
        coupon = await shop.program.coupons.issue("spring", member.id)
        await shop.dispatch_notices(10)  # "a coupon for you"

        # Seven days left: more than the default three.
        clock.advance(timedelta(days=3))
        assert await shop.program.coupon_reminders.remind_due() == 0
        # Three days left (to the minute): the reminder.
        clock.advance(timedelta(days=4))
        assert await shop.program.coupon_reminders.remind_due() == 1
        before = len(ann.received)
        assert (await shop.dispatch_notices(10)).sent == 1
        [sent] = ann.received[before:]
        assert text_of(sent).startswith(expected.format(code=coupon.code))

        # The hourly job again, and the day after: nothing more.
        assert await shop.program.coupon_reminders.remind_due() == 0
        clock.advance(timedelta(days=1))
        assert await shop.program.coupon_reminders.remind_due() == 0
        assert (await shop.dispatch_notices(10)).sent == 0
        [notice] = await reminders(shop, member.id)
        assert notice.dedupe_key == f"expiring:coupon:{coupon.id}"
        assert json.loads(notice.payload)["code"] == coupon.code
        assert notice.marketing is False


async def test_no_reminder_for_a_used_or_voided_coupon_or_an_expired_one(
    shop: Runtime, clock: StoppedClock
) -> None:
    program = shop.program
    ann = await enrol(shop, "ann")
    used = await program.coupons.issue("spring", ann.id)
    voided = await program.coupons.issue("spring", ann.id)
    kept = await program.coupons.issue("spring", ann.id)
    await program.coupons.redeem(
        used.code, redemption_id="R-1", actor="till", order_amount="100", member_id=ann.id
    )
    await program.coupons.void(voided.code)

    clock.advance(timedelta(days=8))
    assert await program.coupon_reminders.remind_due() == 1
    [notice] = await reminders(shop, ann.id)
    assert json.loads(notice.payload)["code"] == kept.code

    # A coupon past its date is not "about to expire".
    late = await enrol(shop, "late")
    await program.coupons.issue("spring", late.id)
    clock.advance(timedelta(days=11))
    assert await program.coupon_reminders.remind_due() == 0
    assert await reminders(shop, late.id) == []


async def test_the_campaigns_end_counts_when_it_comes_first(
    shop: Runtime, clock: StoppedClock
) -> None:
    program = shop.program
    ann = await enrol(shop, "ann")
    # A coupon of a campaign that ends in two days works no longer than that.
    await program.coupons.create_campaign(
        CampaignSpec(
            slug="weekend",
            name="Weekend",
            kind="free_item",
            item="Coffee",
            ends_at=START + timedelta(days=2),
        ),
        actor="marketer",
    )
    coupon = await program.coupons.issue("weekend", ann.id)
    assert await program.coupon_reminders.remind_due() == 1
    [notice] = await reminders(shop, ann.id)
    payload = json.loads(notice.payload)
    assert (payload["code"], payload["item"]) == (coupon.code, "Coffee")
    assert payload["valid_until"] == (START + timedelta(days=2)).isoformat()


async def test_off_when_the_rule_is_zero_and_marketing_when_the_shop_says_so(
    shop: Runtime, clock: StoppedClock
) -> None:
    program = shop.program
    ann = await enrol(shop, "ann")
    await program.coupons.issue("spring", ann.id)
    await program.rules.update(actor="test", coupon_reminder_days=0)
    clock.advance(timedelta(days=9))
    assert await program.coupon_reminders.remind_due() == 0
    assert await reminders(shop, ann.id) == []

    await program.rules.update(
        actor="test", coupon_reminder_days=3, coupon_reminder_is_marketing=True
    )
    assert await program.coupon_reminders.remind_due() == 1
    [notice] = await reminders(shop, ann.id)
    assert notice.marketing is True
    # Ann did not opt in to offers: the reminder is not sent to her.
    await shop.dispatch_notices(10)
    [notice] = await reminders(shop, ann.id)
    assert notice.status == SKIPPED
