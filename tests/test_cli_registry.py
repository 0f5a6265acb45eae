"""The one command registry main.py parses through, and the one table of refusals."""

from __future__ import annotations

import argparse

import pytest
from pydantic import SecretStr

from app.settings import Settings
from cli import registry
from cli.command import Needs, UsageError
from cli.errors import MESSAGES, report
from core.jobs import UnknownJob
from core.shared import cards
from core.shared.cards import InvalidCardCode
from core.shared.errors import (
    EXIT_CODES,
    CampaignNotFound,
    Conflict,
    InsufficientPoints,
    InvalidInput,
    LoyaltyError,
    MemberNotFound,
    NotFound,
    Refused,
    UnknownEventKind,
)

# Commands that talk to no messenger: they must be given the core, not the runtime.
CORE_COMMANDS = {
    "credit", "redeem", "refund", "redeem-cancel", "coupon-redeem-cancel",
    "event", "tier-status", "rules", "campaign-create",
    "coupons-generate", "coupons-import", "coupon-issue", "coupon-check", "coupon-redeem",
    "reward-add", "rewards", "jobs", "quest-create", "quest-list", "quest-end", "quest-review",
    "contest-create", "contest-list", "contest-close",
    "contest-draw",
    "badge-create", "badge-list", "segment-count", "tag", "untag",
    "broadcast-create", "broadcast-status", "broadcast-pause", "broadcast-resume",
    "broadcast-cancel", "feedback-report", "adjust", "coupon-void", "member-show",
}  # fmt: skip
SERVING_COMMANDS = {"run", "chat", "scheduler", "worker", "migrate"}
# Commands that open nothing: verify-draw re-runs a published draw offline.
OFFLINE_COMMANDS = {"verify-draw"}
# Commands that send or render through the channels: they open the runtime themselves.
CHANNEL_COMMANDS = {"broadcast-preview", "broadcast-send"}


def test_every_command_is_registered_once_and_reachable_from_the_command_line() -> None:
    names = [command.name for command in registry.COMMANDS]
    assert len(names) == len(set(names))
    assert set(names) == CORE_COMMANDS | SERVING_COMMANDS | OFFLINE_COMMANDS | CHANNEL_COMMANDS
    assert all(command.help for command in registry.COMMANDS)
    parser = registry.parser()
    for name in ("run", "chat", "migrate", "scheduler", "worker", "rules", "rewards"):
        assert registry.command_of(parser.parse_args([name])).name == name
    assert registry.command_of(parser.parse_args([])).name == registry.DEFAULT == "run"
    assert registry.command_of(parser.parse_args(["rules"])).name == "rules"


def test_what_each_command_needs() -> None:
    needs = {command.name: command.needs for command in registry.COMMANDS}
    assert {name for name, need in needs.items() if need is Needs.CORE} == CORE_COMMANDS
    assert {name for name, need in needs.items() if need is Needs.SETTINGS} == (
        SERVING_COMMANDS | OFFLINE_COMMANDS | CHANNEL_COMMANDS
    )
    # `jobs run dispatch_notices` delivers through the channels: it opens them itself.
    assert needs["jobs"] is Needs.CORE


