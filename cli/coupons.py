"""Coupons and the rewards catalogue, for operators.

python main.py campaign-create SLUG --name NAME --kind percent|fixed|free_item [...]
python main.py coupons-generate SLUG COUNT [--pattern SPRING-####-####] [--output FILE]
python main.py coupons-import SLUG [FILE|-]
python main.py coupon-issue SLUG CARD|--phone N
python main.py coupon-check CODE [--order-amount A] [--card CARD|--phone N]
python main.py coupon-redeem CODE --redemption-id ID [--order-amount A] [--card CARD|--phone N]
python main.py coupon-void CODE --reason TEXT [--actor NAME]
python main.py coupon-redeem-cancel CODE [--redemption-id ID] [--reason TEXT]
python main.py reward-add SLUG --name NAME --cost POINTS [...]
python main.py rewards [--all]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from cli.arguments import (
    add_member_arguments,
    add_receipt_arguments,
    card_code,
    moment,
    phone_number,
)
from cli.command import Command, Context
from core.offers.campaigns import Campaign, CampaignSpec, CouponKind
from core.offers.rewards import RewardSpec
from core.shared import cards
from core.shared.errors import InvalidInput


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


class UnwritableFile(InvalidInput):
    """A file the operator asked the output written to that cannot be written (no such
    directory, a directory, not allowed)."""

    code = "unwritable_file"


def open_for_output(path: Path) -> bool:
    """Make sure `path` can be written before anything is made to write there (touched, not
    truncated); whether it is new, so that it can be removed again if nothing comes of it."""
    existed = path.exists()
    try:
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as error:
        raise UnwritableFile(f"cannot write {path}: {error.strerror}") from None
    return not existed


def read_lines(source: str) -> list[str]:
    """The lines of a file, or of stdin for "-"."""
    return _read(source).splitlines()


async def read_text(source: str) -> str:
    """The text of a file (a definition's JSON), or of stdin for "-", read in a thread."""
    return await asyncio.to_thread(_read, source)


def _read(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    try:
        return Path(source).read_text(encoding="utf-8")
    except OSError as error:
        raise UnreadableFile(f"cannot read {source}: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise UnreadableFile(f"cannot read {source}: not UTF-8 text ({error.reason})") from None


class CampaignCreate(Command):
    name = "campaign-create"
    help = "create a coupon campaign"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("slug", help="the campaign's short name, e.g. spring-2027")
        parser.add_argument("--name", required=True, help="what members see")
        parser.add_argument("--kind", required=True, choices=[kind.value for kind in CouponKind])
        parser.add_argument("--value", help="percent off (percent) or money off (fixed)")
        parser.add_argument("--item", help="what a free_item coupon gives")
        parser.add_argument("--terms", help="the conditions members see with the coupon")
        parser.add_argument("--min-order", help="the smallest order it applies to")
        parser.add_argument("--starts-at", type=moment, help="ISO date/time; UTC if no zone")
        parser.add_argument("--ends-at", type=moment, help="ISO date/time; UTC if no zone")
        parser.add_argument("--valid-days", type=int, help="days a coupon stays valid once issued")
        parser.add_argument("--total-limit", type=int, help="redemptions across the campaign")
        parser.add_argument("--per-member-limit", type=int, help="coupons/redemptions per member")
        parser.add_argument("--budget", help="the most money off all redemptions may give")
        parser.add_argument("--uses-per-coupon", type=int, default=1, help="default 1")
        parser.add_argument(
            "--transferable",
            action="store_true",
            help="anyone may use a code (default: holder only)",
        )
        parser.add_argument("--actor", default="operator", help="who creates it")

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        campaign = await context.program.coupons.create_campaign(
            CampaignSpec(
                slug=args.slug,
                name=args.name,
                kind=args.kind,
                value=args.value,
                item=args.item,
                terms=args.terms,
                min_order=args.min_order,
                starts_at=args.starts_at,
                ends_at=args.ends_at,
                valid_days=args.valid_days,
                total_limit=args.total_limit,
                per_member_limit=args.per_member_limit,
                budget=args.budget,
                uses_per_coupon=args.uses_per_coupon,
                transferable=args.transferable,
            ),
            actor=args.actor,
        )
        print(f"Campaign {campaign.slug} ({campaign.name}) created: {describe(campaign)}.")
        return 0


class CouponsGenerate(Command):
    name = "coupons-generate"
    help = "make unique codes in bulk"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("slug", help="the campaign")
        parser.add_argument("count", type=int, help="how many codes")
        parser.add_argument("--pattern", help="e.g. SPRING-####-####; each # is random")
        parser.add_argument("--output", type=Path, help="write the codes to this file")

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        # An --output that cannot be written is refused before any code is stored: codes
        # made and then lost with the file would be live coupons nobody can hand out.
        created = args.output is not None and open_for_output(args.output)
        try:
            codes = await context.program.coupons.generate(
                args.slug, args.count, pattern=args.pattern
            )
        except BaseException:
            if created:
                args.output.unlink(missing_ok=True)
            raise
        if args.output is not None:
            try:
                await asyncio.to_thread(
                    args.output.write_text, "\n".join(codes) + "\n", encoding="utf-8"
                )
            except OSError as error:
                # Stored already: printed, so that they are not lost (a full disk ...).
                print("\n".join(codes))
                raise UnwritableFile(
                    f"cannot write {args.output}: {error.strerror}; "
                    f"the {len(codes)} codes generated are printed above"
                ) from None
            print(f"Generated {len(codes)} codes for {args.slug} into {args.output}.")
        else:
            print("\n".join(codes))
            print(f"Generated {len(codes)} codes for {args.slug}.", file=sys.stderr)
        return 0


class CouponsImport(Command):
    name = "coupons-import"
    help = "import codes, one per line"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("slug", help="the campaign")
        parser.add_argument("file", nargs="?", default="-", help="a file, or - for stdin")

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        lines = await asyncio.to_thread(read_lines, args.file)
        imported = await context.program.coupons.import_codes(args.slug, lines)
        print(f"Imported {len(imported)} codes into {args.slug}.")
        return 0


class CouponIssue(Command):
    name = "coupon-issue"
    help = "give a member a coupon of a campaign"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("slug", help="the campaign")
        add_member_arguments(parser)

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        member = await context.member_of(args)
        issued = await context.program.coupons.issue(args.slug, member.id)
        until = issued.valid_until.isoformat() if issued.valid_until else "no end date"
        print(
            f"Coupon {issued.code} ({issued.campaign}) issued to card "
            f"{cards.display(member.card_code)}; valid until: {until}."
        )
        return 0


def add_till_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("code", help="the coupon code")
    parser.add_argument("--order-amount", help="the order it applies to")
    holder = parser.add_mutually_exclusive_group()
    holder.add_argument(
        "--card", type=card_code, help="the card shown with it (holder-only coupons)"
    )
    holder.add_argument(
        "--phone",
        type=phone_number,
        metavar="NUMBER",
        help="instead of the card: the holder's verified phone number",
    )


async def holder_of(context: Context, args: argparse.Namespace) -> int | None:
    """The member `--phone` names (the card, if given, is the redemption's to check)."""
    if args.phone is None:
        return None
    return (await context.program.members.by_verified_phone(args.phone)).id


class CouponCheck(Command):
    name = "coupon-check"
    help = "what a code would give now, or why not"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_till_arguments(parser)

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        check = await context.program.coupons.check(
            args.code,
            order_amount=args.order_amount,
            card_code=args.card,
            member_id=await holder_of(context, args),
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


class CouponRedeem(Command):
    name = "coupon-redeem"
    help = "use a code at the till"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_till_arguments(parser)
        add_receipt_arguments(parser, "redemption", actor_help="who redeems it")

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        result = await context.program.coupons.redeem(
            args.code,
            redemption_id=args.redemption_id,
            actor=args.actor,
            order_amount=args.order_amount,
            card_code=args.card,
            member_id=await holder_of(context, args),
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


class CouponRedeemCancel(Command):
    name = "coupon-redeem-cancel"
    help = "cancel a coupon's use when the order is returned"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("code", help="the coupon code")
        parser.add_argument(
            "--redemption-id",
            help="which use (the id it was redeemed under); the code's latest use if absent",
        )
        parser.add_argument("--reason", help="why, kept with the cancel")
        parser.add_argument("--actor", default="operator", help="who cancels it")

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        result = await context.program.coupons.cancel_use(
            args.code, actor=args.actor, redemption_id=args.redemption_id, reason=args.reason
        )
        what = "was already cancelled" if result.replayed else "cancelled"
        if result.restored:
            until = f" until {result.valid_until.isoformat()}" if result.valid_until else ""
            outcome = f"the coupon can be used again{until}. Uses left: {result.uses_left}."
        else:
            why = "was voided" if result.why_not == "voided" else "has expired"
            outcome = f"the coupon stays used, as it {why}."
        print(f"Use {result.redemption_id} of coupon {result.code} {what}: {outcome}")
        return 0


class CouponVoid(Command):
    name = "coupon-void"
    help = "cancel a coupon nobody has used yet, with the reason"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("code", help="the coupon code")
        parser.add_argument("--reason", required=True, help="why (kept with the coupon)")
        parser.add_argument("--actor", default="operator", help="who cancels it")

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        program = context.program
        voided = await program.coupons.void(args.code, reason=args.reason, actor=args.actor)
        if voided.member_id is None:
            held = "it had not been issued to anyone"
        else:
            member = await program.members.get(voided.member_id)
            held = f"it was held by card {cards.display(member.card_code)}"
        print(f"Coupon {voided.code} ({voided.campaign}) voided; {held}.")
        return 0


class RewardAdd(Command):
    name = "reward-add"
    help = "add a reward to the catalogue"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("slug", help="the reward's short name, e.g. mug")
        parser.add_argument("--name", required=True, help="what members see")
        parser.add_argument("--cost", required=True, type=int, help="price in points")
        parser.add_argument("--description", help="a line or two for members")
        parser.add_argument("--picture", help="a file path or an https URL")
        parser.add_argument("--stock", type=int, help="units available (default: unlimited)")
        parser.add_argument("--per-member-limit", type=int, help="claims per member")
        parser.add_argument("--campaign", help="the campaign of the coupon a claim yields")
        parser.add_argument("--actor", default="operator", help="who adds it")

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        item = await context.program.rewards.add(
            RewardSpec(
                slug=args.slug,
                name=args.name,
                cost=args.cost,
                description=args.description,
                picture=args.picture,
                stock=args.stock,
                per_member_limit=args.per_member_limit,
                campaign=args.campaign,
            ),
            actor=args.actor,
        )
        stock = "unlimited" if item.stock is None else str(item.stock)
        print(
            f"Reward {item.slug} ({item.name}, {item.cost} points, stock {stock}) added; "
            f"a claim yields a coupon of campaign {item.campaign}."
        )
        return 0


class Rewards(Command):
    name = "rewards"
    help = "list the rewards catalogue"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--all", action="store_true", help="include inactive rewards")

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        items = await context.program.rewards.catalogue(active_only=not args.all)
        if not items:
            print("The rewards catalogue is empty.")
        for item in items:
            stock = "unlimited" if item.stock is None else f"{item.stock} left"
            state = "" if item.active else ", inactive"
            print(f"{item.slug}: {item.name} - {item.cost} points, {stock}{state}")
        return 0


COMMANDS: tuple[Command, ...] = (
    CampaignCreate(),
    CouponsGenerate(),
    CouponsImport(),
    CouponIssue(),
    CouponCheck(),
    CouponRedeem(),
    CouponRedeemCancel(),
    CouponVoid(),
    RewardAdd(),
    Rewards(),
)
