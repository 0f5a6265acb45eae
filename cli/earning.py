"""Event bonuses and tiers, for operators.

python main.py event CARD|--phone N KIND EVENT_ID  pay a review/survey/... bonus, once per id
python main.py tier-status CARD|--phone N          the member's tier and what the next one takes

The tier review (downgrades after the grace period) is the scheduled job `review_tiers`;
`python main.py jobs run review_tiers` runs it now.
"""

from __future__ import annotations

import argparse
from decimal import ROUND_CEILING, Decimal

from cli.arguments import add_member_arguments
from cli.command import Command, Context
from core.rules.book import ProgramRules
from core.shared import cards
from core.tiers.tiers import TierStatus as Status


class Event(Command):
    name = "event"
    help = "pay the bonus of a review, survey, ... once"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_member_arguments(parser)
        parser.add_argument("kind", help="the event's kind, as the rules' event_bonuses name it")
        parser.add_argument("event_id", help="the event's own id (a review's id, ...)")
        parser.add_argument("--actor", default="operator", help="who records it")

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        card = await context.card_of(args)
        result = await context.program.events.emit(
            card_code=card, kind=args.kind, event_id=args.event_id, actor=args.actor
        )
        what = "was already recorded" if result.replayed else "recorded"
        if result.limited:
            paid = "no points (the member was already paid for this kind as often as allowed)"
        else:
            paid = f"{result.points} points to card {cards.display(card)}"
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
        add_member_arguments(parser)

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        program = context.program
        member = await context.member_of(args)
        rules = await program.rules.current()
        if not rules.tiers:
            print("The program has no tiers (set the `tiers` rule).")
            return 0
        status = await program.tiers.status(member.id, rules)
        lines = tier_lines(rules, status)
        lines[0] = f"Card {cards.display(member.card_code)}: {lines[0]}"
        print("\n".join(lines))
        return 0


def tier_lines(rules: ProgramRules, status: Status) -> list[str]:
    """A member's tier as staff read it: the tier and the window's measure, the grace, and
    what the next tier takes (tier-status, member-show)."""
    tier = status.tier.name.get("en") if status.tier else "none"
    measured = "spent" if status.metric == "spend" else "earned with purchases"
    lines = [
        f"tier {tier}; {metric_amount(rules, status.value)} {measured} in the last "
        f"{status.window_days} days."
    ]
    if status.grace_until is not None and status.tier is not None:
        keep = metric_amount(rules, status.to_keep or Decimal(0))
        lines.append(f"In grace until {status.grace_until:%Y-%m-%d %H:%M} UTC: {keep} to keep it.")
    if status.next_tier is not None:
        to_next = metric_amount(rules, status.to_next or Decimal(0))
        lines.append(f"Next tier: {status.next_tier.name.get('en')}, {to_next} to go.")
    else:
        lines.append("This is the highest tier.")
    return lines


COMMANDS: tuple[Command, ...] = (Event(), TierStatus())
