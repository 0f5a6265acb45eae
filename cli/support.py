"""One member's whole picture, for support and the till.

python main.py member-show CARD|--phone N [--json]

Read from the services the bot, the tier status and the data export use (members, tiers,
ledger, expiry, purchases, coupons, referrals, tags): nothing here computes on its own. The
other support tools are `adjust` (cli/till.py) and `coupon-void` (cli/coupons.py).
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from cli.arguments import add_member_arguments
from cli.command import Command, Context
from cli.earning import tier_lines
from core.members.accounts import MARKETING, Profile
from core.offers.campaigns import CouponKind
from core.offers.issuing import IssuedCoupon
from core.program import LoyaltyProgram
from core.shared import cards

# As many purchases and ledger entries as support reads at once.
RECENT = 10
EXPIRY_DAYS = 3


def _at(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _benefit(coupon: IssuedCoupon) -> str:
    if coupon.kind is CouponKind.PERCENT:
        return f"{coupon.value}% off"
    if coupon.kind is CouponKind.FIXED:
        return f"{coupon.value} off"
    return f"a free {coupon.item}"


async def picture(program: LoyaltyProgram, member: Profile) -> tuple[dict[str, Any], list[str]]:
    """Everything member-show prints, as JSON-ready values; and the tier as tier-status
    words it."""
    rules = await program.rules.current()
    consents = [row for row in await program.members.consents(member.id) if row.kind == MARKETING]
    tier: dict[str, Any] | None = None
    tier_text: list[str] = []
    if rules.tiers:
        status = await program.tiers.status(member.id, rules)
        tier = {
            "tier": status.tier.key if status.tier else None,
            "metric": status.metric,
            "value": str(status.value),
            "window_days": status.window_days,
            "since": _at(status.since),
            "grace_until": _at(status.grace_until),
            "to_keep": str(status.to_keep) if status.to_keep is not None else None,
            "next_tier": status.next_tier.key if status.next_tier else None,
            "to_next": str(status.to_next) if status.to_next is not None else None,
        }
        tier_text = tier_lines(rules, status)
    history = await program.ledger.history(member.id, page_size=RECENT)
    referrals = await program.referrals.progress(member.id)
    shown = {
        "card": cards.display(member.card_code),
        "name": member.name,
        "language": member.language,
        "phone": member.phone,
        "phone_verified": member.phone_verified,
        "birthday": member.birthday.isoformat() if member.birthday else None,
        "joined_at": _at(member.created_at),
        "messengers": [
            {"channel": identity.channel, "id": identity.external_id}
            for identity in await program.members.identities(member.id)
        ],
        "offers_consent": {
            "granted": member.marketing_opt_in,
            "at": _at(consents[-1].created_at) if consents else None,
            "channel": consents[-1].channel if consents else None,
        },
        "tier": tier,
        "balance": member.balance,
        "debt": member.debt,
        "expiring": [
            {"points": lot.points, "expires_at": _at(lot.expires_at)}
            for lot in await program.expiry.next_expiries(member.id, days=EXPIRY_DAYS)
        ],
        "purchases": [
            {
                "purchase_id": purchase.purchase_id,
                "amount": str(purchase.amount),
                "points": purchase.points,
                "store": purchase.store,
                "at": _at(purchase.created_at),
            }
            for purchase in await program.purchases.recent(member.id, limit=RECENT)
        ],
        "entries": [
            {
                "points": entry.points,
                "reason": entry.reason,
                "reference": entry.reference,
                "actor": entry.actor,
                "balance_after": entry.balance_after,
                "at": _at(entry.created_at),
            }
            for entry in history.entries
        ],
        "entries_total": history.total,
        "coupons": [
            {
                "code": coupon.code,
                "campaign": coupon.campaign,
                "benefit": _benefit(coupon),
                "valid_until": _at(coupon.valid_until),
                "uses_left": coupon.uses_left,
            }
            for coupon in await program.coupons.active_for(member.id)
        ],
        "referrals": {
            "joined": referrals.joined,
            "rewarded": referrals.rewarded,
            "pending": referrals.pending,
        },
        "tags": await program.segments.tags_of(member.id),
    }
    return shown, tier_text


def as_text(shown: dict[str, Any], tier_text: list[str]) -> str:
    phone = shown["phone"] or "none"
    if shown["phone"]:
        phone += " (verified)" if shown["phone_verified"] else " (typed, not verified)"
    consent = shown["offers_consent"]
    offers = "yes" if consent["granted"] else "no"
    if consent["at"]:
        offers += f" (since {consent['at'][:10]}, {consent['channel']})"
    messengers = ", ".join(f"{m['channel']}:{m['id']}" for m in shown["messengers"]) or "none"
    lines = [
        f"Card {shown['card']}: {shown['name'] or '(no name)'}",
        f"  language {shown['language']}; phone {phone}; birthday {shown['birthday'] or 'none'}",
        f"  joined {shown['joined_at'][:10]}; messengers: {messengers}",
        f"  offers: {offers}",
    ]
    if tier_text:
        first, *rest = tier_text
        lines.append(f"  {first[0].upper()}{first[1:]}")
        lines.extend(f"  {line}" for line in rest)
    else:
        lines.append("  Tiers: the program has none.")
    debt = f" (debt {shown['debt']})" if shown["debt"] else ""
    lines.append(f"Balance: {shown['balance']} points{debt}.")
    if shown["expiring"]:
        lines.append(
            "  expiring next: "
            + "; ".join(f"{lot['points']} on {lot['expires_at'][:10]}" for lot in shown["expiring"])
        )
    lines.append(f"Last purchases ({len(shown['purchases'])}):")
    lines.extend(
        f"  {p['at'][:16].replace('T', ' ')}  {p['purchase_id']}  {p['amount']}  "
        f"+{p['points']} points" + (f"  at {p['store']}" if p["store"] else "")
        for p in shown["purchases"]
    )
    lines.append(f"Last ledger entries ({len(shown['entries'])} of {shown['entries_total']}):")
    lines.extend(
        f"  {e['at'][:16].replace('T', ' ')}  {e['points']:+d}  {e['reason']}"
        + (f" {e['reference']}" if e["reference"] else "")
        + f"  by {e['actor']}  -> {e['balance_after']}"
        for e in shown["entries"]
    )
    lines.append(f"Active coupons ({len(shown['coupons'])}):")
    lines.extend(
        f"  {c['code']}  {c['campaign']}: {c['benefit']}; "
        f"until {c['valid_until'][:10] if c['valid_until'] else 'no end date'}; "
        f"{c['uses_left']} use(s) left"
        for c in shown["coupons"]
    )
    referrals = shown["referrals"]
    lines.append(
        f"Referrals: {referrals['joined']} joined ({referrals['rewarded']} rewarded, "
        f"{referrals['pending']} pending)."
    )
    lines.append(f"Tags: {', '.join(shown['tags']) or 'none'}.")
    return "\n".join(lines)


class MemberShow(Command):
    name = "member-show"
    help = "one member's whole picture, for support"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_member_arguments(parser)
        parser.add_argument("--json", action="store_true", help="print JSON")

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        member = await context.member_of(args)
        shown, tier_text = await picture(context.program, member)
        if args.json:
            print(json.dumps(shown, ensure_ascii=False, indent=2))
        else:
            print(as_text(shown, tier_text))
        return 0


COMMANDS: tuple[Command, ...] = (MemberShow(),)
