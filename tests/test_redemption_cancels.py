"""A returned order gives back what paid for it, exactly once: the points spent with `redeem`
(into lots with the expiries they were spent from; points whose date passed meanwhile come
back and expire at once) and a coupon's use (usable again unless it has expired)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.runtime import Runtime, build_runtime
from app.settings import Settings
from core.db.models import (
    Coupon,
    CouponCampaign,
    CouponRedemption,
    LedgerEntry,
    Member,
    Notice,
    PointLot,
    RedemptionCancel,
)
from core.members.accounts import IdentityKey
from core.notices.outbox import NoticeKind
from core.offers.campaigns import CampaignSpec, CouponKind
from core.segments.definition import parse_segment
from core.segments.query import conditions
from core.shared.errors import (
    CouponRedemptionNotFound,
    IdempotencyConflict,
    InvalidAmount,
    InvalidReference,
    RedemptionNotFound,
)
from handlers.messages import Incoming
from handlers.render.i18n import Translator
from handlers.render.notices import NoticeTexts
from tests.clocks import StoppedClock
from tests.data import count, enrol, registration, scalar
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.telegram_member import TelegramMember, webhook_client, webhook_delivery
from tests.test_cli import cli_env, run_cli
from tests.test_expiry import START, TTL_DAYS, clock, timed  # noqa: F401 - fixtures
from tests.test_linking import ask_for_code, say

__all__ = ["cli_env"]

DAY0 = START


async def entries(runtime: Runtime, member_id: int) -> list[tuple[str, int, int]]:
    async with runtime.db.reading() as session:
        rows = await session.scalars(
            select(LedgerEntry).where(LedgerEntry.member_id == member_id).order_by(LedgerEntry.id)
        )
        return [(row.reason, row.points, row.balance_after) for row in rows]


async def lots(runtime: Runtime, member_id: int) -> list[tuple[int, int, datetime | None]]:
    async with runtime.db.reading() as session:
        rows = await session.scalars(
            select(PointLot).where(PointLot.member_id == member_id).order_by(PointLot.id)
        )
        return [(lot.points, lot.remaining, lot.expires_at) for lot in rows]


async def notices(runtime: Runtime, member_id: int, kind: NoticeKind) -> list[dict[str, object]]:
    async with runtime.db.reading() as session:
        rows = await session.scalars(
            select(Notice)
            .where(Notice.member_id == member_id, Notice.kind == str(kind))
            .order_by(Notice.id)
        )
        return [json.loads(row.payload) for row in rows]


async def assert_consistent(runtime: Runtime, member_id: int) -> None:
    audit = await runtime.program.ledger.audit(member_id)
    assert audit.consistent, audit


async def redeemed_spring(runtime: Runtime) -> set[int]:
    """Who meets the segment condition "redeemed a coupon of spring" (consent aside)."""
    segment = parse_segment({"coupon": {"campaign": "spring"}})
    now = runtime.program.clock.now()
    async with runtime.db.reading() as session:
        return set(await session.scalars(select(Member.id).where(*conditions(segment, now=now))))


def texts() -> NoticeTexts:
    return NoticeTexts(Translator.load("en"))


# ---------------------------------------------------------------------- points, at the till
async def test_a_cancelled_redemption_gives_the_points_back_once_from_the_command_line(
    runtime: Runtime, cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    ann = await enrol(runtime, "ann")  # 100 welcome points
    purchases = runtime.program.purchases
    await purchases.credit(ann.card_code, "500", purchase_id="P1", actor="till")  # +50
    await purchases.redeem(ann.card_code, 120, redemption_id="R1", actor="till")  # 30 left

    assert await run_cli("redeem-cancel", "R1", "--reason", "order returned") == 0
    out, err = capsys.readouterr()
    assert out.strip() == "Redemption R1 cancelled: 120 points given back. Balance: 150.", err
    assert await run_cli("redeem-cancel", "R1") == 0
    out, _ = capsys.readouterr()
    assert out.strip() == (
        "Redemption R1 was already cancelled: 120 points given back. Balance: 150."
    )

    assert await runtime.program.ledger.balance(ann.id) == 150
    assert (await entries(runtime, ann.id))[-2:] == [
        ("redemption", -120, 30),
        ("redemption_cancel", 120, 150),
    ]
    cancel = await scalar(runtime, select(RedemptionCancel))
    assert (cancel.points, cancel.expired, cancel.reason, cancel.actor) == (
        120,
        0,
        "order returned",
        "operator",
    )
    await assert_consistent(runtime, ann.id)
    (told,) = await notices(runtime, ann.id, NoticeKind.POINTS_RETURNED)
    assert told == {"points": 120, "expired": 0, "balance": 150, "reference": "R1"}
    (history,) = await runtime.conversation.handle(Incoming("telegram", "ann", text="history"))
    assert "+120  Points returned: order cancelled" in history.text
    assert "−120  Paid with points" in history.text


async def test_partial_cancels_add_up_to_what_was_spent_and_no_more(
    runtime: Runtime, cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    bob = await enrol(runtime, "bob")
    await runtime.program.purchases.redeem(bob.card_code, 100, redemption_id="R2", actor="till")
    part = ("redeem-cancel", "R2", "--points")

    assert await run_cli(*part, "30", "--cancel-id", "C1") == 0
    assert capsys.readouterr().out.strip() == (
        "Redemption R2 cancelled: 30 points given back. 70 more can be given back. Balance: 30."
    )
    assert await run_cli(*part, "30", "--cancel-id", "C1") == 0  # the till retried
    assert "was already cancelled: 30 points given back. 70 more" in capsys.readouterr().out

    refusals = {
        (*part, "40", "--cancel-id", "C1"): "was already used for a different operation",
        (*part, "71", "--cancel-id", "C2"): "at most 70 points of redemption R2",
        (*part, "5"): "a partial cancel needs its own cancel id",
        (*part, "0", "--cancel-id", "C3"): "points to give back must be positive",
        ("redeem-cancel", "NOPE"): "no redemption of points with id 'NOPE'",
        ("redeem-cancel", "R2", "--reason", "x" * 257): "a reason of at most 256 characters",
    }
    for argv, message in refusals.items():
        assert await run_cli(*argv) == 1, argv
        out, err = capsys.readouterr()
        assert out == "" and message in err and "Traceback" not in err, (argv, err)
    assert await run_cli(*part, "many", "--cancel-id", "C4") == 2
    assert "invalid int value" in capsys.readouterr().err

    assert await run_cli("redeem-cancel", "R2") == 0  # the rest
    assert capsys.readouterr().out.strip() == (
        "Redemption R2 cancelled: 70 points given back. Balance: 100."
    )
    assert await run_cli(*part, "1", "--cancel-id", "C5") == 1
    assert "at most 0 points" in capsys.readouterr().err
    assert await runtime.program.ledger.balance(bob.id) == 100
    assert await count(runtime, RedemptionCancel) == 2
    await assert_consistent(runtime, bob.id)

    # Cancelled in parts, all of it: a whole cancel finds nothing left and says so.
    await runtime.program.purchases.redeem(bob.card_code, 10, redemption_id="R3", actor="till")
    for cancel_id in ("D1", "D2"):
        await runtime.program.purchases.cancel_redemption(
            "R3", actor="till", points=5, cancel_id=cancel_id
        )
    assert await run_cli("redeem-cancel", "R3") == 0
    assert capsys.readouterr().out.strip() == (
        "Redemption R3 was already cancelled in full: nothing is left to give back. Balance: 100."
    )


async def test_the_core_refuses_what_the_command_line_refuses(runtime: Runtime) -> None:
    purchases = runtime.program.purchases
    cat = await enrol(runtime, "cat")
    await purchases.redeem(cat.card_code, 50, redemption_id="R", actor="till")
    with pytest.raises(RedemptionNotFound) as missing:
        await purchases.cancel_redemption("P-unknown", actor="till")
    assert missing.value.code == "redemption_not_found"
    with pytest.raises(InvalidReference):
        await purchases.cancel_redemption(" ", actor="till")
    with pytest.raises(InvalidReference):
        await purchases.cancel_redemption("R", actor="till", points=1, cancel_id="x" * 65)
    with pytest.raises(InvalidAmount):
        await purchases.cancel_redemption("R", actor="till", points=-1, cancel_id="C")
    await purchases.cancel_redemption("R", actor="till", points=20, cancel_id="C")
    with pytest.raises(IdempotencyConflict):
        await purchases.cancel_redemption("R", actor="till", points=21, cancel_id="C")
    # A purchase's id is no redemption's.
    await purchases.credit(cat.card_code, "100", purchase_id="P", actor="till")
    with pytest.raises(RedemptionNotFound):
        await purchases.cancel_redemption("P", actor="till")
    assert await runtime.program.ledger.balance(cat.id) == 80


async def test_two_cancels_of_one_redemption_at_once_give_the_points_back_once(
    runtime: Runtime,
) -> None:
    purchases = runtime.program.purchases
    dan = await enrol(runtime, "dan")
    await purchases.redeem(dan.card_code, 90, redemption_id="R", actor="till")

    whole = await asyncio.gather(
        *(purchases.cancel_redemption("R", actor=f"till-{n}") for n in range(4))
    )

    assert sorted(result.replayed for result in whole) == [False, True, True, True]
    assert {result.points for result in whole} == {90}
    assert await runtime.program.ledger.balance(dan.id) == 100

    # Parts racing past what was spent: only those that fit go through.
    await purchases.redeem(dan.card_code, 100, redemption_id="S", actor="till")
    parts = await asyncio.gather(
        *(
            purchases.cancel_redemption("S", actor="till", points=40, cancel_id=f"C{n}")
            for n in range(4)
        ),
        return_exceptions=True,
    )
    done = [part for part in parts if not isinstance(part, BaseException)]
    assert len(done) == 2
    assert all(isinstance(part, InvalidAmount) for part in parts if part not in done)
    assert await runtime.program.ledger.balance(dan.id) == 80
    assert await count(runtime, RedemptionCancel) == 3
    await assert_consistent(runtime, dan.id)


async def test_paid_partly_with_points_and_returned_either_order_ends_the_same(
    runtime: Runtime,
) -> None:
    """The till's order: `redeem-cancel` then `refund`, with no debt on the way; the other
    order ends with the same balance, the returned points settling the refund's debt."""
    purchases = runtime.program.purchases
    outcomes = {}
    for name, cancel_first in (("eve", True), ("fay", False)):
        member = await enrol(runtime, name)  # 100
        # An order of 1000: 100 of it paid with points, 900 with money (+90 points).
        await purchases.redeem(
            member.card_code, 100, redemption_id=f"{name}-R", actor="till", order_amount="1000"
        )
        await purchases.credit(member.card_code, "900", purchase_id=f"{name}-P", actor="till")
        await purchases.redeem(member.card_code, 50, redemption_id=f"{name}-X", actor="till")
        # 40 left; the whole order comes back.
        if cancel_first:
            await purchases.cancel_redemption(f"{name}-R", actor="till")
            refund = await purchases.refund(f"{name}-P", refund_id=f"{name}-F", actor="till")
        else:
            refund = await purchases.refund(f"{name}-P", refund_id=f"{name}-F", actor="till")
            await purchases.cancel_redemption(f"{name}-R", actor="till")
        profile = await runtime.program.members.get(member.id)
        outcomes[name] = (
            refund.debt_added,
            profile.balance,
            profile.debt,
            [reason for reason, _, _ in await entries(runtime, member.id)][-3:],
        )
        await assert_consistent(runtime, member.id)
    assert outcomes == {
        "eve": (0, 50, 0, ["redemption", "redemption_cancel", "refund"]),
        "fay": (50, 50, 0, ["refund", "redemption_cancel", "debt_settlement"]),
    }


