"""Event bonuses and tiers, for operators.

python main.py event CARD KIND EVENT_ID            pay a review/survey/... bonus, once per id
python main.py tier-status CARD                    the member's tier and what the next one takes

The tier review (downgrades after the grace period) is the scheduled job `review_tiers`;
`python main.py jobs run review_tiers` runs it now.
"""

from __future__ import annotations

import argparse
from decimal import ROUND_CEILING, Decimal

from cli.arguments import card_code
from cli.command import Command, Context
from core.rules.book import ProgramRules
from core.shared import cards


class Event(Command):
    name = "event"
    help = "pay the bonus of a review, survey, ... once"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("card", type=card_code, help="the member's card code")
        parser.add_argument("kind", help="the event's kind, as the rules' event_bonuses name it")
        parser.add_argument("event_id", help="the event's own id (a review's id, ...)")
        parser.add_argument("--actor", default="operator", help="who records it")

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        result = await context.program.events.emit(
            card_code=args.card, kind=args.kind, event_id=args.event_id, actor=args.actor
        )
        what = "was already recorded" if result.replayed else "recorded"
        if result.limited:
            paid = "no points (the member was already paid for this kind as often as allowed)"
        else:
            paid = f"{result.points} points to card {cards.display(args.card)}"
        print(f"Event {args.kind} {args.event_id} {what}: {paid}. Balance: {result.balance}.")
        return 0


def metric_amount(rules: ProgramRules, amount: Decimal) -> str:
    if rules.tier_metric == "points":
        return f"{int(amount.to_integral_value(rounding=ROUND_CEILING))} points"
    return f"{amount:.2f} {rules.currency}"


class TierStatus(Command):
    name = "tier-status"
    help = "a member's tier and the next one"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("card", type=card_code, help="the member's card code")

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        program = context.program
        code: str = args.card
        member_id = await context.member_id(code)
        rules = await program.rules.current()
        if not rules.tiers:
            print("The program has no tiers (set the `tiers` rule).")
            return 0
        status = await program.tiers.status(member_id, rules)
        tier = status.tier.name.get("en") if status.tier else "none"
        measured = "spent" if status.metric == "spend" else "earned with purchases"
        lines = [
            f"Card {cards.display(code)}: tier {tier}; "
            f"{metric_amount(rules, status.value)} {measured} in the last "
            f"{status.window_days} days."
        ]
        if status.grace_until is not None and status.tier is not None:
            keep = metric_amount(rules, status.to_keep or Decimal(0))
            lines.append(
                f"In grace until {status.grace_until:%Y-%m-%d %H:%M} UTC: {keep} to keep it."
            )
        if status.next_tier is not None:
            to_next = metric_amount(rules, status.to_next or Decimal(0))
            lines.append(f"Next tier: {status.next_tier.name.get('en')}, {to_next} to go.")
        else:
            lines.append("This is the highest tier.")
        print("\n".join(lines))
        return 0


COMMANDS: tuple[Command, ...] = (Event(), TierStatus())
