"""Quests, for marketers and staff.

python main.py quest-create --file quest.json     a quest from its JSON (see examples/)
python main.py quest-create --profile [--points N]  the profile quest (phone + birthday)
python main.py quest-list                         every quest: window, state, joined, done
python main.py quest-end ID|SLUG                  end a quest now (no progress after it)
python main.py quest-review                       the proofs waiting for staff
python main.py quest-review --approve ID          the step counts; the member is told
python main.py quest-review --reject ID --reason "..."   the member is told why
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC
from pathlib import Path

from cli.arguments import row_number
from cli.command import Command, Context, UsageError
from cli.coupons import read_text
from core.games.quests.definition import QuestDefinition, parse_definition
from core.games.quests.service import QuestInfo, is_profile_quest
from core.shared import cards

SHOWN_PROOF_TEXT = 200
# The profile quest the product ships: phone and birthday for points (`--profile`).
PROFILE_EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "quest-profile.json"


def _window(info: QuestInfo) -> str:
    ends = f"{info.ends_at.astimezone(UTC):%Y-%m-%d %H:%M}" if info.ends_at else "open-ended"
    return f"{info.starts_at.astimezone(UTC):%Y-%m-%d %H:%M} - {ends} UTC"


class QuestCreate(Command):
    name = "quest-create"
    help = "create a quest from a JSON file, or the profile quest (--profile)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        what = parser.add_mutually_exclusive_group(required=True)
        what.add_argument("--file", help="the quest's JSON, or - for stdin")
        what.add_argument(
            "--profile",
            action="store_true",
            help=f"the profile quest of {PROFILE_EXAMPLE.name} (phone and birthday), from now",
        )
        parser.add_argument(
            "--points", type=int, metavar="N", help="with --profile: its reward in points"
        )
        parser.add_argument(
            "--if-missing",
            action="store_true",
            help="with --profile: nothing when a profile quest was ever created (live or ended)",
        )
        parser.add_argument("--actor", default="marketer", help="who creates it")

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        quests = context.program.quests
        if args.profile:
            if args.if_missing and any(
                is_profile_quest(info.definition) for info in await quests.all()
            ):
                print("A profile quest exists already: nothing created (see quest-list).")
                return 0
            definition = await self._profile_definition(context, args.points)
        else:
            if args.points is not None or args.if_missing:
                raise UsageError("--points and --if-missing go with --profile")
            text = await read_text(args.file)
            definition = parse_definition(text)
        info = await quests.create(definition, actor=args.actor)
        reward = f", {definition.reward.points} points" if definition.reward.points else ""
        print(
            f"Quest {info.id} ({info.slug}) created: {len(definition.steps)} step(s), "
            f"{definition.recurrence}{reward}, {_window(info)}."
        )
        return 0

    @staticmethod
    async def _profile_definition(context: Context, points: int | None) -> QuestDefinition:
        """The shipped profile quest, starting now, under the first free slug of its own."""
        raw = json.loads(await asyncio.to_thread(PROFILE_EXAMPLE.read_text, encoding="utf-8"))
        raw["slug"] = await context.program.quests.free_slug(raw["slug"])
        raw["starts"] = context.program.clock.now().isoformat()
        if points is not None:
            raw["reward"] = {**raw["reward"], "points": points}
        return parse_definition(raw)


class QuestList(Command):
    name = "quest-list"
    help = "list the quests"

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        quests = context.program.quests
        infos = await quests.all()
        if not infos:
            print("No quests yet (python main.py quest-create --file F).")
            return 0
        now = context.program.clock.now()
        for info in infos:
            joined, completed = await quests.counts(info.id)
            if info.ended_at is not None:
                state = "ended"
            elif info.live(now):
                state = "live"
            elif info.starts_at > now:
                state = "upcoming"
            else:
                state = "over"
            definition = info.definition
            print(
                f"{info.id}  {info.slug}  [{state}]  {definition.title.get('en')}  "
                f"{_window(info)}  {definition.recurrence}, {len(definition.steps)} step(s); "
                f"joined {joined}, completed {completed}"
            )
        return 0


class QuestEnd(Command):
    name = "quest-end"
    help = "end a quest now"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("quest", help="the quest's id or slug")
        parser.add_argument("--actor", default="marketer", help="who ends it")

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        info = await context.program.quests.end(args.quest, actor=args.actor)
        assert info.ended_at is not None
        print(f"Quest {info.id} ({info.slug}) ended at {info.ended_at:%Y-%m-%d %H:%M} UTC.")
        return 0


class QuestReview(Command):
    name = "quest-review"
    help = "list proofs waiting for review, or approve / reject one"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        decision = parser.add_mutually_exclusive_group()
        decision.add_argument("--approve", type=row_number, metavar="ID", help="approve this proof")
        decision.add_argument("--reject", type=row_number, metavar="ID", help="reject this proof")
        parser.add_argument("--reason", help="why it was rejected (the member reads it)")
        parser.add_argument("--actor", default="staff", help="who reviews")

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        quests = context.program.quests
        if args.approve is None and args.reject is None:
            if args.reason:
                raise UsageError("--reason goes with --reject")
            pending = await quests.pending_proofs()
            if not pending:
                print("No proofs are waiting for a review.")
                return 0
            for proof in pending:
                text = (proof.text or "").replace("\n", " ")
                if len(text) > SHOWN_PROOF_TEXT:
                    text = text[:SHOWN_PROOF_TEXT] + "…"
                shown = f'"{text}"' if text else ""
                photo = f" photo: {proof.photo}" if proof.photo else ""
                print(
                    f"{proof.id}  {proof.quest_slug} step {proof.step + 1}  "
                    f"card {cards.display(proof.card_code)}  "
                    f"{proof.created_at:%Y-%m-%d %H:%M}  {shown}{photo}"
                )
            return 0
        if args.reject is not None and not (args.reason or "").strip():
            raise UsageError('a rejection needs --reason "..." (the member is told it)')
        if args.approve is not None:
            outcome = await quests.review(args.approve, approve=True, actor=args.actor)
            done = " The quest is complete: reward paid." if outcome.quest_done else ""
            print(f"Proof {args.approve} approved; the member will be told.{done}")
        else:
            await quests.review(args.reject, approve=False, actor=args.actor, reason=args.reason)
            print(f"Proof {args.reject} rejected; the member will be told why.")
        return 0


COMMANDS: tuple[Command, ...] = (QuestCreate(), QuestList(), QuestEnd(), QuestReview())
