"""A broadcast's message for one member: the variant's text in their language, personalised,
with its image and buttons. The buttons name what they open and carry the broadcast and the
variant; the conversation (handlers) turns them into its actions and captions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.broadcasts.spec import NPS_QUESTION, PLACEHOLDERS, Template, Variant


@dataclass(frozen=True)
class Personal:
    """What the placeholders stand for, for one member."""

    name: str = ""
    balance: int = 0
    tier: str = ""
    points_to_next_tier: str = ""
    coupon: str = ""

    def values(self) -> dict[str, object]:
        return {
            "name": self.name,
            "balance": self.balance,
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
    # A PNG or JPEG file.
    image: str | None
    buttons: tuple[OutButton, ...]
    # spec.NPS_QUESTION: the 0-10 buttons of a feedback question follow the text.
    question: str | None = None


def render(
    variant: Variant,
    *,
    broadcast_id: int,
    language: str,
    default_language: str,
    values: Mapping[str, object],
) -> Outgoing:
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
        image=variant.image,
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


# What a preview without a member shows for each placeholder: the placeholder itself.
PLACEHOLDER_VALUES: dict[str, object] = {name: "{" + name + "}" for name in PLACEHOLDERS}


def uses(variant: Variant, placeholder: str) -> bool:
    texts = [text for _, text in variant.text.items()] if variant.text is not None else []
    if variant.whatsapp_template is not None:
        texts.extend(variant.whatsapp_template.variables.values())
    return any("{" + placeholder in text for text in texts)
