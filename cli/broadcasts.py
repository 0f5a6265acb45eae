"""Broadcasts, for marketers (see core/broadcasts/spec.py and examples/broadcast.json).

python main.py broadcast-create --file B.json     store it (a draft); prints its id
python main.py broadcast-preview ID [--card CARD] the message per variant, language, channel
python main.py broadcast-send ID                  send it now (or at its time), with progress
python main.py broadcast-status ID [--json] [--window-days N]
                                                  queued, sent, failed, skipped by reason, rate;
                                                  per variant: delivered, tapped, redeemed,
                                                  purchased, revenue, conversion, uplift against
                                                  the holdout, and the verdict in words
python main.py broadcast-pause ID | broadcast-resume ID | broadcast-cancel ID
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from app import broadcasts as wiring
from app.settings import Settings
from cli.arguments import card_code, row_number
from cli.command import Command, Context, Needs
from cli.coupons import read_text
from core.broadcasts.attribution import AttributionReport, Outcome
from core.broadcasts.broadcasts import (
    BROKEN,
    SCHEDULED,
    SENDING,
    BroadcastInfo,
    Broadcasts,
    BroadcastStatus,
)
from core.broadcasts.engine import Preview, RunReport
from core.broadcasts.errors import BroadcastRefused, InvalidBroadcast
from core.broadcasts.images import MAX_IMAGE_BYTES, too_large
from core.broadcasts.render import borrowed_languages
from core.broadcasts.spec import HOLDOUT, BroadcastSpec, Variant, parse_spec
from core.program import LoyaltyProgram
from core.shared import cards
from core.shared.quiet_hours import zone_of

CHANNELS = ("telegram", "vk", "whatsapp")


def _id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "id", type=row_number, help="the broadcast's id (broadcast-create prints it)"
    )


class BroadcastCreate(Command):
    name = "broadcast-create"
    help = "create a broadcast (a draft) from its JSON file; prints its id"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--file", required=True, help="the broadcast's JSON, or - for stdin")
        parser.add_argument("--actor", default="marketer", help="who creates it")

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        text = await read_text(args.file)
        spec = parse_spec(text)
        images = await asyncio.to_thread(read_images, spec)
        info = await wiring.broadcasts(context.program).create(
            spec, actor=args.actor, images=images
        )
        print(info.id)
        return 0


def read_images(spec: BroadcastSpec) -> dict[str, bytes]:
    """The content of each image file the spec names (a path as given: relative to the
    current folder). Read here, once: the broadcast keeps the bytes, so sending never looks
    for the file again, on this machine or another."""
    images = {}
    for name in sorted(spec.images()):
        path = Path(name)
        try:
            if not path.is_file():
                raise InvalidBroadcast(f"image: no image file at {name}")
            size = path.stat().st_size
            if size > MAX_IMAGE_BYTES:
                raise too_large(name, size)  # before a huge file is read at all
            images[name] = path.read_bytes()
        except OSError as error:
            raise InvalidBroadcast(f"image: cannot read {name}: {error.strerror}") from error
    return images


class BroadcastPreview(Command):
    name = "broadcast-preview"
    help = "show a broadcast's message per variant, language and channel"
    needs = Needs.SETTINGS

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        _id(parser)
        parser.add_argument(
            "--card",
            type=card_code,
            help="as this member gets it (their variant, language and values)",
        )

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        from app.runtime import opened

        async with opened(context.settings) as runtime:
            member_id = None
            if args.card:
                member_id = await Context(context.settings, runtime.program).member_id(args.card)
            previews = await runtime.broadcast_engine.preview(args.id, member_id)
            if args.card and not previews:
                print(
                    f"Card {cards.display(args.card)} is in the holdout: this broadcast sends "
                    "them nothing (their purchases are the baseline)."
                )
                return 0
            from app.broadcast_sending import captions, text_of

            texts = runtime.conversation.texts
            for number, preview in enumerate(previews):
                message = preview.message
                print(_shown(preview, text_of(message, texts), captions(message, texts)))
                last_of_variant = (
                    number + 1 == len(previews) or previews[number + 1].variant != preview.variant
                )
                if not args.card and last_of_variant:
                    print(_borrowed(preview.variant, context.settings.locale))
        return 0


def _borrowed(variant: Variant, default_language: str) -> str:
    """Which members get a text in a language other than their own, and why: said before
    the send, so a missing translation is seen while it can still be added."""
    borrowed = borrowed_languages(variant, default_language)
    if not borrowed:
        return f"(variant {variant.key}: every member gets the text in their own language)"
    return "\n".join(
        f"(variant {variant.key}: {language} members get the {chosen} text: variant "
        f"{variant.key} has no {language} text)"
        for language, chosen in borrowed.items()
    )


def _shown(preview: Preview, text: str, captions: list[str]) -> str:
    message = preview.message
    lines = [f"== variant {message.variant} · {message.language} =="]
    for channel in CHANNELS:
        lines.append(f"-- {channel}")
        if channel == "whatsapp":
            lines.append("   (within 24 h of the member's last message:)")
        lines.extend("   " + line for line in text.splitlines() or [""])
        if message.image is not None:
            image = message.image
            size = _size(len(image.content))
            lines.append(f"   [image: {image.filename}, {image.extension.upper()}, {size}]")
        elif preview.variant.image is not None:
            lines.append(
                f"   [image: {preview.variant.image} is not stored with the broadcast: it "
                "cannot be sent; create it again]"
            )
        for number, label in enumerate(captions, start=1):
            lines.append(f"   {number}. {label}" if channel == "whatsapp" else f"   [ {label} ]")
        if channel == "whatsapp":
            template = preview.variant.whatsapp_template
            if template is not None:
                variables = json.dumps(preview.template_variables or {}, ensure_ascii=False)
                lines.append(f"   (outside it: template {template.content_sid} {variables})")
            else:
                lines.append("   (outside it: skipped, no template)")
    return "\n".join(lines)


def _size(length: int) -> str:
    """An image's size as people read it: bytes below a kilobyte, never "0 KB"."""
    if length < 1024:
        return f"{length} bytes"
    if length < 1024 * 1024:
        return f"{length / 1024:.1f} KB"
    return f"{length / 1024 / 1024:.1f} MB"