async def test_points_spent_before_a_merge_come_back_to_the_surviving_card(
    runtime: Runtime,
) -> None:
    older = await enrol(runtime, "older")  # 100
    newer = (await runtime.program.members.enrol(registration("newer", channel="vk"))).member
    await runtime.program.purchases.redeem(newer.card_code, 60, redemption_id="N", actor="t")
    code = await ask_for_code(runtime, "vk", "newer")
    assert "now one card" in await say(runtime, "telegram", "older", code)  # 40 moved over

    back = await runtime.program.purchases.cancel_redemption("N", actor="till")

    assert (back.member_id, back.points, back.balance) == (older.id, 60, 200)
    assert await scalar(runtime, select(Member.balance).where(Member.id == newer.id)) == 0
    for member_id in (older.id, newer.id):
        await assert_consistent(runtime, member_id)
    (told,) = await notices(runtime, older.id, NoticeKind.POINTS_RETURNED)
    assert told["points"] == 60


# ---------------------------------------------------------------------- points, by their lots
async def test_points_come_back_with_the_expiry_they_were_spent_with(
    timed: Runtime,  # noqa: F811
    clock: StoppedClock,  # noqa: F811
) -> None:
    program = timed.program
    ann = await enrol(timed, "ann")  # 100 welcome points, expiring on day 30
    clock.advance(days=10)
    await program.purchases.credit(ann.card_code, "50", purchase_id="P", actor="till")  # day 40
    clock.advance(days=10)
    await program.purchases.redeem(ann.card_code, 120, redemption_id="R", actor="till")
    day30, day40 = DAY0 + timedelta(days=30), DAY0 + timedelta(days=40)
    assert await lots(timed, ann.id) == [(100, 0, day30), (50, 30, day40)]

    # A part first: the last-drawn points, those expiring latest, come back first.
    clock.advance(days=5)
    part = await program.purchases.cancel_redemption("R", actor="till", points=10, cancel_id="C1")
    assert (part.points, part.expired, part.left, part.balance) == (10, 0, 110, 40)
    assert (await lots(timed, ann.id))[2:] == [(10, 10, day40)]

    # Day 35: the welcome points' date has passed. They come back, and expire at once.
    clock.advance(days=10)
    rest = await program.purchases.cancel_redemption("R", actor="till")
    assert (rest.points, rest.expired, rest.left, rest.balance) == (110, 100, 0, 50)
    assert (await lots(timed, ann.id))[3:] == [(100, 0, day30), (10, 10, day40)]
    assert (await entries(timed, ann.id))[-2:] == [
        ("redemption_cancel", 110, 150),
        ("expiry", -100, 50),
    ]
    await assert_consistent(timed, ann.id)
    told = await notices(timed, ann.id, NoticeKind.POINTS_RETURNED)
    assert told[-1] == {"points": 110, "expired": 100, "balance": 50, "reference": "R"}
    (en,) = texts().render("points_returned", told[-1], "en")
    assert en.text == (
        "↩️ 110 points came back to you: an order you paid with points was cancelled. "
        "Your balance: 50 points.\n"
        "Of these, 100 points had passed their expiry date and expired at once."
    )
    (ru,) = texts().render("points_returned", told[-1], "ru")
    assert ru.text.startswith("↩️ Вам вернули 110 баллов: заказ, оплаченный баллами, отменён.")
    assert "Из них сгорело по сроку сразу же: 100 баллов." in ru.text
    (fa,) = texts().render("points_returned", {**told[-1], "expired": 0}, "fa")
    assert "لغو شد" in fa.text and "\n" not in fa.text

    # The expiry job finds nothing of it left to expire, then takes the day-40 lots in time.
    assert (await program.expiry.expire_due()).points == 0
    clock.advance(days=6)
    assert (await program.expiry.expire_due()).points == 50
    assert await program.ledger.balance(ann.id) == 0
    await assert_consistent(timed, ann.id)


