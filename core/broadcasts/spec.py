"""A broadcast as data: the marketer's JSON file, validated at the boundary (pydantic).

    {
      "name": "Spring offer",
      "segment": {},                              every consenting member (README "Segments")
      "text": {"ru": "...", "en": "Hi {name}, your code {coupon}", "fa": "..."},
      "image": "media/spring.png",                optional, a PNG or JPEG file (at most
                                                  5 MB), read at broadcast-create and kept
                                                  in the database (core/broadcasts/images.py)
      "buttons": [{"open": "coupon"}, {"open": "quest", "id": 3, "label": {"en": "Go"}}],
      "coupon_campaign": "spring",                optional: one code per recipient
      "variants": [{"key": "A", "share": 50}, {"key": "B", "share": 50, "text": {...}}],
      "holdout": 10,                              percent who get nothing (the baseline)
      "send_at": "2026-12-02T10:00",              the shop's local time; omitted: now
      "quiet_hours": {"start": 22, "end": 9},     each member's own zone; start = end: none
      "whatsapp_template": {"content_sid": "HX...", "variables": {"1": "{name}"}},
      "trigger": {"kind": "win_back", "days": 60, "period_days": 90}    optional (below)
    }

A broadcast with a "trigger" is a standing rule (core/broadcasts/triggers.py): once started
(broadcast-send) it sends to each member of its segment when the trigger fires for them, at most
once per member per "period_days" (none: once ever), until it is paused or cancelled:
    {"kind": "win_back", "days": 60}                no purchase for 60 days (a daily job finds them)
    {"kind": "first_purchase", "delay_minutes": 30} after the member's first purchase
    {"kind": "points_short", "points": 100, "of": "tier"}   a purchase left them within 100 of
                                                    the next tier ("reward": of the next reward)
    {"kind": "feedback", "delay_minutes": 120, "reward_points": 20}   after a purchase: "0-10,
                                                    would you recommend us?" (core/feedback)

A variant without its own text, image, buttons or template takes the broadcast's. Texts may
use {name} {balance} {tier} {points_to_next_tier} {coupon} ({coupon} only with a campaign).
"""

from __future__ import annotations

import re
import string
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.broadcasts.errors import InvalidBroadcast
from core.rules.values import explained
from core.shared.languages import SUPPORTED_LOCALES
from core.shared.parsing import parse_model, time_text
from core.shared.quiet_hours import QUIET_END, QUIET_START, is_quiet

# {points}: the balance with its word in the member's language ("1 балл", "5 баллов").
PLACEHOLDERS = ("name", "balance", "points", "tier", "points_to_next_tier", "coupon")
# A text Telegram still takes as a photo's caption (1024) is the tightest of the channels'.
MAX_TEXT = 1024
MAX_VARIANTS = 10
# One button a row, and VK's inline keyboard holds 6 rows: the tightest of the channels'.
MAX_BUTTONS = 6
VARIANT_KEY = re.compile(r"^[A-Za-z0-9_-]{1,8}$")
HOLDOUT = "holdout"
# What a button opens in the bot, and whether it names one thing (a quest's or reward's id).
TARGETS: dict[str, bool] = {
    "coupon": False,
    "coupons": False,
    "rewards": False,
    "quests": False,
    "quest": True,
    "reward": True,
}
Target = Literal["coupon", "coupons", "rewards", "quests", "quest", "reward"]


def placeholders_in(text: str) -> set[str]:
    """The placeholders a text uses. A format or a conversion (`{balance:,}`, `{name!r}`) is
    refused here, when the broadcast is created: the text is filled in with plain words."""
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError as error:
        raise ValueError(f"unreadable braces in {text[:40]!r}: {error}") from None
    for _, field, spec, conversion in fields:
        if field is not None and (spec or conversion):
            written = (
                field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            )
            raise ValueError(f"{{{written}}}: a placeholder takes no format, write {{{field}}}")
    return {field for _, field, _, _ in fields if field is not None}