class BroadcastSend(Command):
    name = "broadcast-send"
    help = "send a broadcast now (or at its time); shows progress in a terminal"
    needs = Needs.SETTINGS

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        _id(parser)
        parser.add_argument(
            "--yes", action="store_true", help="send a paid Telegram broadcast without asking"
        )
        parser.add_argument(
            "--detach",
            action="store_true",
            help="hand it to the workers (`main.py worker`, REDIS_URL) at once and return",
        )

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        from app.runtime import opened

        async with opened(context.settings) as runtime:
            rule = await wiring.broadcasts(runtime.program).get(args.id)
            if rule.spec.trigger is not None:
                # A standing rule is switched on here; the jobs send what it fires.
                info = await wiring.broadcasts(runtime.program).start(args.id)
                print(
                    f"Broadcast {info.id} is {info.shown_state}: it goes to each member of its "
                    f"segment when its {rule.spec.trigger.kind} trigger fires "
                    f"({who_sends(context.settings)} it) until broadcast-pause or "
                    "broadcast-cancel."
                )
                return 0
            if not runtime.has_messenger:
                # The embedded default: members chat in `main.py run`'s console. `run` sends
                # what is planned here: woken through Redis when there is one, else it looks
                # every BROADCAST_POLL_SECONDS (app.lifecycle.watch_broadcasts).
                broadcasts = wiring.broadcasts(runtime.program)
                info = await broadcasts.start(args.id)
                if info.state == SENDING:
                    await broadcasts.plan(args.id)
                    if context.settings.redis_url:
                        from workers.kicks import kick_broadcast

                        await kick_broadcast(context.settings.redis_url, args.id)
                    recipients = (await broadcasts.status(args.id)).recipients
                    print(
                        f"Broadcast {info.id}: {recipients} recipient(s) planned. No messenger "
                        "is configured here (TELEGRAM_BOT_TOKEN, VK_GROUP_TOKEN, TWILIO_*): "
                        "a running `python main.py run` sends it (its console too) within "
                        "seconds."
                    )
                    return 0
                print(
                    f"Broadcast {info.id} is {await _when(runtime.program, info)}; "
                    f"{who_sends(context.settings)} it."
                )
                return 0
            if args.detach and not context.settings.redis_url:
                raise BroadcastRefused(
                    "workers take a broadcast from Redis: set REDIS_URL, or send without --detach"
                )
            engine = runtime.broadcast_engine
            if context.settings.broadcast_telegram_paid and context.settings.telegram_enabled:
                await _confirm_paid(engine.broadcasts, args.id, yes=args.yes)
            info = await engine.broadcasts.start(args.id)
            if info.state == SCHEDULED and info.send_at is not None:
                print(
                    f"Broadcast {info.id} is {await _when(runtime.program, info)}; "
                    f"{who_sends(context.settings)} it then."
                )
                return 0
            await engine.broadcasts.plan(args.id)
            if context.settings.redis_url:
                # The workers join now (not at the next minute's job) and share it with us.
                from workers.kicks import kick_broadcast

                await kick_broadcast(context.settings.redis_url, args.id)
                if args.detach:
                    print(f"Broadcast {info.id} is handed to the workers.")
                    return 0
            total = (await engine.broadcasts.status(args.id)).recipients
            bar = ProgressBar(total) if sys.stdout.isatty() else None
            report = await engine.run(args.id, progress=bar.show if bar else None)
            if bar is not None:
                bar.close()
            status = await engine.broadcasts.status(args.id)
        print(_summary(status, report))
        if status.state == BROKEN:
            raise BroadcastRefused(f"broadcast {status.id} failed: {status.failure}")
        return 0


