"""Operator commands for earning rules and tiers (wired into `main.py`'s CLI).

python main.py credit CARD AMOUNT --purchase-id ID [--store S] [--category NAME=AMOUNT ...]
python main.py event CARD KIND EVENT_ID            pay a review/survey/... bonus, once per id
python main.py tier-status CARD                    the member's tier and what the next one takes

The tier review (downgrades after the grace period) is the scheduled job `review_tiers`;
`python main.py jobs run review_tiers` runs it now.

Refusals are LoyaltyErrors: `main.main` prints them and exits non-zero, never a traceback.
"""

from __future__ import annotations

import argparse
from decimal import ROUND_CEILING, Decimal
from typing import Any

from core.program import LoyaltyProgram
from core.rules.book import ProgramRules
from core.shared import cards
from core.shared.errors import MemberNotFound
from core.shared.owners import owner_of_card

COMMANDS = frozenset({"event", "tier-status"})


def category_amount(raw: str) -> tuple[str, str]:
    """NAME=AMOUNT of `--category`; the amount itself is checked by the core."""
    name, separator, amount = raw.partition("=")
    if not separator or not name.strip() or not amount.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=AMOUNT, such as coffee=300, not {raw!r}")
    return name.strip(), amount.strip()


def categories_of(pairs: list[tuple[str, str]] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    categories: dict[str, str] = {}
    for name, amount in pairs:
        if name in categories:
            raise argparse.ArgumentTypeError(f"category {name!r} is given twice")
        categories[name] = amount
    return categories


def add_credit_options(credit: argparse.ArgumentParser) -> None:
    credit.add_argument("--store", help="the store the purchase was made in")
    credit.add_argument(
        "--category",
        action="append",
        type=category_amount,
        metavar="NAME=AMOUNT",
        help="part of the amount in a category, e.g. coffee=300 (repeatable)",
    )


def add_parsers(commands: Any) -> None:
    """Add this module's subcommands to main.py's subparsers."""
    event = commands.add_parser("event", help="pay the bonus of a review, survey, ... once")
    event.add_argument("card", help="the member's card code")
    event.add_argument("kind", help="the event's kind, as the rules' event_bonuses name it")
    event.add_argument("event_id", help="the event's own id (a review's id, ...)")
    event.add_argument("--actor", default="operator", help="who records it")
    status = commands.add_parser("tier-status", help="a member's tier and the next one")
    status.add_argument("card", help="the member's card code")


async def run(program: LoyaltyProgram, arguments: argparse.Namespace) -> int:
    if arguments.command == "event":
        return await event(program, arguments.card, arguments.kind, arguments.event_id, arguments)
    return await tier_status(program, arguments.card)


async def event(
    program: LoyaltyProgram, card: str, kind: str, event_id: str, arguments: argparse.Namespace
) -> int:
    result = await program.events.emit(
        card_code=card, kind=kind, event_id=event_id, actor=arguments.actor
    )
    what = "was already recorded" if result.replayed else "recorded"
    if result.limited:
        paid = "no points (the member was already paid for this kind as often as allowed)"
    else:
        paid = f"{result.points} points to card {cards.display(cards.normalize(card))}"
    print(f"Event {kind} {event_id} {what}: {paid}. Balance: {result.balance}.")
    return 0


def metric_amount(rules: ProgramRules, amount: Decimal) -> str:
    if rules.tier_metric == "points":
        return f"{int(amount.to_integral_value(rounding=ROUND_CEILING))} points"
    return f"{amount:.2f} {rules.currency}"


async def tier_status(program: LoyaltyProgram, card: str) -> int:
    code = cards.normalize(card)
    async with program.db.reading() as session:
        member_id = await session.scalar(owner_of_card(code))
    if member_id is None:
        raise MemberNotFound(code)
    rules = await program.rules.current()
    if not rules.tiers:
        print("The program has no tiers (set the `tiers` rule).")
        return 0
    status = await program.tiers.status(member_id, rules)
    tier = status.tier.name.get("en") if status.tier else "none"
    measured = "spent" if status.metric == "spend" else "earned with purchases"
    lines = [
        f"Card {cards.display(code)}: tier {tier}; "
        f"{metric_amount(rules, status.value)} {measured} in the last {status.window_days} days."
    ]
    if status.grace_until is not None and status.tier is not None:
        keep = metric_amount(rules, status.to_keep or Decimal(0))
        lines.append(f"In grace until {status.grace_until:%Y-%m-%d %H:%M} UTC: {keep} to keep it.")
    if status.next_tier is not None:
        to_next = metric_amount(rules, status.to_next or Decimal(0))
        lines.append(f"Next tier: {status.next_tier.name.get('en')}, {to_next} to go.")
    else:
        lines.append("This is the highest tier.")
    print("\n".join(lines))
    return 0
