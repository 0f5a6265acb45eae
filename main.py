"""The composition root: reads settings, builds every layer, and runs what was asked.

python main.py [run]                      web server + every configured channel
python main.py chat                       talk to the bot in this terminal
python main.py migrate                    apply database migrations
python main.py credit CARD AMOUNT --purchase-id ID
python main.py redeem CARD POINTS --redemption-id ID
python main.py event CARD KIND EVENT_ID | tier-status CARD   (see cli/earning.py)
python main.py jobs list | jobs run NAME [--force]
python main.py scheduler | worker        scheduled jobs in processes of their own
python main.py rules [set KEY VALUE]     the program's rules (see cli/rules.py)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from app.lifecycle import chat, run, serve_jobs
from app.runtime import opened, scheduled_jobs
from app.settings import Settings
from cli import coupons as coupon_commands
from cli import earning as earning_commands
from cli import rules as rules_commands
from core.db.migrate import upgrade_async
from core.jobs import UnknownJob
from core.shared import cards
from core.shared.errors import LoyaltyError, MemberNotFound

log = logging.getLogger("loyalty")


async def credit(
    settings: Settings,
    card: str,
    amount: str,
    purchase_id: str,
    actor: str,
    store: str | None = None,
    categories: dict[str, str] | None = None,
) -> int:
    async with opened(settings) as runtime:
        result = await runtime.program.purchases.credit(
            card, amount, purchase_id=purchase_id, actor=actor, store=store, categories=categories
        )
    what = "was already credited" if result.replayed else "credited"
    tier = f" New tier: {result.tier}." if result.tier_changed else ""
    print(
        f"Purchase {result.purchase_id} ({result.amount}) {what}: "
        f"{result.points} points to card {cards.display(result.card_code)}. "
        f"Balance: {result.balance}.{tier}"
    )
    return 0


async def earning(settings: Settings, arguments: argparse.Namespace) -> int:
    async with opened(settings) as runtime:
        return await earning_commands.run(runtime.program, arguments)


async def redeem(
    settings: Settings,
    card: str,
    points: int,
    redemption_id: str,
    actor: str,
    order_amount: str | None = None,
) -> int:
    async with opened(settings) as runtime:
        result = await runtime.program.purchases.redeem(
            card, points, redemption_id=redemption_id, actor=actor, order_amount=order_amount
        )
    what = "was already redeemed" if result.replayed else "redeemed"
    print(f"Redemption {redemption_id} {what}: {result.points} points. Balance: {result.balance}.")
    return 0


async def refund(
    settings: Settings, purchase_id: str, refund_id: str, actor: str, amount: str | None
) -> int:
    async with opened(settings) as runtime:
        result = await runtime.program.purchases.refund(
            purchase_id, refund_id=refund_id, actor=actor, amount=amount
        )
    what = "was already refunded" if result.replayed else "refunded"
    debt = f" ({result.debt_added} left as debt)" if result.debt_added else ""
    print(
        f"Refund {refund_id} of purchase {purchase_id} ({result.amount}) {what}: "
        f"{result.points} points taken back{debt}. Balance: {result.balance}."
    )
    return 0


async def jobs_list(settings: Settings) -> int:
    async with opened(settings) as runtime:
        for job in scheduled_jobs(runtime).jobs:
            print(f"{job.name:<20} every {job.every:<6} cron {job.cron!r} (UTC)")
    return 0


async def run_job(settings: Settings, name: str, *, force: bool) -> int:
    """One job now, for operators and system cron: it respects the period's claim (several
    machines may call it), unless forced."""
    async with opened(settings) as runtime:
        outcome = await scheduled_jobs(runtime).run(name, force=force)
    if outcome.ran:
        print(f"{outcome.job}: {outcome.result} ({outcome.run_key})")
    else:
        print(
            f"{outcome.job}: this period was already run ({outcome.run_key}); --force runs it again"
        )
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="main.py", description="Messenger loyalty program.")
    commands = root.add_subparsers(dest="command")
    commands.add_parser("run", help="web server and every configured channel (default)")
    chat_parser = commands.add_parser("chat", help="talk to the bot in this terminal")
    chat_parser.add_argument("--user", help="who you are in the console channel")
    commands.add_parser("migrate", help="apply database migrations")
    credit_parser = commands.add_parser("credit", help="record a purchase and earn points")
    credit_parser.add_argument("card", help="the member's card code")
    credit_parser.add_argument("amount", help="purchase amount, e.g. 1234.50")
    credit_parser.add_argument("--purchase-id", required=True, help="the shop's receipt id")
    credit_parser.add_argument("--actor", default="operator", help="who records it")
    earning_commands.add_credit_options(credit_parser)
    redeem_parser = commands.add_parser("redeem", help="spend a member's points at the till")
    redeem_parser.add_argument("card", help="the member's card code")
    redeem_parser.add_argument("points", type=int, help="how many points to spend")
    redeem_parser.add_argument("--redemption-id", required=True, help="the shop's receipt id")
    redeem_parser.add_argument("--actor", default="operator", help="who records it")
    redeem_parser.add_argument(
        "--order-amount", help="the order paid with the points; caps them at the allowed share"
    )
    refund_parser = commands.add_parser("refund", help="take back a refunded purchase's points")
    refund_parser.add_argument("purchase_id", help="the purchase's receipt id")
    refund_parser.add_argument("--refund-id", required=True, help="the shop's refund id")
    refund_parser.add_argument("--amount", help="a partial refund; the whole purchase if absent")
    refund_parser.add_argument("--actor", default="operator", help="who records it")
    jobs_parser = commands.add_parser("jobs", help="scheduled jobs: list them or run one now")
    jobs_commands = jobs_parser.add_subparsers(dest="jobs_command", required=True)
    jobs_commands.add_parser("list", help="every job and its schedule")
    run_job_parser = jobs_commands.add_parser("run", help="run one job now")
    run_job_parser.add_argument("name", help="the job's name, as `jobs list` shows it")
    run_job_parser.add_argument(
        "--force", action="store_true", help="run even if this period's run is done"
    )
    commands.add_parser(
        "scheduler", help="fire the job schedules (with REDIS_URL; else it runs them too)"
    )
    commands.add_parser("worker", help="run the jobs any scheduler fires (needs REDIS_URL)")
    coupon_commands.add_parsers(commands)
    earning_commands.add_parsers(commands)
    rules_commands.add_parsers(commands)
    return root


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    settings = Settings()
    command = arguments.command or "run"
    quiet = command in ("chat", "credit", "redeem", "refund", "jobs") or (
        command == "run"
        and not (settings.telegram_enabled or settings.vk_enabled or settings.whatsapp_enabled)
    )
    quiet = quiet or command in (
        coupon_commands.COMMANDS | earning_commands.COMMANDS | rules_commands.COMMANDS
    )
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        if command == "run":
            return asyncio.run(run(settings))
        elif command == "chat":
            return asyncio.run(chat(settings, arguments.user))
        elif command in coupon_commands.COMMANDS:
            return asyncio.run(coupon_commands.run(settings, arguments))
        elif command in rules_commands.COMMANDS:
            return asyncio.run(rules_commands.run(settings, arguments))
        elif command in earning_commands.COMMANDS:
            return asyncio.run(earning(settings, arguments))
        elif command == "migrate":
            asyncio.run(upgrade_async(settings.database_url))
            print("Database is up to date.")
        elif command == "credit":
            return asyncio.run(
                credit(
                    settings,
                    arguments.card,
                    arguments.amount,
                    arguments.purchase_id,
                    arguments.actor,
                    arguments.store,
                    earning_commands.categories_of(arguments.category),
                )
            )
        elif command == "redeem":
            return asyncio.run(
                redeem(
                    settings,
                    arguments.card,
                    arguments.points,
                    arguments.redemption_id,
                    arguments.actor,
                    arguments.order_amount,
                )
            )
        elif command == "jobs":
            if arguments.jobs_command == "list":
                return asyncio.run(jobs_list(settings))
            return asyncio.run(run_job(settings, arguments.name, force=arguments.force))
        elif command in ("scheduler", "worker"):
            return asyncio.run(
                serve_jobs(settings, schedule=command == "scheduler", work=command == "worker")
            )
        elif command == "refund":
            return asyncio.run(
                refund(
                    settings,
                    arguments.purchase_id,
                    arguments.refund_id,
                    arguments.actor,
                    arguments.amount,
                )
            )
    except UnknownJob as error:
        print(f"No job named {error}; see `main.py jobs list`", file=sys.stderr)
        return 2
    except argparse.ArgumentTypeError as error:
        print(f"Usage error: {error}", file=sys.stderr)
        return 2
    except cards.InvalidCardCode as error:
        print(f"Not a valid card code: {error}", file=sys.stderr)
        return 2
    except MemberNotFound as error:
        print(f"No member with card {error}", file=sys.stderr)
        return 1
    except LoyaltyError as error:
        print(f"Refused: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