def who_sends(settings: Settings) -> str:
    """Which process of this deployment sends what is due ("... sends"): the scheduled jobs
    run in `main.py run` unless SCHEDULER_ENABLED=false; with Redis, workers take them too."""
    if not settings.scheduler_enabled:
        if settings.redis_url:
            return "the `python main.py worker` processes send"
        return "a running `python main.py scheduler` sends"
    if settings.redis_url:
        return "a running `python main.py run` (or `python main.py worker`) sends"
    return "a running `python main.py run` sends"


async def _when(program: LoyaltyProgram, info: BroadcastInfo) -> str:
    """Its state, and for a scheduled one its time in the shop's zone."""
    if info.state != SCHEDULED or info.send_at is None:
        return info.shown_state
    zone = zone_of((await program.rules.current()).time_zone, ZoneInfo("UTC"))
    return f"scheduled for {_local(info.send_at, zone.key)}"


async def _confirm_paid(broadcasts: Broadcasts, broadcast_id: int, *, yes: bool) -> None:
    """The most a paid Telegram broadcast costs, said before anything is sent; asked in a
    terminal, refused elsewhere unless --yes."""
    from app.broadcast_sending import PAID_PER_SECOND, STARS_PER_PAID_MESSAGE, paid_cost_stars

    recipients = await broadcasts.audience_size(broadcast_id)
    print(
        f"Paid Telegram broadcast (up to {PAID_PER_SECOND} messages/s): at most "
        f"{paid_cost_stars(recipients)} Stars for {recipients} recipients "
        f"({STARS_PER_PAID_MESSAGE} Star per message, from the bot's balance; members "
        "reached on VK or WhatsApp cost nothing)."
    )
    if yes:
        return
    if not sys.stdin.isatty():
        raise BroadcastRefused("a paid broadcast costs Stars: confirm with --yes")
    answer = await asyncio.to_thread(input, "Send it? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        raise BroadcastRefused("not confirmed: nothing was sent")


class ProgressBar:
    WIDTH = 30

    def __init__(self, total: int) -> None:
        self.total = max(total, 1)

    def show(self, report: RunReport) -> None:
        done = report.sent + report.skipped + report.failed + report.deferred
        filled = min(self.WIDTH, self.WIDTH * done // self.total)
        sys.stdout.write(
            f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{self.total} "
            f"sent {report.sent} skipped {report.skipped} failed {report.failed}"
        )
        sys.stdout.flush()

    def close(self) -> None:
        sys.stdout.write("\n")


def _local(when: datetime, zone: str) -> str:
    """A time as the shop reads it: in its zone, the zone named."""
    return f"{when.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} ({zone})"


def _summary(status: BroadcastStatus, report: RunReport | None = None) -> str:
    waiting = f"{status.waiting} waiting for their time"
    if status.waiting_until is not None:
        waiting += f", the first at {_local(status.waiting_until, status.time_zone)}"
    lines = [
        f"Broadcast {status.id} ({status.name}): {status.shown_state}",
        f"recipients {status.recipients}: sent {status.sent}, queued {status.queued}"
        f" ({waiting}), in flight {status.in_flight},"
        f" failed {status.failed}, skipped {status.skipped}",
    ]
    if status.send_at is not None:
        lines.insert(1, f"send_at {_local(status.send_at, status.time_zone)}")
    if status.failure:
        lines.insert(1, f"it cannot be sent: {status.failure}")
    for reason, count in status.skipped_by_reason.items():
        lines.append(f"  skipped ({reason}): {count}")
    for key, counts in status.by_variant.items():
        lines.append(
            f"  variant {key}: sent {counts.sent}, queued {counts.queued},"
            f" failed {counts.failed}, skipped {counts.skipped}"
        )
    for channel, count in status.by_channel.items():
        lines.append(f"  via {channel}: {count}")
    if status.rate is not None:
        lines.append(f"rate achieved: {status.rate:.1f} messages/s")
    return "\n".join(lines)


def _outcomes(report: AttributionReport, *, holdout: int) -> str:
    """`holdout`: the percent the broadcast holds out (0: none, so no uplift is promised)."""
    days = report.window / timedelta(days=1)
    lines = [
        f"did it work (purchases within {days:g} days of the message, revenue net of refunds):"
    ]
    rows = list(report.variants)
    if report.holdout is not None:
        rows.append(report.holdout)
    for outcome in rows:
        lines.append("  " + _outcome(outcome))
    if report.best_versus_next is not None:
        lines.append(f"  best variant: {report.best_versus_next.words}")
    for outcome in report.variants:
        if outcome.versus_holdout is not None:
            lines.append(f"  {outcome.key} against the holdout: {outcome.versus_holdout.words}")
    if holdout and report.holdout is None:
        lines.append("  no holdout yet: no baseline to measure an uplift against")
    return "\n".join(lines)


def _outcome(outcome: Outcome) -> str:
    name = "holdout" if outcome.key == HOLDOUT else f"variant {outcome.key}"
    reached = "held out" if outcome.key == HOLDOUT else "delivered"
    conversion = outcome.conversion
    text = (
        f"{name}: {reached} {outcome.delivered}, tapped {outcome.tapped},"
        f" redeemed {outcome.redeemed}, purchased {outcome.purchased},"
        f" revenue {outcome.revenue}"
        + (f" ({outcome.refunded} refunded)" if outcome.refunded else "")
        + ", conversion "
        + ("-" if conversion is None else f"{conversion * 100:.1f}%")
    )
    if outcome.uplift_points is not None:
        text += f", uplift {outcome.uplift_points:+.1f} points"
        if outcome.uplift_relative is not None:
            text += f" ({outcome.uplift_relative * 100:+.0f}%)"
    return text


class BroadcastStatusCommand(Command):
    name = "broadcast-status"
    help = (
        "a broadcast's progress (queued, sent, failed, skipped by reason, rate) and whether it"
        " worked (taps, redemptions, purchases per variant against the holdout)"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        _id(parser)
        parser.add_argument("--json", action="store_true", help="as JSON")
        parser.add_argument(
            "--window-days",
            type=int,
            help="days after the message in which a purchase counts"
            " (default BROADCAST_ATTRIBUTION_DAYS, 7)",
        )

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        days = args.window_days
        if days is None:
            days = context.settings.broadcast_attribution_days
        if not 1 <= days <= 366:
            raise BroadcastRefused(f"--window-days must be 1 to 366, not {days}")
        broadcasts = wiring.broadcasts(context.program)
        status = await broadcasts.status(args.id)
        holdout = (await broadcasts.get(args.id)).spec.holdout
        report = await wiring.attribution(context.program).report(args.id, timedelta(days=days))
        if args.json:
            shown = {**status.as_json(), "attribution": report.as_json()}
            print(json.dumps(shown, ensure_ascii=False, indent=2))
        else:
            print(_summary(status))
            print(_outcomes(report, holdout=holdout))
        return 0


class BroadcastPause(Command):
    name = "broadcast-pause"
    help = "pause a broadcast (workers stop within a second; resume goes on)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        _id(parser)

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        info = await wiring.broadcasts(context.program).pause(args.id)
        print(f"Broadcast {info.id} is {info.shown_state}.")
        return 0


class BroadcastResume(Command):
    name = "broadcast-resume"
    help = "resume a paused broadcast (the job worker, or broadcast-send, goes on with it)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        _id(parser)

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        info = await wiring.broadcasts(context.program).resume(args.id)
        if info.state == SENDING and context.settings.redis_url:
            # The run that was paused has ended: the workers go on now, not at the next
            # minute's job (without Redis, `main.py run` looks every BROADCAST_POLL_SECONDS).
            from workers.kicks import kick_broadcast

            await kick_broadcast(context.settings.redis_url, args.id)
        print(f"Broadcast {info.id} is {info.shown_state}.")
        return 0


class BroadcastCancel(Command):
    name = "broadcast-cancel"
    help = "cancel a broadcast: nobody else gets it (what was sent stays sent)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        _id(parser)

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        info = await wiring.broadcasts(context.program).cancel(args.id)
        print(f"Broadcast {info.id} is {info.shown_state}.")
        return 0


COMMANDS: tuple[Command, ...] = (
    BroadcastCreate(),
    BroadcastPreview(),
    BroadcastSend(),
    BroadcastStatusCommand(),
    BroadcastPause(),
    BroadcastResume(),
    BroadcastCancel(),
)
