"""The languages members can choose; every member-visible text exists in each of them."""

from collections.abc import Mapping

SUPPORTED_LOCALES = ("ru", "en", "fa")

# Country calling codes (ITU-T E.164) of countries that speak one of our languages first. The
# North American plan's code is refined by area code where the place speaks another language
# (None: not one of ours); the longest code a number starts with wins.
CALLING_CODE_LANGUAGES: Mapping[str, str | None] = {
    "7": "ru",  # Russia, Kazakhstan
    "375": "ru",  # Belarus
    "996": "ru",  # Kyrgyzstan
    "98": "fa",  # Iran
    "93": "fa",  # Afghanistan (Dari)
    "1": "en",  # the United States, Canada, the English-speaking Caribbean
    "1787": None,  # Puerto Rico (Spanish)
    "1939": None,
    "1809": None,  # the Dominican Republic (Spanish)
    "1829": None,
    "1849": None,
    "44": "en",  # the United Kingdom
    "353": "en",  # Ireland
    "61": "en",  # Australia
    "64": "en",  # New Zealand
}
LONGEST_CODE = max(len(code) for code in CALLING_CODE_LANGUAGES)
# E.164: at most 15 digits; no country's numbers are shorter than 7 with the code.
E164_DIGITS = range(7, 16)


def language_for_phone(number: str | None) -> str | None:
    """The language of the country a phone number belongs to ("+989121234567" -> "fa"), when it
    is one of ours; None for any other country, or for what is not an E.164 number ("+" and
    digits)."""
    if not number or not number.startswith("+"):
        return None
    digits = number[1:]
    if not (digits.isascii() and digits.isdigit() and len(digits) in E164_DIGITS):
        return None
    for length in range(min(LONGEST_CODE, len(digits)), 0, -1):
        if digits[:length] in CALLING_CODE_LANGUAGES:
            return CALLING_CODE_LANGUAGES[digits[:length]]
    return None
