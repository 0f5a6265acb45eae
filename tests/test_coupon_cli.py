"""The operator's coupon and reward commands (`main.main`), against the test's database."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from app.runtime import Runtime
from app.settings import Settings
from core.db.models import Coupon, CouponRedemption, Reward
from tests.data import count, enrol, scalar
from tests.test_cli import cli_env, run_cli, run_main

__all__ = ["cli_env"]


async def test_a_campaign_from_creation_to_the_till(
    runtime: Runtime, cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    ann = await enrol(runtime, "ann")
    bob = await enrol(runtime, "bob")

    code = await run_cli(
        "campaign-create", "spring", "--name", "Spring sale", "--kind", "percent",
        "--value", "10", "--min-order", "100", "--ends-at", "2099-01-01", "--valid-days", "30",
        "--budget", "1000", "--terms", "One per receipt",
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Campaign spring (Spring sale) created: 10.00% off" in out
    assert "holder only" in out and "budget 1000.00" in out

    assert await run_cli("coupon-issue", "spring", ann.card_code) == 0
    out, err = capsys.readouterr()
    (issued,) = re.findall(r"Coupon (SPRING-\S+) \(Spring sale\) issued to card", out)
    assert "valid until: " in out

    assert (
        await run_cli("coupon-check", issued, "--order-amount", "250", "--card", bob.card_code) == 1
    )
    _, err = capsys.readouterr()
    assert f"Coupon {issued} would be refused: foreign" in err

    assert (
        await run_cli(
            "coupon-check", issued.lower(), "--order-amount", "250", "--card", ann.card_code
        )
        == 0
    )
    out, _ = capsys.readouterr()
    assert "is valid: 25.00 off; 1 use(s) left." in out

    redeem = ("coupon-redeem", issued, "--order-amount", "250", "--card", ann.card_code)
    assert await run_cli(*redeem, "--redemption-id", "R-1") == 0
    out, _ = capsys.readouterr()
    assert f"Coupon {issued} redeemed (R-1): 25.00 off. Uses left: 0." in out
    assert await run_cli(*redeem, "--redemption-id", "R-1") == 0
    assert "was already redeemed" in capsys.readouterr().out
    assert await run_cli(*redeem, "--redemption-id", "R-2") == 1
    out, err = capsys.readouterr()
    assert out == "" and "used_up" in err and "Traceback" not in err
    assert await count(runtime, CouponRedemption) == 1


async def test_generate_and_import_codes(
    runtime: Runtime,
    cli_env: Settings,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert (
        await run_cli(
            "campaign-create",
            "gift",
            "--name",
            "Gift",
            "--kind",
            "fixed",
            "--value",
            "5",
            "--transferable",
        )
        == 0
    )
    capsys.readouterr()

    assert await run_cli("coupons-generate", "gift", "25", "--pattern", "GIFT-####-####") == 0
    out, err = capsys.readouterr()
    codes = out.split()
    assert len(set(codes)) == 25 and all(re.match(r"^GIFT-\w{4}-\w{4}$", c) for c in codes)
    assert "Generated 25 codes for gift." in err

    assert await run_cli("coupons-generate", "gift", "5", "--pattern", "GIFT-##") == 1
    assert "at least 4" in capsys.readouterr().err

    path = Path("codes.txt")  # in the test's working directory
    await asyncio.to_thread(path.write_text, "pos-1\nPOS-2\n\npos-1\n", encoding="utf-8")
    assert await run_cli("coupons-import", "gift", str(path)) == 1
    _, err = capsys.readouterr()
    assert "nothing imported: 1 repeated in the list (POS-1)" in err

    monkeypatch.setattr("sys.stdin", io.StringIO("pos-1\npos-2\n"))
    assert await run_cli("coupons-import", "gift", "-") == 0
    assert "Imported 2 codes into gift." in capsys.readouterr().out
    assert await count(runtime, Coupon) == 27

    assert await run_cli("coupons-import", "nope", str(path)) == 1
    assert "no coupon campaign 'nope'" in capsys.readouterr().err
    assert await run_cli("coupons-import", "gift", "missing.txt") == 1
    assert "cannot read missing.txt" in capsys.readouterr().err

    assert (
        await run_cli("coupon-redeem", "POS-1", "--redemption-id", "X1", "--order-amount", "3") == 0
    )
    assert "POS-1 redeemed (X1): 3.00 off" in capsys.readouterr().out
    assert await run_cli("coupon-check", "NOPE-NOPE") == 1
    assert "would be refused: unknown" in capsys.readouterr().err


async def test_campaign_refusals_are_clear(
    cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        await run_cli("campaign-create", "x", "--name", "X", "--kind", "percent", "--value", "150")
        == 1
    )
    _, err = capsys.readouterr()
    assert "Refused: a percent coupon needs a value above 0 and at most 100" in err
    with pytest.raises(SystemExit) as exited:
        await run_main(
            "campaign-create", "x", "--name", "X", "--kind", "percent", "--ends-at", "soon"
        )
    assert exited.value.code == 2
    assert "not an ISO date" in capsys.readouterr().err
    assert await run_cli("coupon-issue", "x", "O0O-O0O-O0O") == 2


async def test_rewards_are_added_and_listed(
    runtime: Runtime, cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_cli("rewards") == 0
    assert "catalogue is empty" in capsys.readouterr().out

    code = await run_cli(
        "reward-add", "mug", "--name", "Coffee mug", "--cost", "40", "--stock", "3",
        "--description", "Ceramic", "--picture", "https://shop.test/mug.png",
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Reward mug (Coffee mug, 40 points, stock 3) added" in out
    assert "coupon of campaign reward-mug" in out
    assert await run_cli("reward-add", "tea", "--name", "Tea", "--cost", "10") == 0
    capsys.readouterr()

    assert await run_cli("rewards") == 0
    out, _ = capsys.readouterr()
    assert out.splitlines() == [
        "tea: Tea - 10 points, unlimited",
        "mug: Coffee mug - 40 points, 3 left",
    ]
    assert await run_cli("reward-add", "bad", "--name", "Bad", "--cost", "0") == 1
    assert "at least 1 point" in capsys.readouterr().err
    assert await scalar(runtime, select(Reward.picture).where(Reward.slug == "mug")) == (
        "https://shop.test/mug.png"
    )
