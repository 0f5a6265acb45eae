"""Points at the till: a purchase credited, points redeemed, a refund taken back.

python main.py credit CARD AMOUNT --purchase-id ID [--store S] [--category NAME=AMOUNT ...]
python main.py redeem CARD POINTS --redemption-id ID [--order-amount A]
python main.py refund PURCHASE_ID --refund-id ID [--amount A]

Each is idempotent on the shop's id: run again, it says so and changes nothing.
"""

from __future__ import annotations

import argparse

from cli.arguments import CategoryAmounts, add_receipt_arguments, card_code, category_amount
from cli.command import Command, Context
from core.shared import cards


class Credit(Command):
    name = "credit"
    help = "record a purchase and earn points"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("card", type=card_code, help="the member's card code")
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
            args.card,
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
        parser.add_argument("card", type=card_code, help="the member's card code")
        parser.add_argument("points", type=int, help="how many points to spend")
        add_receipt_arguments(parser, "redemption")
        parser.add_argument(
            "--order-amount", help="the order paid with the points; caps them at the allowed share"
        )

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        result = await context.program.purchases.redeem(
            args.card,
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


COMMANDS: tuple[Command, ...] = (Credit(), Redeem(), Refund())
