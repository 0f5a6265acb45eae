"""Operator commands for coupons and the rewards catalogue (wired into `main.py`'s CLI).

python main.py campaign-create SLUG --name NAME --kind percent|fixed|free_item [...]
python main.py coupons-generate SLUG COUNT [--pattern SPRING-####-####] [--output FILE]
python main.py coupons-import SLUG [FILE|-]
python main.py coupon-issue SLUG CARD
python main.py coupon-check CODE [--order-amount A] [--card CARD]
python main.py coupon-redeem CODE --redemption-id ID [--order-amount A] [--card CARD]
python main.py reward-add SLUG --name NAME --cost POINTS [...]
python main.py rewards [--all]

Refusals are LoyaltyErrors: `main.main` prints them and exits non-zero, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.settings import Settings
from core.db.database import Database
from core.members.accounts import member_id_by_card
from core.offers.coupons import Campaign, CampaignSpec, CouponKind
from core.offers.rewards import RewardSpec
from core.program import LoyaltyProgram
from core.shared import cards
from core.shared.errors import InvalidInput, MemberNotFound

COMMANDS = frozenset(
    {
        "campaign-create",
        "coupons-generate",
        "coupons-import",
        "coupon-issue",
        "coupon-check",
        "coupon-redeem",
        "reward-add",
        "rewards",
    }
)


def moment(raw: str) -> datetime:
    """An ISO 8601 date or time; without a zone it is UTC."""
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {raw!r}") from error
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def add_parsers(commands: Any) -> None:
    """Add this module's subcommands to main.py's subparsers."""
    create = commands.add_parser("campaign-create", help="create a coupon campaign")
    create.add_argument("slug", help="the campaign's short name, e.g. spring-2027")
    create.add_argument("--name", required=True, help="what members see")
    create.add_argument("--kind", required=True, choices=[kind.value for kind in CouponKind])
    create.add_argument("--value", help="percent off (percent) or money off (fixed)")
    create.add_argument("--item", help="what a free_item coupon gives")
    create.add_argument("--terms", help="the conditions members see with the coupon")
    create.add_argument("--min-order", help="the smallest order it applies to")
    create.add_argument("--starts-at", type=moment, help="ISO date/time; UTC if no zone")
    create.add_argument("--ends-at", type=moment, help="ISO date/time; UTC if no zone")
    create.add_argument("--valid-days", type=int, help="days a coupon stays valid once issued")
    create.add_argument("--total-limit", type=int, help="redemptions across the campaign")
    create.add_argument("--per-member-limit", type=int, help="coupons/redemptions per member")
    create.add_argument("--budget", help="the most money off all redemptions may give")
    create.add_argument("--uses-per-coupon", type=int, default=1, help="default 1")
    create.add_argument(
        "--transferable", action="store_true", help="anyone may use a code (default: holder only)"
    )
    create.add_argument("--actor", default="operator", help="who creates it")

    generate = commands.add_parser("coupons-generate", help="make unique codes in bulk")
    generate.add_argument("slug", help="the campaign")
    generate.add_argument("count", type=int, help="how many codes")
    generate.add_argument("--pattern", help="e.g. SPRING-####-####; each # is random")
    generate.add_argument("--output", type=Path, help="write the codes to this file")

    imported = commands.add_parser("coupons-import", help="import codes, one per line")
    imported.add_argument("slug", help="the campaign")
    imported.add_argument("file", nargs="?", default="-", help="a file, or - for stdin")

    issue = commands.add_parser("coupon-issue", help="give a member a coupon of a campaign")
    issue.add_argument("slug", help="the campaign")
    issue.add_argument("card", help="the member's card code")

    for name, help_text in (
        ("coupon-check", "what a code would give now, or why not"),
        ("coupon-redeem", "use a code at the till"),
    ):
        till = commands.add_parser(name, help=help_text)
        till.add_argument("code", help="the coupon code")
        till.add_argument("--order-amount", help="the order it applies to")
        till.add_argument("--card", help="the card shown with it (holder-only coupons)")
        if name == "coupon-redeem":
            till.add_argument("--redemption-id", required=True, help="the shop's receipt id")
            till.add_argument("--actor", default="operator", help="who redeems it")

    reward = commands.add_parser("reward-add", help="add a reward to the catalogue")
    reward.add_argument("slug", help="the reward's short name, e.g. mug")
    reward.add_argument("--name", required=True, help="what members see")
    reward.add_argument("--cost", required=True, type=int, help="price in points")
    reward.add_argument("--description", help="a line or two for members")
    reward.add_argument("--picture", help="a file path or an https URL")
    reward.add_argument("--stock", type=int, help="units available (default: unlimited)")
    reward.add_argument("--per-member-limit", type=int, help="claims per member")
    reward.add_argument("--campaign", help="the campaign of the coupon a claim yields")
    reward.add_argument("--actor", default="operator", help="who adds it")

    catalogue = commands.add_parser("rewards", help="list the rewards catalogue")
    catalogue.add_argument("--all", action="store_true", help="include inactive rewards")


@asynccontextmanager
async def _program(settings: Settings) -> AsyncIterator[LoyaltyProgram]:
    db = Database.from_url(settings.database_url, pool_size=settings.database_pool_size)
    try:
        yield LoyaltyProgram.build(db)
    finally:
        await db.close()


def describe(campaign: Campaign) -> str:
    if campaign.kind is CouponKind.PERCENT:
        gives = f"{campaign.value}% off"
    elif campaign.kind is CouponKind.FIXED:
        gives = f"{campaign.value} off"
    else:
        gives = f"a free {campaign.item}"
    limits = [
        f"{label} {value}"
        for label, value in (
            ("from", campaign.starts_at and campaign.starts_at.isoformat()),
            ("until", campaign.ends_at and campaign.ends_at.isoformat()),
            ("valid days", campaign.valid_days),
            ("min order", campaign.min_order),
            ("total limit", campaign.total_limit),
            ("per member", campaign.per_member_limit),
            ("budget", campaign.budget),
        )
        if value is not None
    ]
    limits.append(f"{campaign.uses_per_coupon} use(s) per coupon")
    limits.append("transferable" if campaign.transferable else "holder only")
    return f"{gives}; " + ", ".join(limits)


class UnreadableFile(InvalidInput):
    """A file of codes the operator named that cannot be read (missing, not allowed)."""

    code = "unreadable_file"


def read_lines(source: str) -> list[str]:
    """The lines of a file, or of stdin for "-"."""
    if source == "-":
        return sys.stdin.read().splitlines()
    try:
        return Path(source).read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise UnreadableFile(f"cannot read {source}: {error.strerror}") from error


async def run(settings: Settings, arguments: argparse.Namespace) -> int:
    async with _program(settings) as program:
        return await _run(program, arguments)


async def _run(program: LoyaltyProgram, arguments: argparse.Namespace) -> int:
    command = arguments.command
    coupons = program.coupons
    if command == "campaign-create":
        campaign = await coupons.create_campaign(
            CampaignSpec(
                slug=arguments.slug,
                name=arguments.name,
                kind=arguments.kind,
                value=arguments.value,
                item=arguments.item,
                terms=arguments.terms,
                min_order=arguments.min_order,
                starts_at=arguments.starts_at,
                ends_at=arguments.ends_at,
                valid_days=arguments.valid_days,
                total_limit=arguments.total_limit,
                per_member_limit=arguments.per_member_limit,
                budget=arguments.budget,
                uses_per_coupon=arguments.uses_per_coupon,
                transferable=arguments.transferable,
            ),
            actor=arguments.actor,
        )
        print(f"Campaign {campaign.slug} ({campaign.name}) created: {describe(campaign)}.")
        return 0
    if command == "coupons-generate":
        codes = await coupons.generate(arguments.slug, arguments.count, pattern=arguments.pattern)
        if arguments.output is not None:
            await asyncio.to_thread(
                arguments.output.write_text, "\n".join(codes) + "\n", encoding="utf-8"
            )
            print(f"Generated {len(codes)} codes for {arguments.slug} into {arguments.output}.")
        else:
            print("\n".join(codes))
            print(f"Generated {len(codes)} codes for {arguments.slug}.", file=sys.stderr)
        return 0
    if command == "coupons-import":
        lines = await asyncio.to_thread(read_lines, arguments.file)
        imported = await coupons.import_codes(arguments.slug, lines)
        print(f"Imported {len(imported)} codes into {arguments.slug}.")
        return 0
    if command == "coupon-issue":
        code = cards.normalize(arguments.card)
        async with program.db.reading() as session:
            member_id = await session.scalar(member_id_by_card(code))
        if member_id is None:
            raise MemberNotFound(code)
        issued = await coupons.issue(arguments.slug, member_id)
        until = issued.valid_until.isoformat() if issued.valid_until else "no end date"
        print(
            f"Coupon {issued.code} ({issued.campaign}) issued to card {cards.display(code)}; "
            f"valid until: {until}."
        )
        return 0
    if command == "coupon-check":
        check = await coupons.check(
            arguments.code, order_amount=arguments.order_amount, card_code=arguments.card
        )
        if not check.ok:
            detail = f" ({check.detail})" if check.detail else ""
            print(f"Coupon {check.code} would be refused: {check.reason}{detail}.", file=sys.stderr)
            return 1
        if check.kind is CouponKind.FREE_ITEM:
            gives = f"a free {check.item}"
        elif check.discount is None:
            gives = "a discount (give --order-amount to see how much)"
        else:
            gives = f"{check.discount} off"
        print(
            f"Coupon {check.code} ({check.campaign}) is valid: {gives}; "
            f"{check.uses_left} use(s) left."
        )
        return 0
    if command == "coupon-redeem":
        result = await coupons.redeem(
            arguments.code,
            redemption_id=arguments.redemption_id,
            actor=arguments.actor,
            order_amount=arguments.order_amount,
            card_code=arguments.card,
        )
        what = "was already redeemed" if result.replayed else "redeemed"
        if result.kind is CouponKind.FREE_ITEM:
            gives = f"a free {result.item}"
        else:
            gives = f"{result.discount} off"
        print(
            f"Coupon {result.code} {what} ({result.redemption_id}): {gives}. "
            f"Uses left: {result.uses_left}."
        )
        return 0
    if command == "reward-add":
        item = await program.rewards.add(
            RewardSpec(
                slug=arguments.slug,
                name=arguments.name,
                cost=arguments.cost,
                description=arguments.description,
                picture=arguments.picture,
                stock=arguments.stock,
                per_member_limit=arguments.per_member_limit,
                campaign=arguments.campaign,
            ),
            actor=arguments.actor,
        )
        stock = "unlimited" if item.stock is None else str(item.stock)
        print(
            f"Reward {item.slug} ({item.name}, {item.cost} points, stock {stock}) added; "
            f"a claim yields a coupon of campaign {item.campaign}."
        )
        return 0
    if command == "rewards":
        items = await program.rewards.catalogue(active_only=not arguments.all)
        if not items:
            print("The rewards catalogue is empty.")
        for item in items:
            stock = "unlimited" if item.stock is None else f"{item.stock} left"
            state = "" if item.active else ", inactive"
            print(f"{item.slug}: {item.name} - {item.cost} points, {stock}{state}")
        return 0
    raise AssertionError(f"not a coupon command: {command}")
