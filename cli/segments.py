"""Segments and tags, for marketers.

python main.py segment-count --file SEGMENT.json [--json]   who is in it now, by channel
python main.py tag CARD|--phone N TAG                       put a tag on a member
python main.py untag CARD|--phone N TAG                     take it off
"""

from __future__ import annotations

import argparse
import json

from cli.arguments import add_member_arguments
from cli.command import Command, Context
from cli.coupons import read_text
from core.segments.definition import parse_segment
from core.shared import cards


class SegmentCount(Command):
    name = "segment-count"
    help = "count the members in a segment (JSON, see README), by channel"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--file", required=True, help="the segment's JSON, or - for stdin")
        parser.add_argument("--json", action="store_true", help="print JSON")

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        text = await read_text(args.file)
        segment = parse_segment(text)
        rules = await context.program.rules.current()
        await context.program.segments.check_names(segment, [tier.key for tier in rules.tiers])
        counted = await context.program.segments.count(segment)
        if args.json:
            print(json.dumps({"total": counted.total, "by_channel": counted.by_channel}))
            return 0
        print(f"{counted.total} member(s) in the segment (opted in to offers).")
        for channel, count in counted.by_channel.items():
            print(f"  {channel:10} {count}")
        return 0


class Tag(Command):
    name = "tag"
    help = "put a tag on a member (for segments)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_member_arguments(parser)
        parser.add_argument("tag", help="lowercase letters, digits, - and _ (up to 32)")
        parser.add_argument("--actor", default="marketer", help="who tags")

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        member = await context.member_of(args)
        added, tags = await context.program.segments.tag(member.id, args.tag, actor=args.actor)
        what = "tagged" if added else "already tagged"
        print(
            f"Card {cards.display(member.card_code)} {what} {args.tag.strip()}; "
            f"tags: {', '.join(tags)}."
        )
        return 0


class Untag(Command):
    name = "untag"
    help = "take a tag off a member"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_member_arguments(parser)
        parser.add_argument("tag", help="the tag to take off")

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        member = await context.member_of(args)
        removed, tags = await context.program.segments.untag(member.id, args.tag)
        what = "untagged" if removed else "did not carry"
        shown = ", ".join(tags) if tags else "none"
        print(f"Card {cards.display(member.card_code)} {what} {args.tag.strip()}; tags: {shown}.")
        return 0


COMMANDS: tuple[Command, ...] = (SegmentCount(), Tag(), Untag())
