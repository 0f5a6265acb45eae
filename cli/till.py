"""Points at the till: a purchase credited, points redeemed, a refund taken back.

python main.py credit CARD|--phone N AMOUNT --purchase-id ID [--store S]
                      [--category NAME=AMOUNT ...]
python main.py redeem CARD|--phone N POINTS --redemption-id ID [--order-amount A]
python main.py refund PURCHASE_ID --refund-id ID [--amount A]
python main.py redeem-cancel REDEMPTION_ID [--points N --cancel-id ID] [--reason TEXT]
python main.py adjust CARD|--phone N POINTS --reason TEXT --id ID [--actor NAME]

Each is idempotent on the shop's id: run again, it says so and changes nothing. Instead of
the card, `--phone` finds the member by a number a messenger vouched for (cli.arguments).
An order paid partly with points and returned: `redeem-cancel` first (the points come back),
then `refund` (the purchase's points are taken back from a balance that has them, not as
debt).
"""

from __future__ import annotations

import argparse

from cli.arguments import (
    CategoryAmounts,
    add_member_arguments,
    add_receipt_arguments,
    category_amount,
    points_change,
)
from cli.command import Command, Context
from core.shared import cards


class Credit(Command):
    name = "credit"
    help = "record a purchase and earn points"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_member_arguments(parser)
        parser.add_argument("amount", help="purchase amount, e.g. 1234.50")
        add_receipt_arguments(parser, "purchase")
        parser.add_argument("--store", help="the store the purchase was made in")
        parser.add_argument(
            "--category",
            action=CategoryAmounts,
            type=category_amount,
            metavar="NAME=AMOUNT",
            help="part of the amount in a category, e.g. coffee=300 (repeatable)",
        )

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        result = await context.program.purchases.credit(
            await context.card_of(args),
            args.amount,
            purchase_id=args.purchase_id,
            actor=args.actor,
            store=args.store,
            categories=args.category,
        )
        what = "was already credited" if result.replayed else "credited"
        tier = f" New tier: {result.tier}." if result.tier_changed else ""
        print(
            f"Purchase {result.purchase_id} ({result.amount}) {what}: "
            f"{result.points} points to card {cards.display(result.card_code)}. "
            f"Balance: {result.balance}.{tier}"
        )
        return 0


class Redeem(Command):
    name = "redeem"
    help = "spend a member's points at the till"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_member_arguments(parser)
        parser.add_argument("points", type=int, help="how many points to spend")
        add_receipt_arguments(parser, "redemption")
        parser.add_argument(
            "--order-amount", help="the order paid with the points; caps them at the allowed share"
        )

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        result = await context.program.purchases.redeem(
            await context.card_of(args),
            args.points,
            redemption_id=args.redemption_id,
            actor=args.actor,
            order_amount=args.order_amount,
        )
        what = "was already redeemed" if result.replayed else "redeemed"
        print(
            f"Redemption {args.redemption_id} {what}: {result.points} points. "
            f"Balance: {result.balance}."
        )
        return 0


class Refund(Command):
    name = "refund"
    help = "take back a refunded purchase's points"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("purchase_id", help="the purchase's receipt id")
        add_receipt_arguments(parser, "refund", id_help="the shop's refund id")
        parser.add_argument("--amount", help="a partial refund; the whole purchase if absent")

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        result = await context.program.purchases.refund(
            args.purchase_id, refund_id=args.refund_id, actor=args.actor, amount=args.amount
        )
        what = "was already refunded" if result.replayed else "refunded"
        debt = f" ({result.debt_added} left as debt)" if result.debt_added else ""
        print(
            f"Refund {args.refund_id} of purchase {args.purchase_id} ({result.amount}) {what}: "
            f"{result.points} points taken back{debt}. Balance: {result.balance}."
        )
        return 0


class RedeemCancel(Command):
    name = "redeem-cancel"
    help = "give back the points a returned order was paid with"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("redemption_id", help="the id the points were redeemed under")
        parser.add_argument(
            "--points", type=int, help="a part of the order returned: the points to give back"
        )
        parser.add_argument(
            "--cancel-id", help="the shop's id of this partial cancel (required with --points)"
        )
        parser.add_argument("--reason", help="why, kept with the cancel")
        parser.add_argument("--actor", default="operator", help="who records it")

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        result = await context.program.purchases.cancel_redemption(
            args.redemption_id,
            actor=args.actor,
            points=args.points,
            cancel_id=args.cancel_id,
            reason=args.reason,
        )
        if result.replayed and result.points == 0:
            what = "was already cancelled in full: nothing is left to give back"
        elif result.replayed:
            what = f"was already cancelled: {result.points} points given back"
        else:
            what = f"cancelled: {result.points} points given back"
        expired = f" ({result.expired} of them expired at once)" if result.expired else ""
        left = f" {result.left} more can be given back." if result.left else ""
        print(
            f"Redemption {result.redemption_id} {what}{expired}.{left} Balance: {result.balance}."
        )
        return 0


class Adjust(Command):
    name = "adjust"
    help = "correct a member's balance by hand (+ or -), with the reason"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_member_arguments(parser)
        parser.add_argument(
            "points", type=points_change, help="points to add, or to take back if negative"
        )
        parser.add_argument(
            "--reason", required=True, help="why, as support will read it later (kept with it)"
        )
        parser.add_argument(
            "--id",
            required=True,
            dest="adjustment_id",
            help="the correction's own id (a ticket number): the same id twice adjusts once",
        )
        parser.add_argument("--actor", default="operator", help="who corrects it")

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        member = await context.member_of(args)
        result = await context.program.adjustments.adjust(
            member.id,
            args.points,
            adjustment_id=args.adjustment_id,
            reason=args.reason,
            actor=args.actor,
        )
        what = "was already made" if result.replayed else "made"
        print(
            f"Adjustment {result.adjustment_id} {what}: {result.entry.points:+d} points on card "
            f"{cards.display(member.card_code)} ({result.entry.reference}). "
            f"Balance: {result.balance}."
        )
        return 0


COMMANDS: tuple[Command, ...] = (Credit(), Redeem(), Refund(), RedeemCancel(), Adjust())
