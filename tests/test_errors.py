"""One error model: every refusal is a LoyaltyError of a kind, with a stable code.

The codes are what the shop's API, logs and scripts key on, so the complete list is written
out here: adding, renaming or removing one is a visible change in review, not a side effect.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator

import pytest

from app.runtime import Runtime
from core.members.accounts import IdentityKey
from core.members.linking import LinkRefused
from core.offers.campaigns import COUPON_REASONS
from core.shared import cards
from core.shared.errors import (
    EXIT_CODES,
    HTTP_STATUSES,
    Conflict,
    CouponRefused,
    ErrorKind,
    IdempotencyConflict,
    InsufficientPoints,
    InvalidInput,
    InvalidReference,
    InvalidRules,
    LoyaltyError,
    MemberNotFound,
    NotFound,
    Refused,
    RewardRefused,
    UnknownEventKind,
)
from tests.data import enrol

# Where refusals are defined: the domain, the conversation and the operator commands.
PACKAGES = ("core", "handlers", "cli")
KIND_BASES = (LoyaltyError, InvalidInput, NotFound, Conflict, Refused)

CODES = [
    "badge_exists",
    "badge_invalid",
    "badge_not_found",
    "birthday_already_given",
    "birthday_future",
    "birthday_implausible",
    "birthday_invalid",
    "broadcast_invalid",
    "broadcast_not_found",
    "broadcast_refused",
    "broadcast_send_at_past",
    "broadcast_trigger_cannot_fire",
    "campaign_not_found",
    "contest_already_closed",
    "contest_already_drawn",
    "contest_bad_beacon",
    "contest_beacon_invalid",
    "contest_beacon_unavailable",
    "contest_claim_expired",
    "contest_ineligible",
    "contest_no_joining",
    "contest_not_a_leaderboard",
    "contest_not_a_winner",
    "contest_not_closed",
    "contest_not_drawn",
    "contest_not_ended",
    "contest_not_found",
    "contest_not_open",
    "contest_too_early",
    "contest_too_late",
    "coupon_budget_exhausted",
    "coupon_campaign_exhausted",
    "coupon_codes_rejected",
    "coupon_expired",
    "coupon_foreign",
    "coupon_inactive",
    "coupon_member_limit",
    "coupon_min_order",
    "coupon_not_started",
    "coupon_redemption_not_found",
    "coupon_unknown",
    "coupon_used_up",
    "coupon_voided",
    "feedback_invalid_period",
    "feedback_invalid_score",
    "feedback_not_asked",
    "idempotency_conflict",
    "identity_not_linked",
    "insufficient_points",
    "invalid_actor",
    "invalid_amount",
    "invalid_campaign",
    "invalid_card_code",
    "invalid_contest",
    "invalid_phone",
    "invalid_quest",
    "invalid_reference",
    "invalid_rules",
    "invalid_segment",
    "invalid_tag",
    "invalid_time_zone",
    "last_identity",
    "link_expired",
    "link_invalid",
    "link_too_many_attempts",
    "link_used",
    "member_not_found",
    "nickname_invalid_characters",
    "nickname_invalid_empty",
    "nickname_invalid_link",
    "nickname_invalid_too_long",
    "phone_not_found",
    "phone_shared",
    "profile_quest_live",
    "proof_not_found",
    "purchase_not_found",
    "quest_check_unavailable",
    "quest_exists",
    "quest_no_telegram",
    "quest_not_available",
    "quest_not_found",
    "quest_not_joined",
    "quest_proof_pending",
    "quest_step_done",
    "quest_step_locked",
    "quest_step_unknown",
    "redemption_not_found",
    "redemption_too_large",
    "reward_inactive",
    "reward_limit_reached",
    "reward_not_enough_points",
    "reward_not_found",
    "reward_out_of_stock",
    "terms_not_accepted",
    "unknown_event_kind",
    "unknown_job",
    "unreadable_file",
    "unwritable_file",
]

SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def _subclasses(cls: type[LoyaltyError]) -> Iterator[type[LoyaltyError]]:
    for subclass in cls.__subclasses__():
        yield subclass
        yield from _subclasses(subclass)


def refusal_classes() -> list[type[LoyaltyError]]:
    """Every concrete refusal the program defines, after importing every module that may
    define one (a class in a module nobody imported yet would be missed otherwise)."""
    for name in PACKAGES:
        package = importlib.import_module(name)
        for module in pkgutil.walk_packages(package.__path__, f"{name}."):
            importlib.import_module(module.name)
    found = {
        cls
        for cls in _subclasses(LoyaltyError)
        if cls.__module__.partition(".")[0] in PACKAGES and cls not in KIND_BASES
    }
    return sorted(found, key=lambda cls: (cls.__module__, cls.__qualname__))


def test_every_code_is_listed() -> None:
    codes = [code for cls in refusal_classes() for code in cls.codes()]
    assert sorted(codes) == CODES
    assert len(set(codes)) == len(codes), "two refusals share a code"


def test_codes_are_stable_snake_case_names() -> None:
    assert sorted(CODES) == CODES
    assert [code for code in CODES if not SNAKE_CASE.match(code)] == []


def test_every_refusal_names_its_own_code_and_a_kind_base() -> None:
    for cls in refusal_classes():
        # An inherited code would make two different refusals look the same to a client.
        assert "code" in vars(cls), f"{cls.__qualname__} has no code of its own"
        assert issubclass(cls, KIND_BASES[1:]), f"{cls.__qualname__} is of no kind"
        assert cls.kind in ErrorKind


def test_every_kind_has_an_exit_code_and_an_http_status() -> None:
    assert set(EXIT_CODES) == set(ErrorKind)
    assert set(HTTP_STATUSES) == set(ErrorKind)
    # 0 is success and 2 is argparse's usage error: a refusal is neither.
    assert all(code not in (0, 2) for code in EXIT_CODES.values())
    assert all(400 <= status < 500 for status in HTTP_STATUSES.values())
    assert HTTP_STATUSES[ErrorKind.NOT_FOUND] == 404
    assert HTTP_STATUSES[ErrorKind.CONFLICT] == 409


def test_reasons_refine_the_code_and_stay_listed() -> None:
    assert CouponRefused.reasons == COUPON_REASONS
    refused = CouponRefused("used_up", "GIFT-1234", "used 1 of 1")
    assert (refused.code, refused.reason, refused.coupon_code) == (
        "coupon_used_up",
        "used_up",
        "GIFT-1234",
    )
    assert str(refused) == "coupon GIFT-1234: used_up (used 1 of 1)"
    assert RewardRefused("out_of_stock").code == "reward_out_of_stock"
    assert CouponRefused.code == "coupon", "the class keeps the prefix"
    with pytest.raises(ValueError, match="no reason 'stolen'"):
        CouponRefused("stolen")
    with pytest.raises(ValueError, match="no reason"):
        LinkRefused("forgotten")


def test_an_error_kind_is_never_shadowed_by_a_field() -> None:
    error = UnknownEventKind("revue")
    assert (error.kind, error.event_kind, error.code) == (
        ErrorKind.INVALID,
        "revue",
        "unknown_event_kind",
    )
    assert (error.exit_code, error.http_status) == (1, 400)


def test_values_that_cannot_be_parsed_are_still_value_errors() -> None:
    # Pydantic validators and older callers rely on it; see the classes' comments.
    assert issubclass(InvalidRules, ValueError) and issubclass(InvalidRules, InvalidInput)
    assert issubclass(cards.InvalidCardCode, ValueError)
    assert issubclass(cards.InvalidCardCode, InvalidInput)


# ------------------------------------------------------------ refusals of the real services


def unknown_card(*taken: str) -> str:
    while True:
        code = cards.generate()
        if code not in taken:
            return code


async def test_refusals_of_the_real_services_carry_kind_and_code(runtime: Runtime) -> None:
    program = runtime.program
    member = await enrol(runtime)

    async def refused(awaitable: object) -> LoyaltyError:
        with pytest.raises(LoyaltyError) as caught:
            await awaitable  # type: ignore[misc]
        return caught.value

    seen = [
        await refused(
            program.purchases.credit(
                unknown_card(member.card_code), "10", purchase_id="P", actor="t"
            )
        ),
        await refused(program.purchases.credit("not-a-card", "10", purchase_id="P", actor="t")),
        await refused(program.purchases.credit(member.card_code, "10", purchase_id=" ", actor="t")),
        await refused(program.purchases.credit(member.card_code, "-1", purchase_id="P", actor="t")),
        await refused(
            program.purchases.redeem(member.card_code, 10_000, redemption_id="R", actor="t")
        ),
        await refused(program.purchases.refund("nope", refund_id="F", actor="t")),
        await refused(program.coupons.redeem("NOPE-0000", redemption_id="C", actor="t")),
        await refused(program.linking.redeem(IdentityKey("vk", "1"), "ZZZZ-ZZZZ")),
        await refused(program.rules.update(actor="t", points_ttl_days=-1)),
        await refused(program.members.set_time_zone(member.id, "Mars/Olympus")),
    ]

    assert [(error.kind, error.code, error.http_status) for error in seen] == [
        (ErrorKind.NOT_FOUND, "member_not_found", 404),
        (ErrorKind.INVALID, "invalid_card_code", 400),
        (ErrorKind.INVALID, "invalid_reference", 400),
        (ErrorKind.INVALID, "invalid_amount", 400),
        (ErrorKind.REFUSED, "insufficient_points", 422),
        (ErrorKind.NOT_FOUND, "purchase_not_found", 404),
        (ErrorKind.REFUSED, "coupon_unknown", 422),
        (ErrorKind.REFUSED, "link_invalid", 422),
        (ErrorKind.INVALID, "invalid_rules", 400),
        (ErrorKind.INVALID, "invalid_time_zone", 400),
    ]
    assert isinstance(seen[0], MemberNotFound) and isinstance(seen[2], InvalidReference)
    assert isinstance(seen[4], InsufficientPoints)


async def test_a_replayed_key_with_other_content_is_a_conflict(runtime: Runtime) -> None:
    member = await enrol(runtime)
    purchases = runtime.program.purchases
    await purchases.credit(member.card_code, "10", purchase_id="P1", actor="till")
    with pytest.raises(IdempotencyConflict) as conflict:
        await purchases.credit(member.card_code, "20", purchase_id="P1", actor="till")
    assert (conflict.value.kind, conflict.value.code) == (
        ErrorKind.CONFLICT,
        "idempotency_conflict",
    )
    assert (conflict.value.exit_code, conflict.value.http_status) == (1, 409)
