"""Feedback after purchases, for marketers (see core/feedback).

python main.py feedback-report [--store S] [--since D --until D] [--json]
    NPS per store: % promoters (9-10) minus % detractors (0-6), with the counts.
python main.py feedback-report --comments [--limit N] [--store S] [--since D --until D] [--json]
    The members' comments, newest first: when (the shop's time zone), store, score, card.
"""

from __future__ import annotations

import argparse
import json
from zoneinfo import ZoneInfo

from cli.arguments import moment
from cli.command import Command, Context
from core.birthdays.birthdays import zone_of
from core.feedback.service import Comment, StoreScore

DEFAULT_COMMENTS = 50
MAX_COMMENTS = 10_000


def comment_limit(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_COMMENTS:
        raise argparse.ArgumentTypeError(f"a number from 1 to {MAX_COMMENTS}, not {raw!r}")
    return value


class FeedbackReport(Command):
    name = "feedback-report"
    help = "NPS per store of the feedback answers given in a period"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--store", help="only this store")
        parser.add_argument("--since", type=moment, help="answers from this date or time (UTC)")
        parser.add_argument("--until", type=moment, help="answers before this date or time")
        parser.add_argument(
            "--comments", action="store_true", help="the members' comments, newest first"
        )
        parser.add_argument(
            "--limit",
            type=comment_limit,
            default=DEFAULT_COMMENTS,
            help=f"with --comments: at most this many (default {DEFAULT_COMMENTS})",
        )
        parser.add_argument("--json", action="store_true", help="machine-readable output")

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        if args.comments:
            return await self._comments(context, args)
        scores = await context.program.feedback.report(
            store=args.store, since=args.since, until=args.until
        )
        if args.json:
            print(json.dumps([score.as_json() for score in scores], ensure_ascii=False))
            return 0
        if not scores:
            print("No answers in this period.")
            return 0
        print(_table(scores))
        return 0

    async def _comments(self, context: Context, args: argparse.Namespace) -> int:
        comments = await context.program.feedback.comments(
            store=args.store, since=args.since, until=args.until, limit=args.limit
        )
        if args.json:
            print(json.dumps([comment.as_json() for comment in comments], ensure_ascii=False))
            return 0
        if not comments:
            print("No comments in this period.")
            return 0
        rules = await context.program.rules.current()
        zone = zone_of(rules.time_zone, ZoneInfo("UTC"))
        print("\n".join(_comment(comment, zone) for comment in comments))
        return 0


def _comment(comment: Comment, zone: ZoneInfo) -> str:
    """Two lines: when (in the shop's zone), where, the score and the card; then the text,
    indented (a comment's own line breaks too)."""
    when = comment.answered_at.astimezone(zone)
    text = "\n".join(f"    {line}" for line in comment.text.splitlines() or [""])
    return (
        f"{when:%Y-%m-%d %H:%M} {when.tzname()}  {comment.store}  score {comment.score}"
        f"  card {comment.card_code}\n{text}"
    )


def _table(scores: list[StoreScore]) -> str:
    lines = [f"{'store':<24} {'NPS':>7} {'answers':>8} {'promoters':>10} {'passives':>9} "
             f"{'detractors':>11}"]  # fmt: skip
    for score in scores:
        lines.append(
            f"{score.store:<24} {score.nps:>+7.1f} {score.answers:>8} {score.promoters:>10} "
            f"{score.passives:>9} {score.detractors:>11}"
        )
    if len(scores) > 1:
        total = StoreScore(
            store="all stores",
            answers=sum(score.answers for score in scores),
            promoters=sum(score.promoters for score in scores),
            passives=sum(score.passives for score in scores),
            detractors=sum(score.detractors for score in scores),
        )
        lines.append(
            f"{total.store:<24} {total.nps:>+7.1f} {total.answers:>8} {total.promoters:>10} "
            f"{total.passives:>9} {total.detractors:>11}"
        )
    return "\n".join(lines)


COMMANDS: tuple[Command, ...] = (FeedbackReport(),)