class Texts(BaseModel):
    """A text per language; at least one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ru: str | None = None
    en: str | None = None
    fa: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_for_all(cls, value: Any) -> Any:
        # "text": "..." is that text in every language.
        if isinstance(value, str):
            return dict.fromkeys(SUPPORTED_LOCALES, value)
        return value

    @model_validator(mode="after")
    def _some(self) -> Texts:
        if not self.items():
            raise ValueError("give a text in at least one of ru, en, fa")
        for language, text in self.items():
            if len(text) > MAX_TEXT:
                raise ValueError(f"the {language} text is longer than {MAX_TEXT} characters")
            unknown = placeholders_in(text) - set(PLACEHOLDERS)
            if unknown:
                raise ValueError(
                    f"unknown placeholder(s) {', '.join(sorted(unknown))} in the {language} "
                    f"text; use {', '.join('{' + name + '}' for name in PLACEHOLDERS)}"
                )
        return self

    def items(self) -> list[tuple[str, str]]:
        return [
            (language, text)
            for language in SUPPORTED_LOCALES
            if (text := getattr(self, language)) is not None and text.strip()
        ]

    def pick(self, language: str, default_language: str) -> tuple[str, str]:
        """(language, text): the member's language, else the shop's default, else any."""
        texts = dict(self.items())
        for candidate in (language, default_language):
            if candidate in texts:
                return candidate, texts[candidate]
        return next(iter(texts.items()))


class ButtonSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    open: Target
    id: int | None = Field(default=None, ge=1)
    # The marketer's caption; None: ours (locales/<lang>/broadcasts.ftl).
    label: Texts | None = None

    @model_validator(mode="after")
    def _id_when_needed(self) -> ButtonSpec:
        if TARGETS[self.open] and self.id is None:
            raise ValueError(f'a button that opens a {self.open} needs its "id"')
        if not TARGETS[self.open] and self.id is not None:
            raise ValueError(f'a button that opens {self.open} takes no "id"')
        return self


class Template(BaseModel):
    """A WhatsApp template approved by Meta, for members outside the 24-hour window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    content_sid: Annotated[str, Field(pattern=r"^HX[0-9a-fA-F]{32}$")]
    # Twilio's ContentVariables ({"1": "..."}); values may use the placeholders.
    variables: dict[str, str] = Field(default_factory=dict, max_length=100)

    @field_validator("variables")
    @classmethod
    def _knownplaceholders_in(cls, variables: dict[str, str]) -> dict[str, str]:
        for key, value in variables.items():
            unknown = placeholders_in(value) - set(PLACEHOLDERS)
            if unknown:
                raise ValueError(f"unknown placeholder(s) in variable {key}: {sorted(unknown)}")
        return variables


class VariantSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    share: int = Field(ge=1, le=100)
    text: Texts | None = None
    image: str | None = None
    buttons: tuple[ButtonSpec, ...] | None = Field(default=None, max_length=MAX_BUTTONS)
    whatsapp_template: Template | None = None

    @field_validator("key")
    @classmethod
    def _key(cls, key: str) -> str:
        if not VARIANT_KEY.match(key) or key == HOLDOUT:
            raise ValueError(f"a variant's key is 1-8 letters, digits, - or _: {key!r}")
        return key


