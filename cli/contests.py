"""Giveaways with a draw anyone can verify, and leaderboard contests, for operators.

python main.py contest-create --file F.json
python main.py contest-list
python main.py contest-close ID|SLUG
python main.py contest-draw ID|SLUG [--beacon-file FILE | --beacon HEX] [--output FILE]
python main.py verify-draw FILE|URL
"""

from __future__ import annotations

import argparse
import asyncio
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cli.command import Command, Context, Needs
from cli.coupons import UnreadableFile, UnwritableFile, open_for_output
from core.games.contests import draw as drawing
from core.games.contests.contests import ContestView
from core.games.contests.errors import ContestRefused
from core.games.contests.spec import localized
from core.shared.parsing import load_json

# How long fetching a beacon or a published transcript may take.
FETCH_TIMEOUT_SECONDS = 15
MAX_TRANSCRIPT_BYTES = 50 * 1024 * 1024
# drand's randomness is a sha256.
RANDOMNESS_BYTES = 32


def _read_json_file(path: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise UnreadableFile(f"cannot read {path}: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise UnreadableFile(f"{path} is not UTF-8 text") from error
    try:
        return load_json(text)
    except ValueError as error:
        raise UnreadableFile(f"{path} is not JSON: {error}") from None


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
        "draw a closed giveaway with its beacon round, checked against drand's signature (a "
        "leaderboard contest: its frozen standings) and print the transcript (JSON)"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("contest", help="the contest's id or slug")
        given = parser.add_mutually_exclusive_group()
        given.add_argument(
            "--beacon-file",
            help="the drand relay's answer for the committed round (JSON, saved elsewhere): "
            "checked like a fetched one",
        )
        given.add_argument(
            "--beacon",
            help="the committed round's randomness (hex), on your word: published unsigned",
        )
        parser.add_argument("--output", help="also write the transcript to this file")

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        # An --output that cannot be written is refused before the draw is recorded.
        output = Path(args.output) if args.output else None
        created = output is not None and open_for_output(output)
        try:
            transcript = await self._draw(context, args)
        except BaseException:
            if created and output is not None:
                output.unlink(missing_ok=True)
            raise
        text = json.dumps(transcript, ensure_ascii=False, indent=2, sort_keys=True)
        # Printed first: the draw is recorded, and its transcript must reach the operator
        # even if the file cannot be written.
        print(text)
        if output is not None:
            try:
                await asyncio.to_thread(output.write_text, text + "\n", encoding="utf-8")
            except OSError as error:
                raise UnwritableFile(
                    f"cannot write {output}: {error.strerror}; the transcript is printed"
                ) from None
        return 0

    @staticmethod
    async def _draw(context: Context, args: argparse.Namespace) -> Any:
        contests = context.program.contests
        contest = await contests.get(args.contest)
        if contest.kind == "leaderboard":
            # Ranked at its close: no beacon; the transcript of its frozen standings.
            transcript = await contests.draw(args.contest, "", source="none")
        elif args.beacon is not None:
            transcript = await contests.draw(args.contest, args.beacon, source="operator")
        else:
            if args.beacon_file is not None:
                answer = await asyncio.to_thread(_read_json_file, args.beacon_file)
                where, source = args.beacon_file, "drand_file"
            else:
                where = drawing.beacon_url(
                    contest.beacon_chain, contest.beacon_round, context.settings.drand_url
                )
                answer = await asyncio.to_thread(fetch_beacon, where)
                source = "drand"
            signed = signed_beacon(answer, contest.beacon_round, where)
            try:
                transcript = await contests.draw(
                    args.contest,
                    signed.randomness,
                    source=source,
                    signature=signed.signature,
                    previous_signature=signed.previous_signature,
                )
            except ContestRefused as refusal:
                if refusal.reason != "beacon_invalid":
                    raise
                # Which relay (or file) gave the round that is not drand's.
                raise ContestRefused("beacon_invalid", f"{where}: {refusal.detail}") from None
        return transcript


def fetch_beacon(url: str) -> Any:
    """A drand relay's answer for a round (JSON): refused if the relay cannot be read."""
    try:
        return load_json(_fetch(url))
    except (OSError, urllib.error.URLError, ValueError) as error:
        raise ContestRefused(
            "beacon_unavailable",
            f"{url}: {type(error).__name__}; give --beacon-file FILE (the relay's answer "
            "saved on another machine) or --beacon HEX",
        ) from None


@dataclass(frozen=True)
class SignedBeacon:
    randomness: str
    signature: str
    previous_signature: str | None


def signed_beacon(answer: Any, round_number: int, where: str) -> SignedBeacon:
    """The randomness and signatures of a relay's answer for `round_number`, refused if it is
    not shaped like one; the draw checks that drand's key signed it."""
    if not isinstance(answer, dict):
        raise ContestRefused("beacon_invalid", f"{where}: not a drand round (a JSON object)")
    values = {name: answer.get(name) for name in ("round", "randomness", "signature")}
    missing = [name for name, value in values.items() if value is None]
    if missing:
        raise ContestRefused("beacon_invalid", f"{where}: no {', '.join(missing)}")
    if values["round"] != round_number:
        raise ContestRefused(
            "beacon_invalid", f"{where}: round {values['round']!r}, not {round_number}"
        )
    randomness = str(values["randomness"])
    try:
        if len(bytes.fromhex(randomness)) != RANDOMNESS_BYTES:
            raise ValueError
    except ValueError:
        raise ContestRefused(
            "beacon_invalid", f"{where}: the randomness is not {RANDOMNESS_BYTES} bytes in hex"
        ) from None
    previous = answer.get("previous_signature")
    return SignedBeacon(
        randomness=randomness,
        signature=str(values["signature"]),
        previous_signature=None if previous is None else str(previous),
    )


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
                transcript = load_json(raw)
            except ValueError as error:  # UnicodeDecodeError among them
                raise UnreadableFile(f"{source} is not JSON: {error}") from None
        else:
            transcript = await asyncio.to_thread(_read_json_file, source)
        if not isinstance(transcript, dict):
            raise UnreadableFile(f"{source} is not a draw transcript")
        # The beacon's signature takes pure-Python pairings: off the event loop.
        result = await asyncio.to_thread(drawing.verify, transcript)
        print("\n".join(result.report()))
        return result.verdict()[1]


COMMANDS: tuple[Command, ...] = (
    ContestCreate(),
    ContestList(),
    ContestClose(),
    ContestDraw(),
    VerifyDraw(),
)
