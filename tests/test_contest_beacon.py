"""The beacon of a giveaway's draw is drand's round, checked against the League of Entropy's
BLS signature: fetched from a relay (a fake one serving real rounds) or read from the relay's
answer saved on another machine; a forged or garbled round is refused with nothing drawn;
the signature is published in the transcript, and verify-draw (and draw.py with Python alone)
checks it offline. Each signature check takes a fraction of a second of pure Python: they
are few here."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from app.runtime import build_runtime
from app.settings import Settings
from core.db.models import Contest, ContestWinner
from core.games.contests import draw as drawing
from tests.clocks import StoppedClock
from tests.data import count, enrol, scalar
from tests.fakes.drand_relay import (
    MAINNET_PREVIOUS_SIGNATURE,
    MAINNET_RANDOMNESS,
    MAINNET_ROUND,
    MAINNET_SIGNATURE,
    QUICKNET_RANDOMNESS,
    QUICKNET_ROUND,
    QUICKNET_SIGNATURE,
    REAL_ROUNDS,
    FakeDrandRelay,
    emitted_at,
)
from tests.test_cli import cli_env, run_cli
from tests.test_contests import BEACON, giveaway, verify_cli

__all__ = ["cli_env"]

VALID = "signature valid (League of Entropy key)"


async def closed_for_round(settings: Settings, chain: str, round_number: int) -> int:
    """A giveaway drawn when `round_number` of `chain` came out (so committed to it), with
    three entries, closed before that round existed."""
    draw_at = emitted_at(chain, round_number)
    ends_at = draw_at - timedelta(minutes=10)
    clock = StoppedClock(ends_at - timedelta(hours=1))
    runtime = build_runtime(settings, clock=clock)
    try:
        created = await runtime.program.contests.create(
            giveaway(
                starts_at=(ends_at - timedelta(minutes=30)).isoformat(),
                ends_at=ends_at.isoformat(),
                draw_at=draw_at.isoformat(),
                beacon_chain=chain,
                winners=1,
                reserves=1,
            ),
            actor="test",
        )
        assert (created.beacon_chain, created.beacon_round) == (chain, round_number)
        clock.current = ends_at - timedelta(minutes=20)
        for i in range(3):
            person = await enrol(runtime, str(8000 + i))
            await runtime.program.contests.join(created.id, person.id)
        clock.current = ends_at + timedelta(minutes=1)
        await runtime.program.contests.close(created.id)
        return created.id
    finally:
        await runtime.close()


def flipped(hex_text: str, at: int = 20) -> str:
    data = bytearray(bytes.fromhex(hex_text))
    data[at] ^= 1
    return data.hex()


async def stand_alone(transcript: Path) -> tuple[int, str]:
    """draw.py as a member runs it with nothing but Python: `-S` leaves site-packages (and so
    py_ecc) out."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-I", "-S", drawing.__file__, str(transcript),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await process.communicate()
    return int(process.returncode or 0), out.decode()


