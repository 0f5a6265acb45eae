"""A quest as data: the JSON a marketer writes (`python main.py quest-create --file F`, the
admin web later), validated with pydantic into the typed definition the rest of the context
reads. Every refusal names the field and why, as one `InvalidQuest`.

Once created a definition does not change (progress is keyed on its steps' positions): a
marketer ends a quest and creates a new one.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.games.quests.errors import InvalidQuest
from core.rules.values import LocalizedText, explained, localized
from core.segments.definition import Segment, parse_segment
from core.segments.errors import InvalidSegment
from core.shared.parsing import parse_model, time_text

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
MAX_STEPS = 10
MAX_COUNT = 1000
# An event kind, as the rules' event_bonuses name it.
EVENT_KIND = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
# A public channel's @username, or a private one's numeric id (-100...).
TELEGRAM_CHAT = re.compile(r"^(@[A-Za-z][A-Za-z0-9_]{3,31}|-100\d{5,15})$")

Text = Annotated[LocalizedText, localized(200)]
LongText = Annotated[LocalizedText, localized(1000)]
Answer = Annotated[str, Field(min_length=1, max_length=100)]
Picture = Annotated[LocalizedText, localized(512)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class StepBase(Strict):
    # What the member reads as the step's name ("Buy 3 coffees"); a default per kind otherwise.
    title: Text | None = None


class PurchaseStep(StepBase):
    """Purchases within the quest's window (and period): a number of them, or a total spend,
    optionally only at one store or in one category (the purchase's categories)."""

    kind: Literal["purchase"]
    count: Annotated[int, Field(ge=1, le=MAX_COUNT)] | None = None
    spend: Annotated[Decimal, Field(gt=0, le=Decimal("100000000"))] | None = None
    store: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    category: Annotated[str, Field(min_length=1, max_length=64)] | None = None

    @model_validator(mode="after")
    def _one_measure(self) -> PurchaseStep:
        if (self.count is None) == (self.spend is None):
            raise ValueError("a purchase step counts purchases (count) or money (spend): one")
        return self

    @property
    def target(self) -> Decimal:
        return Decimal(self.count) if self.count is not None else Decimal(self.spend or 0)


class ReferralStep(StepBase):
    """Friends the member invited who qualified (the referral rules say when)."""

    kind: Literal["referral"]
    count: Annotated[int, Field(ge=1, le=MAX_COUNT)] = 1

    @property
    def target(self) -> Decimal:
        return Decimal(self.count)


class CheckInStep(StepBase):
    """Daily check-ins (at most one a day, in the member's time zone)."""

    kind: Literal["checkin"]
    count: Annotated[int, Field(ge=1, le=MAX_COUNT)] = 1

    @property
    def target(self) -> Decimal:
        return Decimal(self.count)


class QuizStep(StepBase):
    """A question: multiple choice (`choices`, `correct` is the right one's number from 1), or
    a typed answer (`answers`: the accepted ones, compared ignoring case and spaces)."""

    kind: Literal["quiz"]
    question: LongText
    choices: Annotated[list[Text], Field(min_length=2, max_length=6)] | None = None
    correct: Annotated[int, Field(ge=1, le=6)] | None = None
    answers: Annotated[list[Answer], Field(min_length=1, max_length=20)] | None = None

    @model_validator(mode="after")
    def _answerable(self) -> QuizStep:
        if self.choices is not None:
            if self.correct is None or self.correct > len(self.choices):
                raise ValueError("a multiple-choice quiz needs `correct`, the number of a choice")
            if self.answers is not None:
                raise ValueError("a quiz has choices or typed answers, not both")
        elif self.answers is None or self.correct is not None:
            raise ValueError("a quiz needs `choices` with `correct`, or typed `answers`")
        return self

    @property
    def target(self) -> Decimal:
        return Decimal(1)


class ProofStep(StepBase):
    """A text (or a photo) the member sends, approved by staff (`quest-review`)."""

    kind: Literal["proof"]
    prompt: LongText

    @property
    def target(self) -> Decimal:
        return Decimal(1)


class EventStep(StepBase):
    """Events the shop sends (`python main.py event CARD KIND ID`) of one kind."""

    kind: Literal["event"]
    event: str
    count: Annotated[int, Field(ge=1, le=MAX_COUNT)] = 1

    @field_validator("event")
    @classmethod
    def _event_kind(cls, value: str) -> str:
        if not EVENT_KIND.match(value):
            raise ValueError(f"{value!r} is not an event kind such as 'review'")
        return value

    @property
    def target(self) -> Decimal:
        return Decimal(self.count)


class ChannelStep(StepBase):
    """Being subscribed to the shop's Telegram channel, as Telegram itself says
    (getChatMember); never what the member claims."""

    kind: Literal["channel"]
    chat: str
    # The link the member follows to subscribe (https://t.me/...), shown with the step.
    link: Annotated[str, Field(max_length=256)] | None = None

    @field_validator("chat")
    @classmethod
    def _chat(cls, value: str) -> str:
        if not TELEGRAM_CHAT.match(value):
            raise ValueError(f"{value!r} is not a Telegram channel (@name or -100... id)")
        return value

    @field_validator("link")
    @classmethod
    def _link(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("https://"):
            raise ValueError("must be an https:// link")
        return value

    @property
    def target(self) -> Decimal:
        return Decimal(1)


ProfileField = Literal["phone", "birthday", "marketing"]


class ProfileStep(StepBase):
    """A complete profile: the fields listed (phone, birthday, consent to offers)."""

    kind: Literal["profile"]
    fields: Annotated[list[ProfileField], Field(min_length=1, max_length=3)] = [
        "phone",
        "birthday",
        "marketing",
    ]

    @property
    def target(self) -> Decimal:
        return Decimal(1)


Step = Annotated[
    PurchaseStep
    | ReferralStep
    | CheckInStep
    | QuizStep
    | ProofStep
    | EventStep
    | ChannelStep
    | ProfileStep,
    Field(discriminator="kind"),
]


class Everyone(Strict):
    kind: Literal["everyone"]


class TierAudience(Strict):
    """Members in one of these tiers (keys of the `tiers` rule) when they look or join; a
    member who joined keeps the quest after losing the tier."""

    kind: Literal["tier"]
    tiers: Annotated[list[Annotated[str, Field(pattern=SLUG.pattern)]], Field(min_length=1)]


class SegmentAudience(Strict):
    """Members in a marketer's segment (a JSON object, as `segment-count` reads it), checked
    when a member looks at the quest or joins it; a member who joined stays in."""

    kind: Literal["segment"]
    segment: Segment

    @field_validator("segment", mode="before")
    @classmethod
    def _segment(cls, value: object) -> Segment:
        # The segments' own parser, so a refusal reads as segment-count's does.
        if isinstance(value, Segment):
            return value
        if not isinstance(value, dict):
            raise ValueError('a segment is a JSON object, e.g. {"tier": "gold"}')
        try:
            return parse_segment(value)
        except InvalidSegment as refusal:
            raise ValueError(str(refusal)) from None


Audience = Annotated[Everyone | TierAudience | SegmentAudience, Field(discriminator="kind")]


class Reward(Strict):
    """What completing the quest gives, once per member and period: points, a coupon of a
    campaign, a badge (awarded by the badges context on QuestCompleted), or several."""

    points: Annotated[int, Field(ge=0, le=1_000_000)] = 0
    coupon: Annotated[str, Field(pattern=SLUG.pattern)] | None = None
    badge: Annotated[str, Field(pattern=SLUG.pattern)] | None = None

    @model_validator(mode="after")
    def _something(self) -> Reward:
        if self.points == 0 and self.coupon is None and self.badge is None:
            raise ValueError("a reward gives points, a coupon or a badge")
        return self


class QuestDefinition(Strict):
    slug: str
    title: Text
    description: LongText | None = None
    # An https URL or a file path of a picture (png, jpg), sent like the rewards' pictures;
    # one for every language, or {language: picture}.
    picture: Picture | None = None
    starts: datetime
    ends: datetime | None = None
    audience: Audience = Everyone(kind="everyone")
    recurrence: Literal["once", "daily", "weekly"] = "once"
    # Ordered: a step counts only once the ones before it are done.
    ordered: bool = False
    # Every member in the audience takes part without joining (e.g. the profile quest).
    automatic: bool = False
    steps: Annotated[list[Step], Field(min_length=1, max_length=MAX_STEPS)]
    reward: Reward

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG.match(value):
            raise ValueError(f"{value!r}: lowercase letters, digits, - and _, at most 32")
        return value

    @field_validator("starts", "ends", mode="before")
    @classmethod
    def _typed(cls, value: object) -> object:
        return time_text(value)

    @field_validator("starts", "ends")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("needs a time zone offset (2026-12-01T00:00:00+03:00)")
        return value

    @model_validator(mode="after")
    def _window(self) -> QuestDefinition:
        if self.ends is not None and self.ends <= self.starts:
            raise ValueError("ends must be after starts")
        return self

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=True)


def parse_definition(raw: str | bytes | dict[str, Any]) -> QuestDefinition:
    """The definition in a JSON text (or its parsed object), or InvalidQuest saying why not."""
    return parse_model(
        raw,
        QuestDefinition,
        InvalidQuest,
        not_object="a quest is a JSON object",
        explained=explained,
    )
