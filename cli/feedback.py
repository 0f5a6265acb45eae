"""Feedback after purchases, for marketers (see core/feedback).

python main.py feedback-report [--store S] [--since D --until D] [--json]
    NPS per store: % promoters (9-10) minus % detractors (0-6), with the counts.
python main.py feedback-report --comments [--limit N] [--store S] [--since D --until D] [--json]
    The members' comments, newest first: when (the shop's time zone), store, score, card.

A date of --since/--until is a whole day in the program's time zone, --until's included
(--since 2026-12-02 --until 2026-12-02 is that one day), as segments take a date; a time is
as given (UTC without an offset), --until's excluded.
"""

from __future__ import annotations

import argparse
import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from cli.arguments import moment
from cli.command import Command, Context
from core.feedback.service import Comment, StoreScore
from core.shared.quiet_hours import zone_of

DEFAULT_COMMENTS = 50
MAX_COMMENTS = 10_000


def day_or_moment(raw: str) -> date | datetime:
    """A date (a whole day, placed in the program's zone once it is known) or a time."""
    if len(raw) != len("2026-12-02"):
        return moment(raw)
    try:
        return date.fromisoformat(raw)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {raw!r}") from error


def bound(value: date | datetime | None, zone: ZoneInfo, *, end: bool) -> datetime | None:
    """The instant a --since (`end` False) or --until starts or ends the period at: a date is
    its day in `zone`, the whole of it (an --until date ends where the next day begins)."""
    if value is None or isinstance(value, datetime):
        return value
    day = value + timedelta(days=1) if end else value
    return datetime.combine(day, time.min, tzinfo=zone)


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
        parser.add_argument(
            "--since",
            type=day_or_moment,
            help="answers from this day (the program's time zone) or time (UTC if no offset)",
        )
        parser.add_argument(
            "--until",
            type=day_or_moment,
            help="answers up to this day, included, or before this time",
        )
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
        rules = await context.program.rules.current()
        zone = zone_of(rules.time_zone, ZoneInfo("UTC"))
        args.since = bound(args.since, zone, end=False)
        args.until = bound(args.until, zone, end=True)
        if args.comments:
            return await self._comments(context, args, zone)
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

    async def _comments(self, context: Context, args: argparse.Namespace, zone: ZoneInfo) -> int:
        comments = await context.program.feedback.comments(
            store=args.store, since=args.since, until=args.until, limit=args.limit
        )
        if args.json:
            print(json.dumps([comment.as_json() for comment in comments], ensure_ascii=False))
            return 0
        if not comments:
            print("No comments in this period.")
            return 0
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
