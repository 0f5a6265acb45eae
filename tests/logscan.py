"""The suite-wide log scan: no phone number, name, birthday, message text, token or secret the
tests use may appear in any log line (issue 9, item 5).

The values come from the test data itself: every test module (and the fakes) is read as
source, and the literals that play a member's personal data or a credential are collected: the
values of constants named like a token, secret or phone; of keyword arguments and parameter
defaults named like a phone, a name, a birthday, a token or a secret; every literal shaped like
a phone number or a day-first date; the birthdays written as `date(...)`; and what the scripted
members type (`say(...)`, `send(...)`) when it is more than a bare command word.
"""

from __future__ import annotations

import ast
import datetime
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

TESTS = Path(__file__).resolve().parent
LOCALES = TESTS.parent / "locales"

CREDENTIAL_NAME = re.compile(r"token|secret|auth|password", re.IGNORECASE)
CONSTANT_NAME = re.compile(r"TOKEN|SECRET|AUTH|PASSWORD|PHONE|NUMBER")
PERSONAL_ARGUMENTS = frozenset(
    {
        "phone",
        "phone_number",
        "number",
        "first_name",
        "last_name",
        "display_name",
        "profile_name",
        "full_name",
        "birthday",
    }
)
TYPING_METHODS = frozenset({"say", "send"})
PHONE = re.compile(r"^(?:whatsapp:)?\+\d{7,15}$")
DAY_FIRST_DATE = re.compile(r"^\d{1,2}[./]\d{1,2}[./](?:19|20)\d\d$")
# Shorter values are words of the program itself ("Ann" is the shortest name the tests use).
MIN_LENGTH = 3
# Typed texts shorter than this are commands ("skip", "card"), not something a member wrote.
MIN_TYPED_LENGTH = 8
# The scan's own control test logs this on purpose (tests/test_logscan.py).
CONTROL_PHONE = "+79990007788"


def _literal(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _birthday(node: ast.AST | None) -> list[str]:
    """`date(1990, 5, 17)` (a birth year, not one of the clocks' dates) in its usual spellings."""
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name | ast.Attribute)
        and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr) == "date"
        and len(node.args) == 3
        and all(isinstance(a, ast.Constant) and isinstance(a.value, int) for a in node.args)
    ):
        return []
    year, month, day = (
        a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, int)
    )
    if not 1900 <= year < 2015:
        return []
    try:
        value = datetime.date(year, month, day)
    except ValueError:
        return []
    return [value.isoformat(), value.strftime("%d.%m.%Y")]


def _values_in(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                value = _literal(node.value)
                if isinstance(target, ast.Name) and CONSTANT_NAME.search(target.id) and value:
                    yield value
        elif isinstance(node, ast.Dict):
            # An environment or a settings dict: {"TELEGRAM_BOT_TOKEN": "123:revoked"}.
            for key, item in zip(node.keys, node.values, strict=True):
                name, value = _literal(key), _literal(item)
                if name and value and CREDENTIAL_NAME.search(name):
                    yield value
        elif isinstance(node, ast.keyword) and node.arg is not None:
            if node.arg in PERSONAL_ARGUMENTS or CREDENTIAL_NAME.search(node.arg):
                if (value := _literal(node.value)) is not None:
                    yield value
                yield from _birthday(node.value)
        elif isinstance(node, ast.arguments):
            positional = node.posonlyargs + node.args
            with_defaults = positional[len(positional) - len(node.defaults) :]
            pairs = list(zip(with_defaults, node.defaults, strict=True))
            pairs += [(a, d) for a, d in zip(node.kwonlyargs, node.kw_defaults, strict=True) if d]
            for argument, default in pairs:
                name = argument.arg
                value = _literal(default)
                if value and (name in PERSONAL_ARGUMENTS or CREDENTIAL_NAME.search(name)):
                    yield value
        elif isinstance(node, ast.Call):
            yield from _birthday(node)
            method = node.func.attr if isinstance(node.func, ast.Attribute) else None
            if method in TYPING_METHODS and node.args:
                typed = _literal(node.args[0])
                if typed is not None and len(typed) >= MIN_TYPED_LENGTH and " " in typed:
                    yield typed
        elif (value := _literal(node)) and (PHONE.match(value) or DAY_FIRST_DATE.match(value)):
            yield value


def _spellings(value: str) -> Iterable[str]:
    yield value
    if PHONE.match(value):
        # The number as a platform may spell it: with or without the prefix and the plus.
        digits = value.removeprefix("whatsapp:").removeprefix("+")
        yield digits


def _program_words() -> str:
    """Every text of the program's own (the locales): what a member types by pressing a button
    or writing a command is the program's word, not the member's."""
    return "\n".join(p.read_text(encoding="utf-8") for p in LOCALES.rglob("*.ftl")).casefold()


def harvest(paths: Iterable[Path]) -> frozenset[str]:
    program = _program_words()
    found: set[str] = set()
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for value in _values_in(tree):
            value = value.strip()
            if len(value) < MIN_LENGTH or value.startswith("/"):
                continue
            own_word = re.search(rf"(?<!\w){re.escape(value.casefold())}(?!\w)", program)
            if own_word and not (PHONE.match(value) or DAY_FIRST_DATE.match(value)):
                continue
            found.update(_spellings(value))
    return frozenset(found)


def source_files() -> list[Path]:
    return sorted(TESTS.rglob("*.py"))


def pattern_of(values: Iterable[str]) -> re.Pattern[str]:
    # Whole words only, so that "Ann" is not found in "Announcement".
    alternatives = sorted((re.escape(v) for v in values), key=len, reverse=True)
    return re.compile(r"(?<![\w+])(?:" + "|".join(alternatives) + r")(?!\w)")


@dataclass
class LogScan(logging.Handler):
    """A handler on the root logger that keeps what one test logged, to be checked after it."""

    pattern: re.Pattern[str]
    records: list[logging.LogRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        logging.Handler.__init__(self, logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def __hash__(self) -> int:
        return id(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> list[logging.LogRecord]:
        taken, self.records = self.records, []
        return taken

    def findings(self, records: Iterable[logging.LogRecord]) -> list[str]:
        found = []
        for record in records:
            try:
                line = self.format(record)
            except Exception as error:  # a record that cannot be formatted is no leak
                line = f"{record.name}: unformattable ({error!r})"
            found.extend(self.findings_in(line))
        return found

    def findings_in(self, text: str) -> list[str]:
        found = []
        for line in text.splitlines():
            match = self.pattern.search(line)
            if match is not None:
                found.append(f"{match.group(0)!r} in: {line[:300]}")
        return found