async def test_points_past_their_date_never_settle_a_debt(
    timed: Runtime,  # noqa: F811
    clock: StoppedClock,  # noqa: F811
) -> None:
    program = timed.program
    bob = await enrol(timed, "bob")  # 100, expiring on day 30
    clock.advance(days=1)
    await program.purchases.credit(bob.card_code, "40", purchase_id="P", actor="till")  # day 31
    await program.purchases.redeem(bob.card_code, 140, redemption_id="R", actor="till")
    await program.purchases.refund("P", refund_id="F", actor="till")  # 40 left as debt
    assert (await program.members.get(bob.id)).debt == 40

    clock.advance(days=29)  # day 30: the welcome lot's date has come, the purchase's not
    back = await program.purchases.cancel_redemption("R", actor="till")

    assert (back.points, back.expired) == (140, 100)
    profile = await program.members.get(bob.id)
    assert (profile.balance, profile.debt) == (0, 0), "the 40 still spendable settle the debt"
    assert [reason for reason, _, _ in await entries(timed, bob.id)][-3:] == [
        "redemption_cancel",
        "debt_settlement",
        "expiry",
    ]
    await assert_consistent(timed, bob.id)


# ---------------------------------------------------------------------- coupons
async def campaign(runtime: Runtime, slug: str, **limits: object) -> None:
    spec = CampaignSpec(
        slug=slug,
        name=slug.title(),
        kind=CouponKind.FIXED,
        value=Decimal("50"),
        **limits,  # type: ignore[arg-type]
    )
    await runtime.program.coupons.create_campaign(spec, actor="test")


