"""A broadcast's message for one member: the variant's text in their language, personalised,
with its image and buttons. The buttons name what they open and carry the broadcast and the
variant; the conversation (handlers) turns them into its actions and captions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from core.broadcasts.images import BroadcastImage
from core.broadcasts.spec import NPS_QUESTION, PLACEHOLDERS, Template, Variant, placeholders_in
from core.shared.languages import SUPPORTED_LOCALES


class Wording(Protocol):
    """The words a personal text needs in the member's language (the locales, given by the
    composition root: core knows none)."""

    def points(self, language: str, count: int) -> str:
        """A number of points with its word, in its plural form."""
        ...

    def nameless(self, language: str) -> str:
        """What {name} says of a member without a name (a WhatsApp profile may have none)."""
        ...

    def no_tier(self, language: str) -> str:
        """What {tier} says of a member in no tier (below the first, or no tiers at all)."""
        ...


class Numerals:
    """No locales (a benchmark, a tool): the bare number, and no word for a nameless member."""

    def points(self, language: str, count: int) -> str:
        return str(count)

    def nameless(self, language: str) -> str:
        return ""

    def no_tier(self, language: str) -> str:
        return ""


@dataclass(frozen=True)
class Personal:
    """What the placeholders stand for, for one member."""

    name: str = ""
    balance: int = 0
    points: str = ""
    tier: str = ""
    points_to_next_tier: str = ""
    coupon: str = ""

    def values(self) -> dict[str, object]:
        return {
            "name": self.name,
            "balance": self.balance,
            "points": self.points,
            "tier": self.tier,
            "points_to_next_tier": self.points_to_next_tier,
            "coupon": self.coupon,
        }


@dataclass(frozen=True)
class OutButton:
    # What it opens (spec.TARGETS) and which one (a quest's or reward's id).
    open: str
    id: int | None
    # The marketer's caption in the member's language; None: ours.
    label: str | None
    broadcast_id: int
    variant: str


@dataclass(frozen=True)
class Outgoing:
    broadcast_id: int
    variant: str
    language: str
    # "" for a feedback question without a text in `language`: the default question is asked
    # (handlers/render/broadcasts.py, from the locales).
    text: str
    # The variant's image as stored with the broadcast (None: none, or not stored).
    image: BroadcastImage | None
    buttons: tuple[OutButton, ...]
    # spec.NPS_QUESTION: the 0-10 buttons of a feedback question follow the text.
    question: str | None = None


def text_language(variant: Variant, language: str, default_language: str) -> str:
    """The language `render` writes the variant's text in for a member of `language`."""
    if variant.text is None or (
        variant.question == NPS_QUESTION and variant.own_text(language) is None
    ):
        return language
    return variant.text.pick(language, default_language)[0]


def render(
    variant: Variant,
    *,
    broadcast_id: int,
    language: str,
    default_language: str,
    values: Mapping[str, object],
    images: Mapping[str, BroadcastImage],
) -> Outgoing:
    """`images`: the broadcast's stored images, by the reference the spec names them by."""
    if variant.question == NPS_QUESTION and variant.own_text(language) is None:
        # Asked in the member's own language rather than in another one of the marketer's.
        chosen, text = language, ""
    else:
        assert variant.text is not None  # only a feedback question goes without
        chosen, text = variant.text.pick(language, default_language)
    return Outgoing(
        broadcast_id=broadcast_id,
        variant=variant.key,
        language=chosen,
        # The spec admits only the known placeholders, so nothing else can be reached.
        text=text.format_map(values),
        image=images.get(variant.image) if variant.image is not None else None,
        buttons=tuple(
            OutButton(
                open=button.open,
                id=button.id,
                label=button.label.pick(chosen, default_language)[1] if button.label else None,
                broadcast_id=broadcast_id,
                variant=variant.key,
            )
            for button in variant.buttons
        ),
        question=variant.question,
    )


def template_variables(template: Template, values: Mapping[str, object]) -> dict[str, str]:
    return {key: value.format_map(values) for key, value in template.variables.items()}


# What a member's preview shows for {coupon} before their code is issued (at the send).
COUPON_STAND_IN = "‹personal code›"

# What a preview without a member shows for each placeholder: the placeholder itself.
PLACEHOLDER_VALUES: dict[str, object] = {name: "{" + name + "}" for name in PLACEHOLDERS}


def uses(variant: Variant, placeholder: str) -> bool:
    """Whether a text of the variant, or its template's variables, show `placeholder`
    (exactly: {points} is not {points_to_next_tier})."""
    texts = [text for _, text in variant.text.items()] if variant.text is not None else []
    if variant.whatsapp_template is not None:
        texts.extend(variant.whatsapp_template.variables.values())
    return any(placeholder in placeholders_in(text) for text in texts)


def borrowed_languages(variant: Variant, default_language: str) -> dict[str, str]:
    """The member languages the variant has no text of its own in, each with the language
    of the text those members get instead (the shop's default, else another). A feedback
    question asks them in their own language: it borrows none."""
    borrowed = {}
    for language in SUPPORTED_LOCALES:
        if variant.own_text(language) is None:
            chosen = text_language(variant, language, default_language)
            if chosen != language:
                borrowed[language] = chosen
    return borrowed
