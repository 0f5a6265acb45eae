"""`main.py segment-count --file F [--json]`, `tag CARD TAG` and `untag CARD TAG` as a
marketer runs them: real processes against the test's database, refusals as "Refused: ..."
with exit 1 and no traceback."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from app.runtime import Runtime
from app.settings import Settings
from core.members.accounts import IdentityKey, Registration
from core.shared import cards
from tests.test_cli import SETTINGS_VARIABLES, cli_env, run_cli  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parent.parent


async def main_py(settings: Settings, *argv: str, cwd: Path) -> tuple[int, str, str]:
    """main.py in a process of its own, as from a shell."""
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
    }
    for name in SETTINGS_VARIABLES:
        environment.pop(name, None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "main.py"),
        *argv,
        cwd=cwd,
        env=environment,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return int(process.returncode or 0), out.decode(), err.decode()


async def join(runtime: Runtime, external_id: str, channel: str, *, marketing: bool = True) -> str:
    enrolment = await runtime.program.members.enrol(
        Registration(
            identity=IdentityKey(channel, external_id),
            language="en",
            accepted_terms=True,
            marketing_opt_in=marketing,
        )
    )
    return enrolment.member.card_code


async def test_tag_and_untag_a_member_then_count_the_tagged(
    settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    ann = await join(runtime, "1", "telegram")
    await join(runtime, "2", "vk")
    shown = cards.display(ann)

    status, out, err = await main_py(settings, "tag", shown, "vip", cwd=tmp_path)
    assert (status, err) == (0, ""), err
    assert out.strip() == f"Card {shown} tagged vip; tags: vip."
    status, out, _ = await main_py(settings, "tag", ann, "vip", cwd=tmp_path)
    assert out.strip() == f"Card {shown} already tagged vip; tags: vip."

    segment = tmp_path / "vip.json"
    segment.write_text('{"tags": {"any": ["vip"]}}', "utf-8")
    status, out, err = await main_py(
        settings, "segment-count", "--file", str(segment), "--json", cwd=tmp_path
    )
    assert status == 0, err
    assert json.loads(out) == {"total": 1, "by_channel": {"telegram": 1}}

    status, out, _ = await main_py(settings, "untag", ann, "vip", cwd=tmp_path)
    assert (status, out.strip()) == (0, f"Card {shown} untagged vip; tags: none.")
    assert await runtime.program.segments.tags_of(await member_id(runtime, "1")) == []

    # A tag that is no tag, a card nobody has: refused, no traceback, nothing written.
    status, out, err = await main_py(settings, "tag", ann, "Not A Tag!", cwd=tmp_path)
    assert status == 1 and err.startswith("Refused: 'Not A Tag!' is not a tag"), err
    assert "Traceback" not in err
    nobody = cards.generate()
    status, _, err = await main_py(settings, "tag", nobody, "vip", cwd=tmp_path)
    assert status == 1 and "No member with card" in err, err


async def member_id(runtime: Runtime, external_id: str) -> int:
    member = await runtime.program.members.find(IdentityKey("telegram", external_id))
    assert member is not None
    return member.id


async def test_segment_count_prints_the_total_and_by_channel(
    cli_env: Settings,  # noqa: F811
    runtime: Runtime,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    await join(runtime, "10", "telegram")
    await join(runtime, "11", "telegram")
    await join(runtime, "12", "vk")
    await join(runtime, "13", "vk", marketing=False)
    everyone = tmp_path / "everyone.json"
    everyone.write_text("{}", "utf-8")
    assert await run_cli("segment-count", "--file", str(everyone)) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "3 member(s) in the segment (opted in to offers).",
        "  telegram   2",
        "  vk         1",
    ]
    example = ROOT / "examples" / "segments" / "telegram-russian.json"
    assert await run_cli("segment-count", "--file", str(example), "--json") == 0
    assert json.loads(capsys.readouterr().out) == {"total": 0, "by_channel": {}}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "Refused: not JSON"),
        ('"gold"', "Refused: a segment is a JSON object"),
        ('{"tier": "Gold Tier"}', "Refused: tier"),
        ('{"colour": "red"}', "unknown fields: colour"),
        # Names the program does not have: a typo would count nobody (or, "not redeemed",
        # everybody).
        ('{"tier": "gold"}', "Refused: tier: no tier 'gold' in the rules (base)"),
        (
            '{"quest": {"slug": "coffe-week"}, "badge": "regullar",'
            ' "coupon": {"campaign": "sprng", "redeemed": false}}',
            "Refused: quest: no quest 'coffe-week'; badge: no badge 'regullar'; "
            "coupon: no campaign 'sprng'",
        ),
        ('{"bought": {"min": 3, "days": 30}}', "Refused: bought: give a category, a store"),
        ('{"spent": {"min": 100}}', "Refused: spent: needs a period"),
        (None, "Refused: cannot read"),
        (b'{"tier": "\xff"}', "not UTF-8 text"),
    ],
)
async def test_a_segment_file_that_cannot_be_used_is_refused(
    cli_env: Settings,  # noqa: F811
    runtime: Runtime,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    content: str | bytes | None,
    reason: str,
) -> None:
    path = tmp_path / "segment.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, "utf-8")
    assert await run_cli("segment-count", "--file", str(path)) == 1
    err = capsys.readouterr().err
    assert reason in err and "Traceback" not in err, err


async def test_segment_count_of_what_was_bought_and_spent(
    cli_env: Settings,  # noqa: F811
    runtime: Runtime,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The example segments of purchases, counted as a marketer runs segment-count: three
    coffees in a month; big spenders with big receipts (refunds taken off)."""
    program = runtime.program
    regular = await join(runtime, "20", "telegram")
    occasional = await join(runtime, "21", "vk")
    spender = await join(runtime, "22", "vk")
    for number in range(3):
        await program.purchases.credit(
            regular, "250", purchase_id=f"r{number}", actor="till", categories={"coffee": "250"}
        )
    await program.purchases.credit(
        occasional, "250", purchase_id="o0", actor="till", categories={"coffee": "250"}
    )
    for number in range(5):
        await program.purchases.credit(spender, "2500", purchase_id=f"s{number}", actor="till")
    regulars = ROOT / "examples" / "segments" / "coffee-regulars.json"
    assert await run_cli("segment-count", "--file", str(regulars)) == 0
    assert capsys.readouterr().out.splitlines() == [
        "1 member(s) in the segment (opted in to offers).",
        "  telegram   1",
    ]
    spenders = ROOT / "examples" / "segments" / "big-spenders.json"
    assert await run_cli("segment-count", "--file", str(spenders), "--json") == 0
    assert json.loads(capsys.readouterr().out) == {"total": 1, "by_channel": {"vk": 1}}
    # 12,500 spent, less a refund of 2,600: below 10,000 now.
    await program.purchases.refund("s0", refund_id="rs0", actor="till")
    await program.purchases.refund("s1", refund_id="rs1", actor="till", amount="100")
    assert await run_cli("segment-count", "--file", str(spenders), "--json") == 0
    assert json.loads(capsys.readouterr().out) == {"total": 0, "by_channel": {}}