class QuietHours(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    start: int = Field(default=QUIET_START, ge=0, le=23)
    end: int = Field(default=QUIET_END, ge=0, le=23)

    def covers(self, hour: int) -> bool:
        return is_quiet(self, hour)


_PERIOD = Field(default=None, ge=1, le=3650)
_DELAY = Field(default=0, ge=0, le=7 * 24 * 60)


class WinBack(BaseModel):
    """Members whose last purchase is `days` old (members who never bought are no win-back)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["win_back"]
    days: int = Field(ge=1, le=3650)
    period_days: int | None = _PERIOD


class FirstPurchase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["first_purchase"]
    delay_minutes: int = _DELAY
    period_days: int | None = _PERIOD


class PointsShort(BaseModel):
    """A purchase left the member `points` or fewer short of the next tier (in the tier's
    metric) or of the cheapest reward they cannot afford yet."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["points_short"]
    points: int = Field(ge=1, le=10_000_000)
    of: Literal["tier", "reward"] = "tier"
    delay_minutes: int = _DELAY
    period_days: int | None = _PERIOD


class FeedbackTrigger(BaseModel):
    """After a purchase: the 0-10 question, answered with buttons; `reward_points` once per
    question answered."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["feedback"]
    delay_minutes: int = Field(default=120, ge=0, le=7 * 24 * 60)
    reward_points: int = Field(default=0, ge=0, le=100_000)
    period_days: int | None = _PERIOD


Trigger = Annotated[
    WinBack | FirstPurchase | PointsShort | FeedbackTrigger, Field(discriminator="kind")
]
# What a variant asks besides its text: the feedback question's score buttons.
NPS_QUESTION = "nps"


class Variant(BaseModel):
    """A variant as it is sent: the broadcast's defaults filled in."""

    model_config = ConfigDict(frozen=True)

    key: str
    share: int
    # None: a feedback question without a text of its own (the default question is asked).
    text: Texts | None
    image: str | None
    buttons: tuple[ButtonSpec, ...]
    whatsapp_template: Template | None
    # NPS_QUESTION: the message ends with the 0-10 buttons (a feedback trigger's).
    question: str | None = None

    def own_text(self, language: str) -> str | None:
        return dict(self.text.items()).get(language) if self.text is not None else None

    def languages(self) -> list[str]:
        """The languages it can be shown in: its texts', or every one when the feedback
        question's default text (in each member's language) fills in."""
        if self.question == NPS_QUESTION or self.text is None:
            return list(SUPPORTED_LOCALES)
        return [language for language, _ in self.text.items()]


class BroadcastSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=128)
    segment: dict[str, Any] = Field(default_factory=dict)
    text: Texts | None = None
    image: str | None = None
    buttons: tuple[ButtonSpec, ...] = Field(default=(), max_length=MAX_BUTTONS)
    coupon_campaign: str | None = Field(default=None, min_length=1, max_length=32)
    variants: tuple[VariantSpec, ...] = Field(default=(), max_length=MAX_VARIANTS)
    holdout: int = Field(default=0, ge=0, le=50)
    # The shop's local time (no offset) or an ISO time with one; None: at once.
    send_at: datetime | None = None
    quiet_hours: QuietHours = Field(default_factory=QuietHours)
    whatsapp_template: Template | None = None
    # A standing rule (see the module's docstring); None: a one-off broadcast.
    trigger: Trigger | None = None

    @field_validator("send_at", mode="before")
    @classmethod
    def _now(cls, value: Any) -> Any:
        return None if value in ("now", "") else time_text(value)

    @model_validator(mode="after")
    def _coherent(self) -> BroadcastSpec:
        keys = [variant.key for variant in self.variants]
        if len(set(keys)) != len(keys):
            raise ValueError("variant keys must be unique")
        if self.variants and sum(variant.share for variant in self.variants) != 100:
            raise ValueError("the variants' shares must add up to 100")
        for variant in self.resolved():
            texts = variant.text.items() if variant.text is not None else []
            uses_coupon = any("coupon" in placeholders_in(text) for _, text in texts)
            if variant.whatsapp_template is not None:
                uses_coupon = uses_coupon or any(
                    "coupon" in placeholders_in(value)
                    for value in variant.whatsapp_template.variables.values()
                )
            if uses_coupon and self.coupon_campaign is None:
                raise ValueError('{coupon} needs a "coupon_campaign"')
        if self.trigger is not None and self.send_at is not None:
            raise ValueError("a triggered broadcast sends when its trigger fires: no send_at")
        return self

    def resolved(self) -> tuple[Variant, ...]:
        """The variants to send, each complete (one "A" of 100% when none are given)."""
        given = self.variants or (VariantSpec(key="A", share=100),)
        resolved = []
        for variant in given:
            text = variant.text or self.text
            asks = isinstance(self.trigger, FeedbackTrigger)
            if text is None and not asks:
                raise ValueError(f'variant {variant.key} has no "text" (nor has the broadcast)')
            resolved.append(
                Variant(
                    key=variant.key,
                    share=variant.share,
                    text=text,
                    image=variant.image if variant.image is not None else self.image,
                    buttons=variant.buttons if variant.buttons is not None else self.buttons,
                    whatsapp_template=variant.whatsapp_template or self.whatsapp_template,
                    question=NPS_QUESTION if asks else None,
                )
            )
        return tuple(resolved)

    def variant(self, key: str) -> Variant | None:
        return next((variant for variant in self.resolved() if variant.key == key), None)

    def images(self) -> set[str]:
        """The images it names: files as the marketer wrote them, references once stored."""
        named = {self.image} | {variant.image for variant in self.variants}
        return {image for image in named if image is not None}

    def with_images(self, references: dict[str, str]) -> BroadcastSpec:
        """The spec with each image named by its reference (`references`: name -> reference)."""
        variants = tuple(
            variant.model_copy(update={"image": references[variant.image]})
            if variant.image is not None
            else variant
            for variant in self.variants
        )
        image = references[self.image] if self.image is not None else None
        return self.model_copy(update={"image": image, "variants": variants})


def parse_spec(raw: str | dict[str, Any]) -> BroadcastSpec:
    """The spec of a file's text (or of its parsed JSON); InvalidBroadcast names what is wrong."""
    return parse_model(
        raw,
        BroadcastSpec,
        InvalidBroadcast,
        not_object="a broadcast is a JSON object",
        explained=explained,
    )
