"""Argument types shared by the commands: checked while the command line is parsed, so a
malformed value is a usage error (exit status 2) before anything is opened."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from core.members.phones import InvalidPhone, parse_phone_number
from core.shared import cards
from core.shared.parsing import row_id


def card_code(raw: str) -> str:
    """A member's card code, as typed or printed (any case, with or without dashes)."""
    try:
        return cards.normalize(raw)
    except cards.InvalidCardCode as error:
        raise argparse.ArgumentTypeError(f"Not a valid card code: {raw}") from error


def phone_number(raw: str) -> str:
    """A phone number as a cashier types it, read as the chat reads a member's."""
    try:
        return parse_phone_number(raw)
    except InvalidPhone as error:
        raise argparse.ArgumentTypeError(f"Not a valid phone number: {raw}") from error


def points_change(raw: str) -> int:
    """A whole number of points, + or - (`adjust`); zero is the core's to refuse."""
    try:
        return int(raw.strip())
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"not a whole number of points: {raw!r} (e.g. 50 or -50)"
        ) from error


def row_number(raw: str) -> int:
    """The id of a row the program printed (a broadcast, a proof): a whole number no row id
    is larger than, so that a mistyped one is refused here, not by the database driver."""
    number = row_id(raw.strip())
    if number is None:
        raise argparse.ArgumentTypeError(f"not an id: {raw!r} (a whole number, as printed)")
    return number


def add_member_arguments(parser: argparse.ArgumentParser) -> None:
    """CARD, or `--phone NUMBER` instead: the member a command is about. The number must be
    one a messenger vouched for, and only one member's (cli.command.Context.member_of)."""
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "card", nargs="?", type=card_code, metavar="CARD", help="the member's card code"
    )
    which.add_argument(
        "--phone",
        type=phone_number,
        metavar="NUMBER",
        help="instead of the card: the member's verified phone number, e.g. +79991234567",
    )


def moment(raw: str) -> datetime:
    """An ISO 8601 date or time; without a zone it is UTC."""
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {raw!r}") from error
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        # Stored and compared in UTC: a moment whose UTC falls off the calendar (year 1 at
        # +01:00, 9999-12-31 at -01:00) is no moment the database can hold.
        parsed.astimezone(UTC)
    except OverflowError as error:
        raise argparse.ArgumentTypeError(f"out of the calendar in UTC: {raw!r}") from error
    return parsed


def category_amount(raw: str) -> tuple[str, str]:
    """NAME=AMOUNT of `--category`; the amount itself is checked by the core."""
    name, separator, amount = raw.partition("=")
    if not separator or not name.strip() or not amount.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=AMOUNT, such as coffee=300, not {raw!r}")
    return name.strip(), amount.strip()


class CategoryAmounts(argparse.Action):
    """Repeated `--category NAME=AMOUNT` into {name: amount}; a name given twice is refused."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        if not isinstance(values, tuple):
            raise argparse.ArgumentError(self, f"expected NAME=AMOUNT, not {values!r}")
        name, amount = values
        categories: dict[str, str] = dict(getattr(namespace, self.dest, None) or {})
        if name in categories:
            raise argparse.ArgumentError(self, f"category {name!r} is given twice")
        categories[name] = amount
        setattr(namespace, self.dest, categories)


def add_receipt_arguments(
    parser: argparse.ArgumentParser,
    what: str,
    *,
    id_help: str = "the shop's receipt id",
    actor_help: str = "who records it",
) -> None:
    """`--<what>-id`, the shop's id of what the till records: required, since a retried
    command with the same id is a replay, not a second write; and `--actor`, who did it."""
    parser.add_argument(f"--{what}-id", required=True, help=id_help)
    parser.add_argument("--actor", default="operator", help=actor_help)
