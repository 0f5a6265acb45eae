"""A badge as data: what the marketer writes (JSON through `main.py badge-create --file F`),
checked field by field before anything is stored.

    {"name": "regular",
     "title": {"en": "Regular", "ru": "Завсегдатай", "fa": "مشتری همیشگی"},
     "description": {"en": "Five visits", "ru": "Пять визитов", "fa": "پنج بار خرید"},
     "emoji": "☕",                        (or "picture": "https://..." or a file path)
     "condition": {"kind": "visits", "count": 5}}

Conditions: first_purchase; visits (count purchases); friends (count friends qualified);
tier (tier: a tier's key, or any higher one); quest (quest_id: that quest, or count quests
of any kind); streak (count periods in a row, of streak: a streak rule's key, or any);
award (only given by another context, e.g. a quest's reward, by the badge's name).
"""

from __future__ import annotations

import json
import unicodedata
from typing import Annotated, Any, Literal, get_args

from pydantic import ValidationError, model_validator

from core.games.errors import InvalidBadge
from core.rules.sections import Section
from core.rules.values import Checked, LocalizedText, explain, key, localized, refuse, shown, whole
from core.shared.parsing import parse_model

ConditionKind = Literal["first_purchase", "visits", "friends", "tier", "quest", "streak", "award"]
CONDITION_KINDS: tuple[str, ...] = get_args(ConditionKind)
# Counted conditions: how many of what.
COUNTED = ("visits", "friends", "quest", "streak")
MAX_COUNT = 100_000
MAX_EMOJI = 16
MAX_PICTURE = 512


def _emoji() -> Checked:
    def check(value: object) -> str:
        if not isinstance(value, str) or not value.strip():
            raise refuse(f"must be an emoji, not {shown(value)}")
        value = value.strip()
        if len(value) > MAX_EMOJI or any(
            unicodedata.category(char).startswith(("L", "N", "Z", "C"))
            and char not in "\u200d\ufe0f\u20e3"
            for char in value
        ):
            raise refuse(f"must be an emoji (a few symbols, no letters), not {shown(value)}")
        return value

    return Checked(check)


def _picture() -> Checked:
    def check(value: object) -> str:
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_PICTURE:
            raise refuse(f"must be an https URL or a file path, not {shown(value)}")
        value = value.strip()
        if value.startswith("http://") or any(unicodedata.category(c) == "Cc" for c in value):
            raise refuse("must be an https URL or a file path")
        return value

    return Checked(check)


class Condition(Section):
    kind: ConditionKind
    count: Annotated[int, whole(1, MAX_COUNT)] = 1
    tier: Annotated[str, key()] | None = None
    quest_id: Annotated[int, whole(1, 2**62)] | None = None
    streak: Annotated[str, key()] | None = None

    @model_validator(mode="after")
    def _fits_its_kind(self) -> Condition:
        if self.kind == "tier" and self.tier is None:
            raise refuse("a tier condition names the tier")
        if self.kind != "tier" and self.tier is not None:
            raise refuse("only a tier condition names a tier")
        if self.kind != "quest" and self.quest_id is not None:
            raise refuse("only a quest condition names a quest_id")
        if self.kind != "streak" and self.streak is not None:
            raise refuse("only a streak condition names a streak")
        if self.kind not in COUNTED and self.count != 1:
            raise refuse(f"a {self.kind} condition has no count")
        if self.kind == "quest" and self.quest_id is not None and self.count != 1:
            raise refuse("a condition on one quest has no count")
        return self


class BadgeDefinition(Section):
    name: Annotated[str, key()]
    title: Annotated[LocalizedText, localized(48)]
    description: Annotated[LocalizedText, localized(300)]
    emoji: Annotated[str, _emoji()] | None = None
    picture: Annotated[str, _picture()] | None = None
    condition: Condition

    @model_validator(mode="after")
    def _shown_somehow(self) -> BadgeDefinition:
        if self.emoji is None and self.picture is None:
            raise refuse("a badge needs an emoji or a picture")
        return self


def parse_definition(value: Any) -> BadgeDefinition:
    """The definition (parsed JSON), or InvalidBadge naming every field that is wrong."""
    return parse_model(
        value,
        BadgeDefinition,
        InvalidBadge,
        not_object=lambda value: f"a badge is a JSON object, not {shown(value)}",
        explained=_explained,
        from_text=False,
    )


def _explained(error: ValidationError) -> str:
    # A refusal of the whole badge (or of the condition as a whole) has no field to name.
    whole_object = [d for d in error.errors() if not d["loc"] or d["type"] == "invalid_rule"]
    if len(whole_object) == len(error.errors()):
        return "; ".join(
            (".".join(str(part) for part in d["loc"]) + ": " if d["loc"] else "") + d["msg"]
            for d in whole_object
        )
    return str(explain(error))


def condition_of(raw: str) -> Condition:
    return Condition.model_validate(json.loads(raw))


def localized_of(raw: str) -> LocalizedText:
    value = json.loads(raw)
    if isinstance(value, str):
        return LocalizedText((("", value),))
    return LocalizedText(tuple((str(k), str(v)) for k, v in value.items()))