async def test_a_draw_fetched_from_a_relay_is_signed_and_verifies_offline(
    cli_env: Settings,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    contest_id = await closed_for_round(cli_env, "quicknet", QUICKNET_ROUND)
    output = workdir / "draw.json"
    async with FakeDrandRelay() as relay:
        monkeypatch.setenv("DRAND_URL", relay.base_url)
        assert await run_cli("contest-draw", str(contest_id), "--output", str(output)) == 0
    transcript = json.loads(capsys.readouterr().out)
    chain_hash = drawing.DRAND_CHAINS["quicknet"]["hash"]
    assert relay.asked == [f"/{chain_hash}/public/{QUICKNET_ROUND}"]
    reveal = transcript["reveal"]
    assert (reveal["beacon"], reveal["beacon_signature"], reveal["beacon_source"]) == (
        QUICKNET_RANDOMNESS,
        QUICKNET_SIGNATURE,
        "drand",
    )
    assert "beacon_previous_signature" not in reveal, "quicknet's rounds are not chained"
    assert len(transcript["result"]["winners"]) == 1

    runtime = build_runtime(cli_env)
    try:
        kept = await scalar(runtime, select(Contest.beacon_signature))
        async with TestClient(TestServer(runtime.web_app, host="127.0.0.1")) as client:
            served = await (await client.get(f"/contests/{contest_id}/draw.json")).json()
            url = str(client.make_url(f"/contests/{contest_id}/draw.json"))
            status, out = await verify_cli(url)
    finally:
        await runtime.close()
    assert kept == QUICKNET_SIGNATURE
    assert served["reveal"] == reveal
    assert status == 0, out
    assert f"beacon: drand quicknet round {QUICKNET_ROUND}, {VALID}" in out
    assert out.strip().splitlines()[-1] == "VERIFIED"

    # With Python alone everything else is checked, and the member is told how to check
    # the signature.
    status, out = await stand_alone(output)
    assert status == 3, out
    assert "pip install py_ecc" in out and drawing.beacon_url("quicknet", QUICKNET_ROUND) in out
    assert VALID not in out and out.strip().splitlines()[-1] == "BEACON NOT VERIFIED"

    # A signature changed in the transcript.
    changed = copy.deepcopy(transcript)
    changed["reveal"]["beacon_signature"] = flipped(QUICKNET_SIGNATURE)
    output.write_text(json.dumps(changed), encoding="utf-8")
    status, out = await verify_cli(str(output))
    assert status == 1
    assert "MISMATCH: the beacon's signature: the beacon is not sha256(signature)" in out
    assert out.strip().endswith("NOT VERIFIED")

    # The same round's value passed off as the next round's: drand's key did not sign that.
    later = copy.deepcopy(transcript)
    later["commitment"]["beacon_round"] = QUICKNET_ROUND + 1
    assert drawing.verify(later).problems == [
        "the beacon's signature is not the League of Entropy's "
        f"for drand quicknet round {QUICKNET_ROUND + 1}"
    ]


async def test_a_relay_answer_that_is_not_the_round_signed_by_drand_is_refused(
    cli_env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    committed = QUICKNET_ROUND + 1
    contest_id = await closed_for_round(cli_env, "quicknet", committed)
    real = REAL_ROUNDS[("quicknet", QUICKNET_ROUND)]
    garbled = flipped(QUICKNET_SIGNATURE)
    not_signed = f"not the League of Entropy's for drand quicknet round {committed}"
    answers = [
        # Another round's signature and randomness, as the committed round's.
        ({**real, "round": committed}, not_signed),
        # A byte of the signature changed, the randomness made to match it.
        (
            {
                "round": committed,
                "randomness": hashlib.sha256(bytes.fromhex(garbled)).hexdigest(),
                "signature": garbled,
            },
            not_signed,
        ),
        ({**real, "round": committed, "signature": garbled}, "the beacon is not sha256(signature)"),
        (real, f"round {QUICKNET_ROUND}, not {committed}"),
        ({**real, "round": committed, "randomness": "zz"}, "the randomness is not 32 bytes"),
        ({"round": committed}, "no randomness, signature"),
        ([1, 2], "not a drand round"),
    ]
    async with FakeDrandRelay() as relay:
        monkeypatch.setenv("DRAND_URL", relay.base_url)
        for answer, reason in answers:
            relay.serve("quicknet", committed, answer)  # type: ignore[arg-type]
            assert await run_cli("contest-draw", str(contest_id)) == 1
            err = capsys.readouterr().err
            assert err.startswith(f"Refused: contest: beacon_invalid ({relay.base_url}/"), err
            assert reason in err, err

    # A relay that cannot be reached: the operator is told the other ways.
    monkeypatch.setenv("DRAND_URL", "http://127.0.0.1:9")
    assert await run_cli("contest-draw", str(contest_id)) == 1
    err = capsys.readouterr().err
    assert err.startswith("Refused: contest: beacon_unavailable")
    assert "--beacon-file" in err and "--beacon HEX" in err

    runtime = build_runtime(cli_env)
    try:
        contest = await runtime.program.contests.get(contest_id)
        assert (contest.state, contest.drawn_at, contest.places) == ("closed", None, ())
        assert await scalar(runtime, select(Contest.beacon_signature)) is None
        assert await count(runtime, ContestWinner) == 0
    finally:
        await runtime.close()


async def test_a_mainnet_draw_from_the_relays_answer_saved_on_another_machine(
    cli_env: Settings,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    contest_id = await closed_for_round(cli_env, "mainnet", MAINNET_ROUND)
    monkeypatch.setenv("DRAND_URL", "http://127.0.0.1:9")  # no relay is reachable
    saved = workdir / "round.json"
    real = REAL_ROUNDS[("mainnet", MAINNET_ROUND)]
    draw = ("contest-draw", str(contest_id), "--beacon-file", str(saved))

    # A chained round is signed after the previous round's signature: without it, or with
    # another one, it is not drand's round.
    saved.write_text(json.dumps({**real, "previous_signature": None}), encoding="utf-8")
    assert await run_cli(*draw) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"Refused: contest: beacon_invalid ({saved}: ")
    assert "the previous round's signature, which is missing" in err
    changed = {**real, "previous_signature": flipped(MAINNET_PREVIOUS_SIGNATURE)}
    saved.write_text(json.dumps(changed), encoding="utf-8")
    assert await run_cli(*draw) == 1
    assert f"not the League of Entropy's for drand mainnet round {MAINNET_ROUND}" in (
        capsys.readouterr().err
    )
    assert await run_cli("contest-draw", str(contest_id), "--beacon-file", "nowhere.json") == 1
    assert capsys.readouterr().err.startswith("Refused: cannot read nowhere.json")
    assert await run_cli(*draw, "--beacon", BEACON) == 2, "one source of the beacon"
    capsys.readouterr()

    saved.write_text(json.dumps(real), encoding="utf-8")
    assert await run_cli(*draw) == 0
    transcript = json.loads(capsys.readouterr().out)
    assert transcript["reveal"] | {"seed": "", "drawn_at": ""} == {
        "seed": "",
        "drawn_at": "",
        "beacon": MAINNET_RANDOMNESS,
        "beacon_source": "drand_file",
        "beacon_signature": MAINNET_SIGNATURE,
        "beacon_previous_signature": MAINNET_PREVIOUS_SIGNATURE,
    }
    result = drawing.verify(transcript)
    assert result.verified, result.problems
    assert f"beacon: drand mainnet round {MAINNET_ROUND}, {VALID}" in result.notes


def test_checking_a_signature_leaves_the_recursion_limit_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """py_ecc raises the process's recursion limit to 100,000 when imported, which would let
    a deeply nested body overflow the C stack in any parser of the web process afterwards:
    the import is made as if for the first time here, and the limit is put back."""
    for name in [name for name in sys.modules if name.split(".")[0] == "py_ecc"]:
        monkeypatch.delitem(sys.modules, name)
    limit = sys.getrecursionlimit()
    assert drawing.signature_valid("quicknet", QUICKNET_ROUND, QUICKNET_SIGNATURE)
    assert sys.getrecursionlimit() == limit
