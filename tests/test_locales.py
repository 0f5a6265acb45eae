"""Consistency of the member-visible Fluent texts in `locales/<language>/*.ftl`.

Every locale must parse cleanly, define exactly the English message ids, use the same
variables as English, format without errors and pick the right plural forms.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from babel.numbers import format_decimal
from fluent.runtime import FluentBundle, FluentResource
from fluent.syntax import FluentParser, ast

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
REFERENCE = "en"
REQUIRED_LOCALES = {"en", "ru", "fa"}
NUMERIC_VARIABLES = {"count", "bonus", "page", "pages"}
# Numbers tried for numeric variables, so that every variant of a selector gets formatted.
NUMERIC_SAMPLES = (0, 1, 2, 5, 11, 21, 101)


def discover_locales() -> list[str]:
    return sorted(
        path.name for path in LOCALES_DIR.iterdir() if path.is_dir() and any(path.glob("*.ftl"))
    )


LOCALES = discover_locales()
TRANSLATIONS = [locale for locale in LOCALES if locale != REFERENCE]


def ftl_sources(locale: str) -> list[tuple[Path, str]]:
    return [
        (path, path.read_text(encoding="utf-8"))
        for path in sorted((LOCALES_DIR / locale).glob("*.ftl"))
    ]


@cache
def parsed(locale: str) -> tuple[ast.Resource, ...]:
    parser = FluentParser()
    return tuple(parser.parse(text) for _path, text in ftl_sources(locale))


def messages(locale: str) -> dict[str, ast.Message]:
    found: dict[str, ast.Message] = {}
    for resource in parsed(locale):
        for entry in resource.body:
            if isinstance(entry, ast.Message):
                found.setdefault(entry.id.name, entry)
    return found


def duplicate_ids(locale: str) -> list[str]:
    seen: set[str] = set()
    duplicates: list[str] = []
    for resource in parsed(locale):
        for entry in resource.body:
            if isinstance(entry, ast.Message):
                if entry.id.name in seen:
                    duplicates.append(entry.id.name)
                seen.add(entry.id.name)
    return duplicates


def variables(node: object) -> set[str]:
    """Names of all `$variables` under an AST node, including selectors and their variants."""
    if isinstance(node, ast.VariableReference):
        return {node.id.name}
    if isinstance(node, list):
        children: list[object] = node
    elif isinstance(node, ast.BaseNode):
        children = list(vars(node).values())
    else:
        return set()
    return set().union(*(variables(child) for child in children))


@cache
def bundle(locale: str) -> FluentBundle:
    result = FluentBundle([locale], use_isolating=False)
    for _path, text in ftl_sources(locale):
        result.add_resource(FluentResource(text))
    return result


def format_message(
    locale: str, message_id: str, args: dict[str, object]
) -> tuple[str, list[Exception]]:
    fluent_bundle = bundle(locale)
    message = fluent_bundle.get_message(message_id)
    assert message.value is not None, f"{locale}: {message_id} has no value"
    value, errors = fluent_bundle.format_pattern(message.value, args)
    return str(value), errors


def sample_args(names: set[str], number: int) -> dict[str, object]:
    return {name: number if name in NUMERIC_VARIABLES else f"<{name}>" for name in sorted(names)}


def points(locale: str, count: int) -> str:
    value, errors = format_message(locale, "points-amount", {"count": count})
    assert not errors, f"{locale}: points-amount({count}) errors: {errors}"
    return value


def test_required_locales_exist() -> None:
    missing = REQUIRED_LOCALES - set(LOCALES)
    assert not missing, f"locale folders without .ftl files under {LOCALES_DIR}: {sorted(missing)}"


@pytest.mark.parametrize("locale", LOCALES)
def test_parses_without_junk(locale: str) -> None:
    problems = []
    for (path, _text), resource in zip(ftl_sources(locale), parsed(locale), strict=True):
        for entry in resource.body:
            if isinstance(entry, ast.Junk):
                notes = "; ".join(str(annotation.message) for annotation in entry.annotations)
                content = (entry.content or "").strip()
                problems.append(f"{path.name}: {notes}: {content[:80]!r}")
    assert not problems, f"{locale}: syntax errors:\n" + "\n".join(problems)


@pytest.mark.parametrize("locale", LOCALES)
def test_no_duplicate_ids(locale: str) -> None:
    duplicates = duplicate_ids(locale)
    assert not duplicates, f"{locale}: message ids defined more than once: {duplicates}"


@pytest.mark.parametrize("locale", TRANSLATIONS)
def test_same_message_ids_as_english(locale: str) -> None:
    expected = set(messages(REFERENCE))
    actual = set(messages(locale))
    missing = sorted(expected - actual)
    extra = sorted(actual - expected)
    assert not missing and not extra, f"{locale}: missing ids {missing}, extra ids {extra}"


@pytest.mark.parametrize("locale", TRANSLATIONS)
def test_same_variables_as_english(locale: str) -> None:
    reference = messages(REFERENCE)
    translated = messages(locale)
    mismatches = [
        f"{message_id}: en {sorted(variables(message))}, "
        f"{locale} {sorted(variables(translated[message_id]))}"
        for message_id, message in reference.items()
        if message_id in translated and variables(message) != variables(translated[message_id])
    ]
    assert not mismatches, f"{locale}: variables differ:\n" + "\n".join(mismatches)


@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_formats_without_errors(locale: str) -> None:
    reference = messages(REFERENCE)
    problems = []
    for message_id in messages(locale):
        names = variables(reference.get(message_id) or messages(locale)[message_id])
        numbers = NUMERIC_SAMPLES if names & NUMERIC_VARIABLES else NUMERIC_SAMPLES[:1]
        for number in numbers:
            _value, errors = format_message(locale, message_id, sample_args(names, number))
            if errors:
                problems.append(f"{message_id} (numbers={number}): {errors}")
    assert not problems, f"{locale}: formatting errors:\n" + "\n".join(problems)


@pytest.mark.parametrize("locale", LOCALES)
def test_no_empty_values(locale: str) -> None:
    empty = []
    for message_id, message in messages(locale).items():
        if message.value is None:
            empty.append(message_id)
            continue
        value, _errors = format_message(locale, message_id, sample_args(variables(message), 5))
        if not value.strip():
            empty.append(message_id)
    assert not empty, f"{locale}: messages with an empty value: {empty}"


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (1, "1 балл"),
        (2, "2 балла"),
        (5, "5 баллов"),
        (11, "11 баллов"),
        (21, "21 балл"),
        (22, "22 балла"),
        (25, "25 баллов"),
        (101, "101 балл"),
        (111, "111 баллов"),
    ],
)
def test_russian_plurals(count: int, expected: str) -> None:
    assert points("ru", count) == expected


@pytest.mark.parametrize(("count", "expected"), [(1, "1 point"), (2, "2 points"), (0, "0 points")])
def test_english_plurals(count: int, expected: str) -> None:
    assert points("en", count) == expected


@pytest.mark.parametrize("count", [0, 1, 2, 5, 21, 111])
def test_persian_points(count: int) -> None:
    value = points("fa", count)
    assert "امتیاز" in value, value
    # Fluent formats numbers through babel; accept its Latin or native ("default") digits.
    spellings = {
        format_decimal(count, locale="fa"),
        format_decimal(count, locale="fa", numbering_system="default"),
    }
    assert any(number in value for number in spellings), f"{value!r} lacks the number {count}"
