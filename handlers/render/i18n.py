"""Member-visible texts from `locales/<language>/*.ftl` (Fluent, CLDR plural rules)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from pathlib import Path

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal, format_percent
from fluent.runtime import FluentBundle, FluentResource

from core.shared.languages import SUPPORTED_LOCALES

LOCALES_DIR = Path(__file__).resolve().parents[2] / "locales"
FALLBACK = "en"


class Translator:
    def __init__(self, bundles: dict[str, FluentBundle], default: str) -> None:
        self._bundles = bundles
        self.default = default if default in bundles else FALLBACK
        # Parsed once: babel otherwise looks the locale data up again on every call.
        self._locales = {language: Locale.parse(language) for language in bundles}
        self._whole_money = {
            language: re.sub(r"\.0+", "", locale.currency_formats["standard"].pattern)
            for language, locale in self._locales.items()
        }

    @classmethod
    def load(cls, default: str, directory: Path = LOCALES_DIR) -> Translator:
        bundles: dict[str, FluentBundle] = {}
        for language in SUPPORTED_LOCALES:
            bundle = FluentBundle([language], use_isolating=False)
            for path in sorted((directory / language).glob("*.ftl")):
                bundle.add_resource(FluentResource(path.read_text(encoding="utf-8")))
            bundles[language] = bundle
        return cls(bundles, default)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self._bundles)

    def resolve(self, language_code: str | None) -> str:
        """The supported language closest to a messenger's language code ("ru-RU" -> "ru")."""
        if language_code:
            base = language_code.replace("_", "-").split("-")[0].lower()
            if base in self._bundles:
                return base
        return self.default

    def text(self, language: str, key: str, /, **args: object) -> str:
        for candidate in (language, FALLBACK):
            bundle = self._bundles.get(candidate)
            if bundle is not None and bundle.has_message(key):
                message = bundle.get_message(key)
                if message.value is None:
                    break
                value, _errors = bundle.format_pattern(message.value, args)
                # A pattern formats to a str; FluentNone stands for an unresolvable one.
                return value if isinstance(value, str) else value.format(self._locale(language))
        return key

    def variants(self, key: str) -> Iterable[tuple[str, str]]:
        """(language, text) of one message in every language."""
        for language in self._bundles:
            yield language, self.text(language, key)

    def points(self, language: str, count: int) -> str:
        return self.text(language, "points-amount", count=count)

    def money(self, language: str, amount: Decimal, currency: str) -> str:
        """Whole amounts without the cents ("10 ₽"), others with them ("10,50 ₽")."""
        locale = self._locale(language)
        if amount == amount.to_integral_value():
            return format_currency(
                amount,
                currency,
                format=self._whole_money[str(locale)],
                locale=locale,
                currency_digits=False,
            )
        return format_currency(amount, currency, locale=locale)

    def percent(self, language: str, share: Decimal) -> str:
        return format_percent(share, locale=self._locale(language))

    def number(self, language: str, value: int | Decimal) -> str:
        return format_decimal(value, locale=self._locale(language))

    def date(self, language: str, value: date, *, style: str = "short") -> str:
        """`style` "long" spells the month out, for a day that matters ("24 декабря 2026 г.")."""
        return format_date(value, format=style, locale=self._locale(language))

    def locale(self, language: str) -> Locale:
        """The Babel locale of a language (the default one for a language we do not speak)."""
        return self._locale(language)

    def _locale(self, language: str) -> Locale:
        return self._locales.get(language) or self._locales[self.default]
