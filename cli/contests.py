"""Giveaways with a draw anyone can verify, and leaderboard contests, for operators.

python main.py contest-create --file F.json
python main.py contest-list
python main.py contest-close ID|SLUG
python main.py contest-draw ID|SLUG [--beacon HEX] [--output FILE]
python main.py verify-draw FILE|URL
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from cli.command import Command, Context, Needs
from cli.coupons import UnreadableFile
from core.games.contests import draw as drawing
from core.games.contests.contests import ContestView
from core.games.contests.errors import ContestRefused
from core.games.contests.spec import localized

# How long fetching a beacon or a published transcript may take.
FETCH_TIMEOUT_SECONDS = 15
MAX_TRANSCRIPT_BYTES = 50 * 1024 * 1024


def _read_json_file(path: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise UnreadableFile(f"cannot read {path}: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise UnreadableFile(f"{path} is not UTF-8 text") from error
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise UnreadableFile(f"{path} is not JSON: {error}") from error


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:
        return bytes(response.read(MAX_TRANSCRIPT_BYTES + 1))


def summary(contest: ContestView) -> str:
    title = localized(contest.spec.title, "en")
    if contest.kind == "leaderboard":
        parts = [
            f"{contest.id}  {contest.slug}  [{contest.state}]  {title}",
            f"    leaderboard by {contest.metric}, "
            f"{contest.starts_at.isoformat()} .. {contest.ends_at.isoformat()} "
            f"(ranked at the close); {contest.winners} winner(s), "
            f"{contest.reserves} reserve(s)",
            f"    {'everyone ranked' if contest.spec.everyone else 'members who join'}",
        ]
        if contest.entries_sha256:
            parts.append(
                f"    standings frozen: {contest.entry_count} lines, sha256 "
                f"{contest.entries_sha256}"
            )
        for place in contest.places:
            parts.append(f"    #{place.position} {place.pseudonym} {place.role} {place.status}")
        return "\n".join(parts)
    parts = [
        f"{contest.id}  {contest.slug}  [{contest.state}]  {title}",
        f"    {contest.starts_at.isoformat()} .. {contest.ends_at.isoformat()}, "
        f"draw {contest.draw_at.isoformat()}; {contest.winners} winner(s), "
        f"{contest.reserves} reserve(s)",
        f"    entries {contest.entry_count}, tickets {contest.ticket_count}",
        f"    commitment sha256(seed) {contest.seed_sha256}",
        f"    beacon drand {contest.beacon_chain} round {contest.beacon_round}",
    ]
    if contest.entries_sha256:
        parts.append(f"    entry list sha256 {contest.entries_sha256}")
    for place in contest.places:
        parts.append(f"    #{place.position} {place.pseudonym} {place.role} {place.status}")
    return "\n".join(parts)


class ContestCreate(Command):
    name = "contest-create"
    help = "create a giveaway from a JSON file (commits to its draw)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--file", required=True, help="the contest as JSON (see README)")

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        data = await asyncio.to_thread(_read_json_file, args.file)
        contest = await context.program.contests.create(data, actor="operator")
        print(summary(contest))
        return 0


class ContestList(Command):
    name = "contest-list"
    help = "list the contests, their commitments and results"

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        contests = await context.program.contests.listed()
        if not contests:
            print("no contests")
        for contest in contests:
            print(summary(contest))
        return 0


class ContestClose(Command):
    name = "contest-close"
    help = "freeze a giveaway's entry list after its end (the scheduler does it by itself)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("contest", help="the contest's id or slug")

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        contest = await context.program.contests.close(args.contest)
        print(summary(contest))
        return 0


class ContestDraw(Command):
    name = "contest-draw"
    help = (
        "draw a closed giveaway with its beacon round (a leaderboard contest: its frozen "
        "standings) and print the transcript (JSON)"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("contest", help="the contest's id or slug")
        parser.add_argument(
            "--beacon",
            help="the committed drand round's randomness (hex); without it, fetched from drand",
        )
        parser.add_argument("--output", help="also write the transcript to this file")

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        contests = context.program.contests
        source = "operator"
        beacon = args.beacon
        contest = await contests.get(args.contest)
        if contest.kind == "leaderboard":
            # Ranked at its close: no beacon; the transcript of its frozen standings.
            beacon, source = "", "none"
        elif beacon is None:
            beacon = await asyncio.to_thread(
                fetch_beacon, contest.beacon_chain, contest.beacon_round, context.settings.drand_url
            )
            source = "drand"
        transcript = await contests.draw(args.contest, beacon, source=source)
        text = json.dumps(transcript, ensure_ascii=False, indent=2, sort_keys=True)
        if args.output:
            await asyncio.to_thread(Path(args.output).write_text, text + "\n", encoding="utf-8")
        print(text)
        return 0


def fetch_beacon(chain: str, round_number: int, relay: str = drawing.DRAND_RELAY) -> str:
    """The round's randomness from a drand relay. drand's randomness is sha256 of the round's
    signature: a relay's answer that does not hold together is refused."""
    url = drawing.beacon_url(chain, round_number, relay)
    try:
        answer = json.loads(_fetch(url))
        randomness = str(answer["randomness"]).lower()
        if int(answer["round"]) != round_number:
            raise ValueError("another round")
        signature = bytes.fromhex(str(answer["signature"]))
        if hashlib.sha256(signature).hexdigest() != randomness:
            raise ValueError("randomness is not sha256(signature)")
    except (OSError, urllib.error.URLError, ValueError, KeyError, TypeError) as error:
        raise ContestRefused(
            "beacon_unavailable", f"{url}: {type(error).__name__}; give --beacon HEX"
        ) from None
    return randomness


class VerifyDraw(Command):
    name = "verify-draw"
    help = "re-run a published draw from its transcript (a file or a URL), offline"
    needs = Needs.SETTINGS

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("transcript", help="draw.json, or its URL (/contests/ID/draw.json)")

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        source: str = args.transcript
        if source.startswith(("http://", "https://")):
            try:
                raw = await asyncio.to_thread(_fetch, source)
            except (OSError, urllib.error.URLError) as error:
                raise UnreadableFile(f"cannot fetch {source}: {error}") from None
            if len(raw) > MAX_TRANSCRIPT_BYTES:
                raise UnreadableFile(f"{source} is larger than a transcript can be")
            try:
                transcript = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise UnreadableFile(f"{source} is not JSON: {error}") from None
        else:
            transcript = await asyncio.to_thread(_read_json_file, source)
        if not isinstance(transcript, dict):
            raise UnreadableFile(f"{source} is not a draw transcript")
        result = drawing.verify(transcript)
        print("winners: " + ", ".join(result.winners))
        print("reserves: " + ", ".join(result.reserves))
        for note in result.notes:
            print(note)
        for problem in result.problems:
            print("MISMATCH: " + problem)
        print("VERIFIED" if result.verified else "NOT VERIFIED")
        return 0 if result.verified else 1


COMMANDS: tuple[Command, ...] = (
    ContestCreate(),
    ContestList(),
    ContestClose(),
    ContestDraw(),
    VerifyDraw(),
)
