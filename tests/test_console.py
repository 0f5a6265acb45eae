"""The console channel and `main.py run`, driven as a newcomer would: a real process, its
stdin and stdout."""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from app.runtime import Runtime, build_runtime
from app.settings import Settings
from bots.console.channel import ConsoleChannel
from core.members.accounts import IdentityKey
from handlers.messages import Incoming, Reply

ROOT = Path(__file__).resolve().parent.parent


def environment(settings: Settings, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "PUBLIC_URL", "WEB_"))
    }
    env.update(
        DATABASE_URL=settings.database_url,
        REDIS_URL=settings.redis_url,
        LANG="en_US.UTF-8",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


async def run_cli(
    settings: Settings,
    *args: str,
    cwd: Path = ROOT,
    lines: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> tuple[int, str, str]:
    """`main.py` with these arguments as a shell runs it (`env`: variables besides the
    settings'), `lines` typed on its stdin: (exit status, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "main.py"),
        *args,
        cwd=cwd,
        env=environment(settings, **(env or {})),
        stdin=asyncio.subprocess.DEVNULL if lines is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    typed = None if lines is None else "\n".join(lines).encode() + b"\n"
    out, err = await asyncio.wait_for(process.communicate(typed), 90)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def converse(settings: Settings, cwd: Path, lines: list[str], *args: str) -> str:
    code, out, err = await run_cli(settings, *args, cwd=cwd, lines=lines)
    assert code == 0, err
    return out


async def test_a_member_joins_and_uses_the_menu_in_the_console(
    settings: Settings, tmp_path: Path
) -> None:
    output = await converse(
        settings,
        tmp_path,
        [
            "1",  # accept the terms (the welcome is in English: LANG=en_US)
            "2",  # no offers: the card is open
            "1",  # Balance
            "2",  # My card
            "no idea",
            "profile",
            "1",  # 📱 Phone
            "1",  # "share my number": the console asks to type it instead
            "+44 20 7946 0958",
            "/quit",
        ],
        "chat",
        "--user",
        "alice",
    )

    assert "Welcome to Loyalty Club! Here is how it works" in output
    assert "  1) ✅ I accept the terms" in output
    assert "  3) Русский" in output, "the other languages are one choice away"
    assert "Your card is ready! You get 100 points as a welcome gift." in output
    assert "You have 100 points." in output
    assert "Sorry, I did not understand that." in output
    assert "Type your phone number" in output
    assert "Saved: your phone is +442079460958." in output
    picture = tmp_path / "data" / "console"
    assert len(list(picture.glob("card-*.png"))) == 1

    runtime = build_runtime(settings)
    try:
        member = await runtime.program.members.find(IdentityKey("console", "alice"))
        assert member is not None
        assert member.phone == "+442079460958" and member.phone_verified is False
        assert member.birthday is None and member.marketing_opt_in is False
        assert await runtime.program.ledger.balance(member.id) == 100
    finally:
        await runtime.close()


async def test_the_console_survives_bad_input_and_end_of_input(
    settings: Settings, tmp_path: Path
) -> None:
    output = await converse(settings, tmp_path, ["", "99", "🙂", "4"], "chat", "--user", "bob")
    # "99" is no choice and "🙂" no answer: the welcome is shown again; "4" is فارسی.
    assert output.count("Please choose one of the options below.") == 2
    assert "Вот как это работает" not in output
    assert "به Loyalty Club خوش آمدید" in output


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_run_serves_health_and_the_console_until_the_member_leaves(
    settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "main.py"),
        "run",
        cwd=tmp_path,
        env=environment(settings, WEB_PORT=str(port)),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                        ready = await response.json()
                        assert response.status == 200, ready
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("the web server never came up")
        assert ready["database"] == "ok"
        assert ready.get("redis", "ok") == "ok"
        assert process.stdin is not None
        process.stdin.write(b"/quit\n")
        await process.stdin.drain()
        stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
    assert "Welcome to Loyalty Club!" in stdout.decode()


async def test_the_console_says_when_the_service_is_away_and_goes_on(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nobody redelivers a terminal's line: during an outage of Redis or the database the
    member is told, and the console keeps going (it used to end with a traceback)."""
    lines = iter(["2", "/quit"])

    async def read_line() -> str:
        return next(lines, "")

    real = runtime.conversation.handle
    calls = 0

    async def away_once(message: Incoming) -> list[Reply]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RedisConnectionError(
                "Error 111 connecting to 127.0.0.1:6390. Connection refused."
            )
        return await real(message)

    monkeypatch.setattr(runtime.conversation, "handle", away_once)
    output = io.StringIO()
    console = ConsoleChannel(
        runtime.conversation,
        user_id="ann",
        language_code="en",
        display_name=None,
        read_line=read_line,
        output=output,
        images_dir=tmp_path,
    )

    await console.run()

    shown = output.getvalue()
    assert "The service is unavailable for a moment." in shown
    assert calls == 2, "the next line was handled as usual"
    assert "Loyalty Club" in shown.split("The service is unavailable for a moment.")[1]


class RunningProduct:
    """`main.py run` as a newcomer starts it: its console on stdin and stdout, read as it
    comes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.output = ""
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while chunk := await self.process.stdout.read(4096):
            self.output += chunk.decode(errors="replace")

    async def say(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()

    async def shows(self, text: str, timeout: float) -> None:  # noqa: ASYNC109
        deadline = asyncio.get_running_loop().time() + timeout
        while text not in self.output:
            if self._reader.done() or asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"never shown: {text!r}\n--- shown:\n{self.output}")
            await asyncio.sleep(0.1)

    async def stop(self) -> tuple[int, str]:
        await self.say("/quit")
        assert self.process.stderr is not None
        stderr = await asyncio.wait_for(self.process.stderr.read(), 30)
        await asyncio.wait_for(self.process.wait(), 30)
        await self._reader
        assert self.process.returncode is not None
        return self.process.returncode, stderr.decode()


async def test_a_broadcast_made_with_the_cli_reaches_the_console_of_run(
    settings: Settings, tmp_path: Path
) -> None:
    """The embedded default end to end: a member joins in `run`'s console, a marketer creates
    and sends a broadcast with the CLI, and `run` prints it in the console within seconds:
    woken through Redis, or on the embedded default by its watcher (BROADCAST_POLL_SECONDS),
    not at the next minute's job."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "main.py"),
        "run",
        cwd=tmp_path,
        env=environment(
            settings,
            WEB_PORT=str(free_port()),
            LOYALTY_CONSOLE_USER="carol",
            BROADCAST_POLL_SECONDS="1",
        ),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    product = RunningProduct(process)
    try:
        await product.shows("Welcome to Loyalty Club!", 60)
        await product.say("1")  # accept the terms
        await product.say("1")  # yes, send me offers
        await product.shows("Your card is ready!", 30)

        spec = {
            "name": "Console news",
            "segment": {},
            "text": {"en": "Fresh pastries today! You have {balance} points."},
            # Whatever the hour the test runs at.
            "quiet_hours": {"start": 0, "end": 0},
        }
        spec_file = tmp_path / "broadcast.json"
        spec_file.write_text(json.dumps(spec), encoding="utf-8")
        code, out, err = await run_cli(settings, "broadcast-create", "--file", str(spec_file))
        assert code == 0, err
        broadcast_id = out.strip()
        code, out, err = await run_cli(settings, "broadcast-send", broadcast_id)
        assert code == 0, err
        assert "1 recipient(s) planned" in out

        sent_at = time.monotonic()
        await product.shows("Fresh pastries today!", 60)
        # Not the minute job's: that would be up to 60 s (a loaded machine is slow to start
        # the engine, hence the margin above the 1 s poll).
        assert time.monotonic() - sent_at < 20
    finally:
        if process.returncode is None:
            returncode, stderr = await product.stop()
    assert returncode == 0, stderr
    # Personal: the welcome gift is on the member's card.
    assert "Fresh pastries today! You have 100 points." in product.output
    code, out, _ = await run_cli(settings, "broadcast-status", broadcast_id)
    assert code == 0 and "sent 1" in out, out