async def coupon_state(runtime: Runtime, code: str) -> tuple[int, int, Decimal]:
    async with runtime.db.reading() as session:
        coupon = await session.scalar(select(Coupon).where(Coupon.code == code))
        assert coupon is not None
        owner = await session.get(CouponCampaign, coupon.campaign_id)
        assert owner is not None
        return coupon.uses, owner.redemptions, Decimal(owner.spent)


async def test_a_cancelled_coupon_use_makes_the_coupon_usable_again_once(
    runtime: Runtime, cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    ann = await enrol(runtime, "ann")
    await campaign(runtime, "spring", budget=Decimal("50"), per_member_limit=1)
    coupon = await runtime.program.coupons.issue("spring", ann.id)
    redeem = ("coupon-redeem", coupon.code, "--order-amount", "200", "--card", ann.card_code)
    assert await run_cli(*redeem, "--redemption-id", "U1") == 0
    assert await coupon_state(runtime, coupon.code) == (1, 1, Decimal("50.00"))
    assert await redeemed_spring(runtime) == {ann.id}
    capsys.readouterr()

    assert await run_cli("coupon-redeem-cancel", coupon.code.lower(), "--reason", "returned") == 0
    out, err = capsys.readouterr()
    until = coupon.valid_until.isoformat() if coupon.valid_until else ""
    assert out.strip() == (
        f"Use U1 of coupon {coupon.code} cancelled: the coupon can be used again"
        f"{' until ' + until if until else ''}. Uses left: 1."
    ), err
    assert await run_cli("coupon-redeem-cancel", coupon.code, "--redemption-id", "U1") == 0
    assert f"Use U1 of coupon {coupon.code} was already cancelled" in capsys.readouterr().out
    assert await coupon_state(runtime, coupon.code) == (0, 0, Decimal("0.00"))
    assert await redeemed_spring(runtime) == set()
    use = await scalar(runtime, select(CouponRedemption))
    assert (use.cancel_reason, use.cancelled_by, use.use_restored) == ("returned", "operator", True)
    (told,) = await notices(runtime, ann.id, NoticeKind.COUPON_USE_CANCELLED)
    assert (told["code"], told["restored"]) == (coupon.code, True)
    (en,) = texts().render("coupon_use_cancelled", told, "en")
    assert en.text.startswith(
        f"🎟 Your order with coupon {coupon.code} was cancelled, so you can use the coupon again."
    )

    # Usable again: within the budget and the member's limit, which the cancelled use left.
    assert await run_cli(*redeem, "--redemption-id", "U2") == 0
    assert "redeemed (U2): 50.00 off. Uses left: 0." in capsys.readouterr().out
    assert await coupon_state(runtime, coupon.code) == (1, 1, Decimal("50.00"))
    assert await redeemed_spring(runtime) == {ann.id}

    refusals = {
        ("coupon-redeem-cancel", "NO-SUCH-CODE"): "coupon NO-SUCH-CODE: unknown",
        ("coupon-redeem-cancel", coupon.code, "--redemption-id", "U9"): "not used under",
    }
    for argv, message in refusals.items():
        assert await run_cli(*argv) == 1, argv
        out, err = capsys.readouterr()
        assert out == "" and message in err and "Traceback" not in err, (argv, err)
    bob = await enrol(runtime, "bob")
    unused = await runtime.program.coupons.issue("spring", bob.id)
    with pytest.raises(CouponRedemptionNotFound) as never:
        await runtime.program.coupons.cancel_use(unused.code, actor="till")
    assert never.value.code == "coupon_redemption_not_found"


async def test_an_expired_coupon_stays_used_but_its_use_no_longer_counts(
    settings: Settings, cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    # Issued and used a week ago, valid for three days: it has expired by now.
    week_ago = StoppedClock(datetime.now(UTC) - timedelta(days=7))
    past = build_runtime(settings, clock=week_ago)
    try:
        bob = await enrol(past, "bob")
        await campaign(past, "flash", valid_days=3, total_limit=1)
        coupon = await past.program.coupons.issue("flash", bob.id)
        await past.program.coupons.redeem(
            coupon.code,
            redemption_id="V1",
            actor="till",
            order_amount="80",
            card_code=bob.card_code,
        )
    finally:
        await past.close()

    assert await run_cli("coupon-redeem-cancel", coupon.code) == 0
    out, err = capsys.readouterr()
    assert out.strip() == (
        f"Use V1 of coupon {coupon.code} cancelled: the coupon stays used, as it has expired."
    ), err
    assert await run_cli("coupon-redeem-cancel", coupon.code) == 0
    assert "was already cancelled: the coupon stays used" in capsys.readouterr().out

    runtime = build_runtime(settings)
    try:
        assert await coupon_state(runtime, coupon.code) == (1, 0, Decimal("0.00"))
        (told,) = await notices(runtime, bob.id, NoticeKind.COUPON_USE_CANCELLED)
        assert told["restored"] is False
        (ru,) = NoticeTexts(Translator.load("en")).render("coupon_use_cancelled", told, "ru")
        assert ru.text == (
            f"Заказ с купоном {coupon.code} отменён. Купон уже недействителен, "
            "поэтому воспользоваться им снова нельзя."
        )
    finally:
        await runtime.close()


async def test_a_multi_use_coupon_says_which_use_to_cancel(runtime: Runtime) -> None:
    cat = await enrol(runtime, "cat")
    await campaign(runtime, "thrice", uses_per_coupon=3, transferable=True)
    code = (await runtime.program.coupons.issue("thrice", cat.id)).code
    coupons = runtime.program.coupons
    for use in ("W1", "W2"):
        await coupons.redeem(code, redemption_id=use, actor="till", order_amount="100")
    with pytest.raises(InvalidReference, match="used 2 times"):
        await coupons.cancel_use(code, actor="till")

    first = await coupons.cancel_use(code, actor="till", redemption_id="W1")
    assert (first.redemption_id, first.restored, first.uses_left) == ("W1", True, 2)
    # Now one use is left standing: the code alone means it, and a second time is a replay.
    latest = await coupons.cancel_use(code, actor="till")
    again = await coupons.cancel_use(code, actor="till")
    assert (latest.redemption_id, latest.replayed, latest.uses_left) == ("W2", False, 3)
    assert (again.redemption_id, again.replayed, again.uses_left) == ("W2", True, 3)
    # Nobody's card was shown and the coupon is transferable: it is still its holder's news.
    assert len(await notices(runtime, cat.id, NoticeKind.COUPON_USE_CANCELLED)) == 2


async def test_two_cancels_of_one_coupon_use_at_once_give_it_back_once(runtime: Runtime) -> None:
    dan = await enrol(runtime, "dan")
    await campaign(runtime, "race", uses_per_coupon=2)
    code = (await runtime.program.coupons.issue("race", dan.id)).code
    coupons = runtime.program.coupons
    for use in ("X1", "X2"):
        await coupons.redeem(
            code, redemption_id=use, actor="till", order_amount="100", card_code=dan.card_code
        )

    results = await asyncio.gather(
        *(coupons.cancel_use(code, actor="till", redemption_id="X2") for _ in range(4))
    )

    assert sorted(result.replayed for result in results) == [False, True, True, True]
    assert await coupon_state(runtime, code) == (1, 1, Decimal("50.00"))


# ---------------------------------------------------------------------- in the chat
async def test_the_member_reads_of_the_return_in_telegram(
    telegram_runtime: Runtime, fake_telegram: FakeTelegramAPI
) -> None:
    runtime = telegram_runtime
    async with webhook_client(runtime) as client:
        eve = TelegramMember(fake_telegram, webhook_delivery(client), user_id=5151)
        await eve.sign_up()
        profile = await runtime.program.members.find(IdentityKey("telegram", "5151"))
        assert profile is not None
        await runtime.program.purchases.redeem(
            profile.card_code, 60, redemption_id="T1", actor="till"
        )
        await runtime.dispatch_notices(10)
        before = len(eve.received)

        await runtime.program.purchases.cancel_redemption("T1", actor="till")
        await runtime.program.purchases.cancel_redemption("T1", actor="till")  # retried
        report = await runtime.dispatch_notices(10)

        assert report.sent == 1
        (sent,) = eve.received[before:]
        balance = await scalar(runtime, select(Member.balance).where(Member.id == profile.id))
        assert sent.params["text"] == (
            "↩️ 60 points came back to you: an order you paid with points was cancelled. "
            f"Your balance: {balance} points."
        )
        await eve.send("history")
        assert "Points returned: order cancelled" in eve.received[-1].params["text"]
