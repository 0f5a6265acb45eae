"""The languages members can choose; every member-visible text exists in each of them."""

SUPPORTED_LOCALES = ("ru", "en", "fa")
