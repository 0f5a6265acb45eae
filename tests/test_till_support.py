"""At the till and for support, through the operator CLI (`main.main`) on both backends:
a member found by a verified phone number instead of the card, a manual correction of the
balance, a coupon cancelled, and one member's whole picture."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.runtime import Runtime
from app.settings import Settings
from core.db.models import Coupon, LedgerEntry, Member, Notice, Purchase
from core.members.accounts import IdentityKey, Profile, Registration
from core.notices.outbox import NoticeKind
from core.offers.campaigns import CampaignSpec
from core.shared import cards
from core.shared.errors import InsufficientPoints
from handlers.messages import Incoming
from handlers.render.i18n import Translator
from handlers.render.notices import NoticeTexts
from tests.data import count, enrol, registration, scalar
from tests.test_cli import cli_env, run_cli, run_main
from tests.test_linking import ask_for_code, say

__all__ = ["cli_env"]

WELCOME_BONUS = 100
ANNS_PHONE = "+79991234567"
# The same number as a cashier types it.
ANNS_PHONE_TYPED = "+7 (999) 123-45-67"
UNKNOWN_PHONE = "+79990000001"
TIERS = [
    {"key": "silver", "name": {"en": "Silver", "ru": "Серебро"}, "threshold": 1000},
    {"key": "gold", "name": "Gold", "threshold": 5000},
]


async def join(
    runtime: Runtime,
    external_id: str,
    *,
    phone: str | None = None,
    verified: bool = True,
    language: str = "en",
    name: str | None = None,
    referral_code: str | None = None,
    marketing: bool = False,
) -> Profile:
    enrolment = await runtime.program.members.enrol(
        Registration(
            identity=IdentityKey("telegram", external_id),
            language=language,
            accepted_terms=True,
            marketing_opt_in=marketing,
            name=name,
            phone=phone,
            phone_verified=verified,
            referral_code=referral_code,
        )
    )
    assert enrolment.created
    return enrolment.member


async def entries(runtime: Runtime, member_id: int) -> list[LedgerEntry]:
    async with runtime.db.reading() as session:
        return list(
            await session.scalars(
                select(LedgerEntry)
                .where(LedgerEntry.member_id == member_id)
                .order_by(LedgerEntry.id)
            )
        )


async def history_lines(runtime: Runtime, external_id: str) -> list[str]:
    (reply,) = await runtime.conversation.handle(
        Incoming("telegram", external_id, action="menu:history")
    )
    return reply.text.splitlines()


async def notices_to(runtime: Runtime, member_id: int, language: str = "en") -> list[str]:
    """What the member is told outside the conversation, as it would be sent."""
    async with runtime.db.reading() as session:
        rows = list(
            await session.scalars(
                select(Notice).where(Notice.member_id == member_id).order_by(Notice.id)
            )
        )
    texts = NoticeTexts(Translator.load("en"), currency="RUB")
    return [
        reply.text
        for row in rows
        for reply in texts.render(row.kind, json.loads(row.payload), language)
    ]


async def coupon_list(runtime: Runtime, external_id: str) -> str:
    replies = await runtime.conversation.handle(
        Incoming("telegram", external_id, action="menu:coupons")
    )
    return "\n".join(reply.text for reply in replies)


# ---------------------------------------------------------------------------- --phone
async def test_the_till_finds_a_member_by_a_verified_phone_number(
    runtime: Runtime, cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    ann = await join(runtime, "ann", phone=ANNS_PHONE)
    await join(runtime, "bob", phone="+79997654321")
    shown = cards.display(ann.card_code)

    code = await run_cli("credit", "--phone", ANNS_PHONE_TYPED, "500", "--purchase-id", "R-1")
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"50 points to card {shown}. Balance: {WELCOME_BONUS + 50}." in out

    code = await run_cli("redeem", "--phone", "0079991234567", "30", "--redemption-id", "T-1")
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"redeemed: 30 points. Balance: {WELCOME_BONUS + 20}." in out

    await runtime.program.rules.update(actor="test", tiers=TIERS)
    code = await run_cli("tier-status", "--phone", ANNS_PHONE)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"Card {shown}: tier none; 500.00 RUB spent in the last" in out
    assert "Next tier: Silver, 500.00 RUB to go." in out

    await runtime.program.rules.update(actor="test", event_bonuses={"review": {"points": 5}})
    code = await run_cli("event", "--phone", ANNS_PHONE, "review", "rev-1")
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"5 points to card {shown}" in out

    assert await run_cli(
        "campaign-create", "spring", "--name", "Spring sale", "--kind", "fixed", "--value", "100"
    ) == 0  # fmt: skip
    assert await run_cli("coupon-issue", "spring", "--phone", ANNS_PHONE) == 0
    out, _ = capsys.readouterr()
    assert f"issued to card {shown}" in out
    (coupon,) = await runtime.program.coupons.active_for(ann.id)
    redeem = ("coupon-redeem", coupon.code, "--redemption-id", "C-1", "--order-amount", "300")
    assert await run_cli(*redeem, "--phone", "+79997654321") == 1
    _, err = capsys.readouterr()
    assert "foreign" in err, "Bob's number does not use Ann's holder-only coupon"
    assert await run_cli(*redeem, "--phone", ANNS_PHONE) == 0
    out, err = capsys.readouterr()
    assert f"Coupon {coupon.code} redeemed (C-1): 100.00 off." in out, err

    assert await run_cli("tag", "--phone", ANNS_PHONE, "vip") == 0
    out, _ = capsys.readouterr()
    assert f"Card {shown} tagged vip" in out

    assert await runtime.program.ledger.balance(ann.id) == WELCOME_BONUS + 50 - 30 + 5
    assert await count(runtime, Purchase, Purchase.member_id == ann.id) == 1


async def test_a_number_nobody_verified_or_several_members_share_is_refused(
    runtime: Runtime, cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    ann = await join(runtime, "ann", phone=ANNS_PHONE)
    # Typed by hand, never vouched for by a messenger: anyone can type anyone's number.
    await join(runtime, "typist", phone="+79995550000", verified=False)

    for phone in (UNKNOWN_PHONE, "+79995550000"):
        code = await run_cli("credit", "--phone", phone, "500", "--purchase-id", "R-1")
        out, err = capsys.readouterr()
        assert (code, out) == (1, ""), err
        assert f"Refused: no member has the verified phone number {phone}" in err
        assert "Traceback" not in err

    # A second member whose messenger vouched for the same number (they kept two cards).
    await join(runtime, "ann-again", phone=ANNS_PHONE)
    shared: tuple[tuple[str, ...], ...] = (
        ("credit", "--phone", ANNS_PHONE, "500", "--purchase-id", "R-2"),
        ("redeem", "--phone", ANNS_PHONE, "10", "--redemption-id", "T-1"),
        ("tier-status", "--phone", ANNS_PHONE),
        ("member-show", "--phone", ANNS_PHONE),
        ("adjust", "--phone", ANNS_PHONE, "10", "--reason", "x", "--id", "A-1"),
    )
    for argv in shared:
        code = await run_cli(*argv)
        out, err = capsys.readouterr()
        assert (code, out) == (1, ""), (argv, err)
        assert f"2 members have the verified phone number {ANNS_PHONE}; ask for the card" in err

    # Malformed, or both ways at once, or neither: usage errors, before anything is opened.
    usage: tuple[tuple[tuple[str, ...], str], ...] = (
        (("credit", "--phone", "12-ab", "500", "--purchase-id", "R-3"), "Not a valid phone"),
        (("credit", "--phone", "+7999", "500", "--purchase-id", "R-3"), "Not a valid phone"),
        (
            ("credit", ann.card_code, "500", "--phone", ANNS_PHONE, "--purchase-id", "R-3"),
            "not allowed with argument CARD",
        ),
        (("credit", "500", "--purchase-id", "R-3"), "one of the arguments CARD --phone"),
    )
    for argv, message in usage:
        with pytest.raises(SystemExit) as exited:
            await run_main(*argv)
        _, err = capsys.readouterr()
        assert exited.value.code == 2, (argv, err)
        assert message in err, err

    assert await count(runtime, Purchase) == 0
    assert await runtime.program.ledger.balance(ann.id) == WELCOME_BONUS


# ---------------------------------------------------------------------------- adjust
async def test_an_adjustment_corrects_the_balance_once_with_who_and_why(
    runtime: Runtime, cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    ann = await join(runtime, "ann", phone=ANNS_PHONE)
    shown = cards.display(ann.card_code)

    add = ("adjust", ann.card_code, "50", "--reason", "Receipt 17 not scanned", "--id", "SUP-1")
    assert await run_cli(*add, "--actor", "olga") == 0
    out, _ = capsys.readouterr()
    assert (
        f"Adjustment SUP-1 made: +50 points on card {shown} (Receipt 17 not scanned). "
        f"Balance: {WELCOME_BONUS + 50}." in out
    )
    # Sent again (a retried script): one entry.
    assert await run_cli(*add, "--actor", "olga") == 0
    out, _ = capsys.readouterr()
    assert "Adjustment SUP-1 was already made: +50 points" in out

    # The same id for another amount, or another reason: refused, nothing written.
    for argv in (
        ("adjust", ann.card_code, "60", "--reason", "Receipt 17 not scanned", "--id", "SUP-1"),
        ("adjust", ann.card_code, "50", "--reason", "Something else", "--id", "SUP-1"),
    ):
        assert await run_cli(*argv) == 1
        out, err = capsys.readouterr()
        assert out == ""
        assert "Refused: idempotency key 'adjustment:SUP-1' was already used" in err

    take = ("adjust", "--phone", ANNS_PHONE, "-151", "--reason", "Double credit", "--id", "SUP-2")
    assert await run_cli(*take) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert f"Refused: balance {WELCOME_BONUS + 50} is less than 151" in err
    assert await run_cli(*take[:3], "-150", *take[4:]) == 0
    out, _ = capsys.readouterr()
    assert "Adjustment SUP-2 made: -150 points" in out and "Balance: 0." in out

    rows = await entries(runtime, ann.id)
    assert [(row.points, row.reason, row.actor, row.reference) for row in rows] == [
        (WELCOME_BONUS, "welcome", "program", None),
        (50, "adjustment", "olga", "Receipt 17 not scanned"),
        (-150, "adjustment", "operator", "Double credit"),
    ]
    assert (await runtime.program.ledger.audit(ann.id)).consistent

    # What the member is told, once per adjustment (the replay told nothing more).
    assert await notices_to(runtime, ann.id) == [
        f"✏️ The shop corrected your balance: 50 points added. Your balance: {WELCOME_BONUS + 50} "
        "points.",
        "✏️ The shop corrected your balance: 150 points taken off. Your balance: 0 points.",
    ]
    # What the member sees: History names it in their language; the export carries it.
    lines = await history_lines(runtime, "ann")
    assert any(line.endswith("+50  Balance correction") for line in lines), lines
    assert any(line.endswith("−150  Balance correction") for line in lines), lines
    exported = await runtime.program.privacy.export(ann.id)
    assert {
        "points": 50,
        "reason": "adjustment",
        "reference": "Receipt 17 not scanned",
    }.items() <= exported["points"][1].items()


async def test_an_adjustment_sent_again_after_the_card_was_merged_is_made_once(
    runtime: Runtime, cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    ann = await join(runtime, "ann")
    second = (await runtime.program.members.enrol(registration("ann-vk", channel="vk"))).member
    add = ("adjust", second.card_code, "50", "--reason", "Receipt 17 not scanned", "--id", "SUP-1")
    assert await run_cli(*add) == 0
    capsys.readouterr()
    # Ann joins her two cards: the second one's 150 points move to her first.
    await say(runtime, "telegram", "ann", await ask_for_code(runtime, "vk", "ann-vk"))
    written = await count(runtime, LedgerEntry)

    # The support script is retried with the card it had: the adjustment made before, told
    # on the card that card is part of now.
    assert await run_cli(*add) == 0
    out, _ = capsys.readouterr()
    assert (
        f"Adjustment SUP-1 was already made: +50 points on card {cards.display(ann.card_code)} "
        "(Receipt 17 not "
        f"scanned). Balance: {2 * WELCOME_BONUS + 50}." in out
    )
    # The same id with another reason is still refused.
    assert await run_cli(*add[:4], "Another reason", *add[5:]) == 1
    _, err = capsys.readouterr()
    assert "Refused: idempotency key 'adjustment:SUP-1' was already used" in err
    assert await count(runtime, LedgerEntry) == written
    assert await count(runtime, Notice, Notice.kind == NoticeKind.POINTS_ADJUSTED) == 1


@pytest.mark.parametrize(
    ("language", "title", "notice"),
    [
        ("ru", "Корректировка баланса", "✏️ Магазин исправил ваш баланс: начислено 25 баллов."),
        (
            "fa",
            "اصلاح موجودی توسط فروشگاه",
            "✏️ فروشگاه موجودی شما را اصلاح کرد: 25 امتیاز افزوده شد.",
        ),
    ],
)
async def test_history_names_an_adjustment_in_the_members_language(
    runtime: Runtime,
    cli_env: Settings,
    capsys: pytest.CaptureFixture[str],
    language: str,
    title: str,
    notice: str,
) -> None:
    member = await join(runtime, "m", language=language)
    argv = ("adjust", member.card_code, "25", "--reason", "Goodwill", "--id", "G-1")
    assert await run_cli(*argv) == 0

    lines = await history_lines(runtime, "m")
    assert any(line.endswith(title) for line in lines), lines
    assert not any("Goodwill" in line for line in lines), "staff's words stay with staff"
    (told,) = await notices_to(runtime, member.id, language)
    assert told.startswith(notice), told


async def test_bad_adjustments_are_clear_refusals_not_tracebacks(
    runtime: Runtime, cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    ann = await enrol(runtime, "ann")
    unknown = cards.generate()
    while unknown == ann.card_code:
        unknown = cards.generate()

    refused: tuple[tuple[tuple[str, ...], int, str], ...] = (
        (("adjust", ann.card_code, "0"), 1, "Refused: an adjustment must add or take back"),
        (("adjust", unknown, "10"), 1, f"No member with card {unknown}"),
        (("adjust", ann.card_code, "10", "--actor", ""), 1, "Refused: an actor of 1 to 64"),
        (("adjust", ann.card_code, "99999999999"), 1, "Refused: an adjustment moves at most"),
        (("adjust", ann.card_code, "1.5"), 2, "not a whole number of points: '1.5'"),
        (("adjust", ann.card_code, "ten"), 2, "not a whole number of points: 'ten'"),
        (("adjust", "NOT-A-CARD", "10"), 2, "Not a valid card code"),
    )
    for argv, status, message in refused:
        code = await run_cli(*argv, "--reason", "r", "--id", "X-1")
        out, err = capsys.readouterr()
        assert (code, out) == (status, ""), (argv, err)
        assert message in err, err
        assert "Traceback" not in err
    incomplete: tuple[tuple[tuple[str, ...], str], ...] = (
        (("adjust", ann.card_code, "10", "--id", "X-1"), "--reason"),
        (("adjust", ann.card_code, "10", "--reason", "r"), "--id"),
        (("adjust", ann.card_code, "10", "--reason", " ", "--id", "X-1"), "a reason of 1 to 128"),
    )
    for argv, message in incomplete:
        code = await run_cli(*argv)
        _, err = capsys.readouterr()
        assert code in (1, 2) and message in err, (argv, err)

    assert await count(runtime, LedgerEntry) == 1
    assert await runtime.program.ledger.balance(ann.id) == WELCOME_BONUS


# ---------------------------------------------------------------------------- coupon-void
async def test_a_coupon_is_voided_with_the_reason_and_leaves_the_members_list(
    runtime: Runtime, cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    ann = await join(runtime, "ann")
    coupons = runtime.program.coupons
    assert await run_cli(
        "campaign-create", "spring", "--name", "Spring sale", "--kind", "fixed", "--value", "100",
        "--uses-per-coupon", "2",
    ) == 0  # fmt: skip
    assert await run_cli(
        "campaign-create", "short", "--name", "Flash", "--kind", "fixed", "--value", "5",
        "--valid-days", "1",
    ) == 0  # fmt: skip
    kept = await coupons.issue("spring", ann.id)
    wrong = await coupons.issue("spring", ann.id)
    used = await coupons.issue("spring", ann.id)
    await coupons.redeem(used.code, redemption_id="U-1", actor="till", member_id=ann.id)
    (free,) = await coupons.generate("spring", 1)
    capsys.readouterr()
    assert wrong.code in await coupon_list(runtime, "ann")

    code = await run_cli(
        "coupon-void", wrong.code.lower(), "--reason", "Issued by mistake", "--actor", "olga"
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert (
        f"Coupon {wrong.code} (Spring sale) voided; it was held by card "
        f"{cards.display(ann.card_code)}." in out
    )
    row = await scalar(runtime, select(Coupon).where(Coupon.code == wrong.code))
    assert (row.void_reason, row.voided_by) == ("Issued by mistake", "olga")
    assert row.voided_at is not None
    assert [c.code for c in await coupons.active_for(ann.id)] == [kept.code, used.code]
    listed = await coupon_list(runtime, "ann")
    assert wrong.code not in listed and kept.code in listed
    assert (await notices_to(runtime, ann.id))[-1] == (
        f"Your coupon {wrong.code} (Spring sale) was cancelled by the shop and can no longer "
        "be used."
    )
    told = await count(runtime, Notice)
    exported = await runtime.program.privacy.export(ann.id)
    (in_export,) = [c for c in exported["coupons"] if c["code"] == wrong.code]
    assert in_export["void_reason"] == "Issued by mistake" and in_export["voided_at"]

    # A code still free in its campaign (a leaked one) can be cancelled too.
    assert await run_cli("coupon-void", free, "--reason", "Leaked") == 0
    out, _ = capsys.readouterr()
    assert "it had not been issued to anyone" in out
    assert await count(runtime, Notice) == told, "nobody held it: nobody is told"

    expired = await coupons.issue("short", ann.id)
    # The runtime's clock is the system's: the coupon's date is moved into the past instead.
    async with runtime.db.transaction() as session:
        stored = await session.scalar(select(Coupon).where(Coupon.code == expired.code))
        assert stored is not None
        stored.valid_until = datetime.now(UTC) - timedelta(minutes=1)

    for argv, reason in (
        ((wrong.code,), f"coupon {wrong.code}: voided"),
        ((used.code,), f"coupon {used.code}: used_up (used 1 of 2)"),
        ((expired.code,), f"coupon {expired.code}: expired"),
        (("NOPE-1",), "coupon NOPE-1: unknown"),
    ):
        code = await run_cli("coupon-void", *argv, "--reason", "again")
        out, err = capsys.readouterr()
        assert (code, out) == (1, ""), (argv, err)
        assert f"Refused: {reason}" in err, err
        assert "Traceback" not in err

    # The till refuses the voided code; the used one keeps its use and its second one.
    redeem = ("coupon-redeem", wrong.code, "--redemption-id", "V-1", "--card", ann.card_code)
    assert await run_cli(*redeem) == 1
    _, err = capsys.readouterr()
    assert "voided" in err
    used_row = await scalar(runtime, select(Coupon).where(Coupon.code == used.code))
    assert (used_row.uses, used_row.voided_at) == (1, None)


# ---------------------------------------------------------------------------- member-show
async def test_member_show_gives_support_the_whole_picture(
    runtime: Runtime, cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    program = runtime.program
    await program.rules.update(actor="test", tiers=TIERS, points_ttl_days=365)
    ann = await join(runtime, "ann", phone=ANNS_PHONE, name="Ann Lee", marketing=True)
    await program.linking.attach_by_verified_phone(IdentityKey("whatsapp", ANNS_PHONE), ANNS_PHONE)
    await join(runtime, "friend", referral_code=ann.referral_code)
    for number in range(1, 13):
        await program.purchases.credit(
            ann.card_code, "100", purchase_id=f"R-{number}", actor="till", store="Main"
        )
    await program.adjustments.adjust(
        ann.id, -20, adjustment_id="SUP-9", reason="Double credit", actor="olga"
    )
    await program.coupons.create_campaign(
        CampaignSpec(slug="spring", name="Spring sale", kind="percent", value="10"),
        actor="test",
    )
    coupon = await program.coupons.issue("spring", ann.id)
    await program.segments.tag(ann.id, "vip", actor="test")
    balance = WELCOME_BONUS + 12 * 10 - 20

    code = await run_cli("member-show", "--phone", ANNS_PHONE_TYPED)
    out, err = capsys.readouterr()
    assert code == 0, err
    shown = cards.display(ann.card_code)
    assert out.startswith(f"Card {shown}: Ann Lee\n")
    assert f"language en; phone {ANNS_PHONE} (verified)" in out
    assert f"messengers: telegram:ann, whatsapp:{ANNS_PHONE}" in out
    assert "offers: yes (since " in out
    assert "Tier Silver; 1200.00 RUB spent in the last 365 days." in out
    assert "Next tier: Gold, 3800.00 RUB to go." in out
    assert f"Balance: {balance} points." in out
    assert f"expiring next: {balance} on " in out
    assert "Last purchases (10):" in out and "R-12  100.00  +10 points  at Main" in out
    assert "R-2  " not in out, "only the last 10"
    assert "Last ledger entries (10 of 14):" in out
    assert "-20  adjustment Double credit  by olga" in out
    assert f"{coupon.code}  Spring sale: 10.00% off; until no end date; 1 use(s) left" in out
    assert "Referrals: 1 joined" in out
    assert "Tags: vip." in out

    code = await run_cli("member-show", ann.card_code, "--json")
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    assert (data["card"], data["name"], data["balance"], data["debt"]) == (
        shown,
        "Ann Lee",
        balance,
        0,
    )
    assert data["messengers"] == [
        {"channel": "telegram", "id": "ann"},
        {"channel": "whatsapp", "id": ANNS_PHONE},
    ]
    assert data["offers_consent"]["granted"] is True
    assert (data["tier"]["tier"], data["tier"]["next_tier"], data["tier"]["to_next"]) == (
        "silver",
        "gold",
        "3800.00",
    )
    assert [p["purchase_id"] for p in data["purchases"]] == [f"R-{n}" for n in range(12, 2, -1)]
    assert len(data["entries"]) == 10 and data["entries_total"] == 14
    assert data["entries"][0] == {
        **data["entries"][0],
        "points": -20,
        "reason": "adjustment",
        "reference": "Double credit",
        "actor": "olga",
        "balance_after": balance,
    }
    assert [lot["points"] for lot in data["expiring"]] == [balance]
    assert [c["code"] for c in data["coupons"]] == [coupon.code]
    assert data["referrals"]["joined"] == 1
    assert data["tags"] == ["vip"]
    assert await scalar(runtime, select(Member.balance).where(Member.id == ann.id)) == balance


async def test_member_show_of_an_unknown_card_is_refused(
    runtime: Runtime, cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    unknown = cards.generate()

    assert await run_cli("member-show", unknown) == 1
    out, err = capsys.readouterr()
    assert out == "" and f"No member with card {unknown}" in err
    assert await run_cli("member-show", "--phone", UNKNOWN_PHONE, "--json") == 1
    out, err = capsys.readouterr()
    assert out == "" and "no member has the verified phone number" in err


async def test_concurrent_corrections_never_take_the_balance_below_zero(
    runtime: Runtime,
) -> None:
    ann = await enrol(runtime, "ann")
    adjustments = runtime.program.adjustments

    async def take(adjustment_id: str) -> str:
        try:
            await adjustments.adjust(
                ann.id, -80, adjustment_id=adjustment_id, reason="Double credit", actor="olga"
            )
        except InsufficientPoints as refusal:
            return f"refused with balance {refusal.balance}"
        return "taken"

    outcomes = await asyncio.gather(take("SUP-A"), take("SUP-B"))

    assert sorted(outcomes) == ["refused with balance 20", "taken"]
    # The same correction sent twice at once: one entry.
    same = await asyncio.gather(
        *(
            adjustments.adjust(ann.id, 5, adjustment_id="SUP-C", reason="Goodwill", actor="olga")
            for _ in range(2)
        )
    )
    assert sorted(result.replayed for result in same) == [False, True]
    assert await runtime.program.ledger.balance(ann.id) == WELCOME_BONUS - 80 + 5
    assert await count(runtime, LedgerEntry, LedgerEntry.reason == "adjustment") == 2
    assert (await runtime.program.ledger.audit(ann.id)).consistent
