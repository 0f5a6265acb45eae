"""A contest as the marketer writes it (a JSON file for `contest-create --file`; the admin web
will edit the same data): validated field by field, so a typo is refused with its name."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.games.contests.draw import DRAND_CHAINS
from core.games.contests.errors import InvalidContest
from core.rules.values import text_in
from core.shared.parsing import time_text

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
LANGUAGE = re.compile(r"^([a-z]{2,3}(-[A-Za-z0-9]{2,8})?)?$")
MAX_WINNERS = 1000
MAX_TICKETS = 1000
# The close must come before the beacon round exists: the draw time is at least this much
# after the end, so the scheduled close (every minute) has time to run.
MIN_DRAW_DELAY = timedelta(minutes=5)
MAX_LEADERBOARD_WINDOW = timedelta(days=366)

# Text for every language ("") or per language ({"en": ..., "ru": ...}).
Text = str | dict[str, str]


def localized(value: Text | None, language: str) -> str:
    """The text in `language`, else one for every language, else English, else any."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return text_in(value, language)


def _check_text(value: Any, max_length: int) -> Text:
    texts = {"": value} if isinstance(value, str) else value
    if not isinstance(texts, dict) or not texts:
        raise ValueError("must be text or {language: text}")
    for language, words in texts.items():
        if not isinstance(language, str) or not LANGUAGE.match(language):
            raise ValueError(f"{language!r} is not a language code such as 'en'")
        if not isinstance(words, str) or not words.strip():
            raise ValueError(f"the {language or 'default'} text is empty")
        if len(words) > max_length:
            raise ValueError(f"at most {max_length} characters")
    return value  # type: ignore[no-any-return]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Prize(_Strict):
    """What every winner gets: points, a coupon of a campaign, an item (described per
    language, handed over by the shop), or several of them."""

    points: Annotated[int, Field(ge=0, le=10_000_000)] = 0
    coupon_campaign: str | None = None
    item: Text | None = None

    @field_validator("item", mode="before")
    @classmethod
    def _item(cls, value: Any) -> Any:
        return None if value is None else _check_text(value, 200)

    @model_validator(mode="after")
    def _something(self) -> Prize:
        if not self.points and not self.coupon_campaign and not self.item:
            raise ValueError("a prize needs points, a coupon_campaign or an item")
        return self


class Tickets(_Strict):
    """How entries are earned. `join`: tickets for joining in the chat (0: no join button).
    The others: tickets per purchase, per qualified friend, per quest completed within the
    contest's window. With `requires_join`, activity counts only for members who joined.
    A leaderboard contest has no tickets: only `join` (a join button) and `requires_join`
    (false: everyone is ranked, no joining) mean anything there."""

    join: Annotated[int, Field(ge=0, le=MAX_TICKETS)] = 1
    per_purchase: Annotated[int, Field(ge=0, le=MAX_TICKETS)] = 0
    per_friend: Annotated[int, Field(ge=0, le=MAX_TICKETS)] = 0
    per_quest: Annotated[int, Field(ge=0, le=MAX_TICKETS)] = 0
    requires_join: bool = True
    max_per_member: Annotated[int, Field(ge=1, le=1_000_000)] | None = None

    @model_validator(mode="after")
    def _some_way_in(self) -> Tickets:
        if not (self.join or self.per_purchase or self.per_friend or self.per_quest):
            raise ValueError("no way to get a ticket: set join or a per_... count")
        if self.requires_join and not self.join:
            raise ValueError("requires_join needs join tickets (at least 1)")
        return self


class ContestSpec(_Strict):
    slug: str
    kind: Literal["giveaway", "leaderboard"] = "giveaway"
    # A leaderboard contest's ranking (the leaderboards' metrics, earned within the window).
    metric: Literal["points", "friends", "quests"] | None = None
    title: Text
    description: Text | None = None
    starts_at: datetime
    ends_at: datetime
    # A giveaway's draw; a leaderboard contest is ranked at its close (default: ends_at).
    draw_at: datetime | None = None
    winners: Annotated[int, Field(ge=1, le=MAX_WINNERS)]
    reserves: Annotated[int, Field(ge=0, le=MAX_WINNERS)] = 0
    claim_hours: Annotated[int, Field(ge=1, le=24 * 90)] = 72
    prize: Prize
    tickets: Tickets = Tickets()
    # Tickets of a member in a tier are multiplied (whole numbers, tier at the close).
    tier_weights: dict[str, Annotated[int, Field(ge=1, le=100)]] = {}
    # The shop's own accounts (staff, tests, bots it runs): never drawn.
    excluded_cards: list[str] = []
    beacon_chain: Literal["quicknet", "mainnet"] = "quicknet"

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG.match(value):
            raise ValueError("lower-case letters, digits and '-', at most 32")
        return value

    @field_validator("title", mode="before")
    @classmethod
    def _title(cls, value: Any) -> Any:
        return _check_text(value, 120)

    @field_validator("description", mode="before")
    @classmethod
    def _description(cls, value: Any) -> Any:
        return None if value is None else _check_text(value, 1000)

    @field_validator("starts_at", "ends_at", "draw_at", mode="before")
    @classmethod
    def _typed(cls, value: object) -> object:
        return time_text(value)

    @field_validator("starts_at", "ends_at", "draw_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("needs a UTC offset, e.g. 2026-12-24T18:00:00+03:00")
        return value

    @model_validator(mode="after")
    def _times(self) -> ContestSpec:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.kind == "leaderboard":
            return self._leaderboard()
        if self.metric is not None:
            raise ValueError("metric: only a leaderboard contest ranks by a metric")
        if self.draw_at is None:
            raise ValueError("draw_at: a giveaway needs its draw time")
        if self.draw_at < self.ends_at + MIN_DRAW_DELAY:
            raise ValueError("draw_at must be at least 5 minutes after ends_at")
        assert self.beacon_chain in DRAND_CHAINS
        return self

    def _leaderboard(self) -> ContestSpec:
        """Ranked by `metric` in the window; `tickets` only says whether members join (one
        tap, `requires_join`, the default) or everyone is ranked (`requires_join: false`)."""
        if self.metric is None:
            raise ValueError("metric: a leaderboard contest needs points, friends or quests")
        tickets = self.tickets
        if tickets.per_purchase or tickets.per_friend or tickets.per_quest:
            raise ValueError("tickets: a leaderboard contest ranks by its metric, not tickets")
        if tickets.max_per_member is not None or self.tier_weights:
            raise ValueError("a leaderboard contest has no tickets to cap or weigh")
        if self.draw_at is not None and self.draw_at != self.ends_at:
            raise ValueError("draw_at: a leaderboard contest is ranked at its close (ends_at)")
        if self.ends_at - self.starts_at > MAX_LEADERBOARD_WINDOW:
            raise ValueError("ends_at: a leaderboard contest lasts at most 366 days")
        return self

    @property
    def everyone(self) -> bool:
        """A leaderboard contest that ranks every member, no joining."""
        return self.kind == "leaderboard" and not self.tickets.requires_join

    @property
    def ranked_at(self) -> datetime:
        return self.draw_at if self.draw_at is not None else self.ends_at


def parse_spec(data: Any) -> ContestSpec:
    """A ContestSpec from JSON data, or InvalidContest naming every field that is wrong."""
    try:
        return ContestSpec.model_validate(data)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            where = ".".join(str(part) for part in item["loc"]) or "contest"
            message = str(item["msg"]).removeprefix("Value error, ")
            problems.append(f"{where}: {message}")
        raise InvalidContest("; ".join(problems)) from None