def receipt_options(command: str) -> dict[str, tuple[bool, object, str | None]]:
    """`--...-id` and `--actor` of a till command: (required, default, help) by flag."""
    subparsers = next(
        action
        for action in registry.parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    parser = subparsers.choices[command]
    return {
        flag: (action.required, action.default, action.help)
        for action in parser._actions
        for flag in action.option_strings
        if flag.endswith("-id") or flag == "--actor"
    }


def test_every_till_command_asks_for_the_shops_id_and_who_records_it() -> None:
    receipt = "the shop's receipt id"
    assert receipt_options("credit") == {
        "--purchase-id": (True, None, receipt),
        "--actor": (False, "operator", "who records it"),
    }
    assert receipt_options("redeem") == {
        "--redemption-id": (True, None, receipt),
        "--actor": (False, "operator", "who records it"),
    }
    assert receipt_options("refund") == {
        "--refund-id": (True, None, "the shop's refund id"),
        "--actor": (False, "operator", "who records it"),
    }
    assert receipt_options("coupon-redeem") == {
        "--redemption-id": (True, None, receipt),
        "--actor": (False, "operator", "who redeems it"),
    }


class AnotherChannel:
    """A channel added by its one line in app/channels.py, configured on this machine."""

    name = "another"

    def enabled(self, settings: object) -> bool:
        return True


def test_run_logs_progress_when_any_channel_of_the_plugin_list_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without a messenger the terminal is the chat and logs would garble it; with one, `run`
    logs at INFO, whichever channel it is."""
    from app import channels

    run = registry.BY_NAME["run"]
    bare = Settings(
        _env_file=None, telegram_bot_token=None, vk_group_token=None, twilio_auth_token=None
    )
    assert run.logs_progress(bare) is False
    telegram = bare.model_copy(update={"telegram_bot_token": SecretStr("1:x")})
    assert run.logs_progress(telegram) is True

    monkeypatch.setattr(channels, "PLUGINS", (*channels.PLUGINS, AnotherChannel()))
    assert run.logs_progress(bare) is True


@pytest.mark.parametrize("argv", [["credit", "NOT-A-CARD", "1", "--purchase-id", "P"],
                                  ["tier-status", "O0O-O0O-O0O"],
                                  ["coupon-check", "X", "--card", "nope"]])  # fmt: skip
def test_a_malformed_card_code_is_a_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        registry.parser().parse_args(argv)
    assert exited.value.code == 2
    assert "Not a valid card code" in capsys.readouterr().err


def test_card_codes_are_normalized_while_parsing() -> None:
    code = cards.generate()
    parsed = registry.parser().parse_args(["tier-status", cards.display(code).lower()])
    assert parsed.card == code


def test_categories_are_collected_and_a_repeated_one_is_a_usage_error() -> None:
    parser = registry.parser()
    base = ["credit", cards.generate(), "100", "--purchase-id", "P"]
    parsed = parser.parse_args([*base, "--category", "coffee=30", "--category", "tea = 5"])
    assert parsed.category == {"coffee": "30", "tea": "5"}
    assert parser.parse_args(base).category is None
    with pytest.raises(SystemExit):
        parser.parse_args([*base, "--category", "tea=1", "--category", "tea=2"])


@pytest.mark.parametrize(
    ("error", "message", "status"),
    [
        (UsageError("Give the value"), "Give the value", 2),
        (UnknownJob("nope"), "No job named nope; see `main.py jobs list`", 2),
        (InvalidCardCode("X"), "Not a valid card code: X", 2),
        (MemberNotFound("K7PM2QXR4"), "No member with card K7PM2QXR4", 1),
        (InsufficientPoints(5, 9), "Refused: balance 5 is less than 9", 1),
        (CampaignNotFound("spring"), "Refused: no coupon campaign 'spring'", 1),
        # Its `kind` attribute is the event's kind; the refusal's own kind still decides.
        (UnknownEventKind("selfie"), "Refused: no event bonus", 1),
    ],
)
def test_each_refusal_is_printed_and_exits_as_its_kind_says(
    error: Exception, message: str, status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert report(error) == status
    assert capsys.readouterr().err.startswith(message)


@pytest.mark.parametrize("kind", [InvalidInput, NotFound, Conflict, Refused])
def test_a_loyalty_error_exits_with_its_kinds_code(
    kind: type[LoyaltyError], capsys: pytest.CaptureFixture[str]
) -> None:
    assert report(kind("no")) == kind("no").exit_code == EXIT_CODES[kind.kind]
    assert capsys.readouterr().err == "Refused: no\n"


def test_anything_else_is_not_a_refusal() -> None:
    assert not any(issubclass(ValueError, kind) for kind, _, _ in MESSAGES)
    with pytest.raises(TypeError):
        report(argparse.ArgumentTypeError("x"))
