"""The language a WhatsApp member's number hints at (core.shared.languages.language_for_phone):
the country calling code's language when it is one of ours, else none (the shop's default)."""

from __future__ import annotations

import pytest

from core.shared.languages import (
    CALLING_CODE_LANGUAGES,
    SUPPORTED_LOCALES,
    language_for_phone,
)


@pytest.mark.parametrize(
    ("number", "language"),
    [
        ("+79161234567", "ru"),  # Russia
        ("+77011234567", "ru"),  # Kazakhstan shares +7
        ("+375291234567", "ru"),  # Belarus
        ("+989121234567", "fa"),  # Iran
        ("+93701234567", "fa"),  # Afghanistan
        ("+12025550123", "en"),  # the United States
        ("+14165550123", "en"),  # Canada
        ("+447700900123", "en"),  # the United Kingdom
        ("+61412345678", "en"),  # Australia
        ("+353851234567", "en"),  # Ireland
        ("+64211234567", "en"),  # New Zealand
        # The North American plan, where the place speaks Spanish: not a language of ours.
        ("+18095550123", None),  # the Dominican Republic
        ("+17875550123", None),  # Puerto Rico
        # Countries of no language of ours.
        ("+4915112345678", None),  # Germany
        ("+33612345678", None),  # France
        ("+9921234567", None),  # Tajikistan (Tajik is written in Cyrillic, not Persian's script)
        ("+97312345678", None),  # Bahrain starts with 9, not with Iran's 98
    ],
)
def test_a_numbers_country_gives_its_language(number: str, language: str | None) -> None:
    assert language_for_phone(number) == language


@pytest.mark.parametrize(
    "number",
    [
        None,
        "",
        "+",
        "79161234567",  # no "+": not E.164, the country is a guess
        "+7 916 123-45-67",
        "+۹۸۹۱۲۱۲۳۴۵۶۷",  # Persian digits: WhatsApp sends ASCII, anything else is not a number
        "+98912",  # too short for any country
        "+7916123456789012",  # longer than E.164 allows
        "whatsapp:+79161234567",
        "+98912123456\n7",
    ],
)
def test_what_is_not_an_international_number_hints_nothing(number: str | None) -> None:
    assert language_for_phone(number) is None


def test_every_language_of_the_table_is_one_members_can_choose() -> None:
    languages = {language for language in CALLING_CODE_LANGUAGES.values() if language}
    assert languages == set(SUPPORTED_LOCALES)
    assert all(code.isdigit() and code[0] != "0" for code in CALLING_CODE_LANGUAGES)
