"""A broadcast's message (core.broadcasts.render) as the replies every channel sends: the
marketer's text, the image, and one button per row that opens the bot where it says, carrying
the broadcast and the variant (handlers/menus/broadcasts.py)."""

from __future__ import annotations

from pathlib import Path

from core.broadcasts.render import OutButton, Outgoing
from core.broadcasts.spec import NPS_QUESTION
from handlers import actions
from handlers.messages import Button, Image, Reply
from handlers.render.i18n import Translator
from handlers.routing import Action


def target_of(button: OutButton) -> Action:
    if button.open in ("coupon", "coupons"):
        return actions.Coupons()
    if button.open == "rewards":
        return actions.Rewards()
    if button.open == "quests":
        return actions.Quests()
    if button.open == "quest" and button.id is not None:
        return actions.Quest(button.id)
    if button.open == "reward" and button.id is not None:
        return actions.Reward(button.id)
    raise ValueError(f"a button cannot open {button.open!r}")


def tap_action(button: OutButton) -> actions.BroadcastTap:
    return actions.BroadcastTap(
        broadcast=button.broadcast_id, variant=button.variant, target=target_of(button).encode()
    )


def caption(button: OutButton, texts: Translator, language: str) -> str:
    return button.label or texts.text(language, f"broadcast-button-{button.open}")


def score_rows(broadcast_id: int) -> tuple[tuple[Button, ...], ...]:
    """The 0-10 answers: 1-10 in two rows, then 0, so that on WhatsApp, where buttons are
    numbered choices, the number typed is the score (a typed 0 is read as text)."""

    def score(value: int) -> Button:
        return Button(str(value), actions.FeedbackScore(broadcast_id, value).encode())

    return (
        tuple(score(value) for value in range(1, 6)),
        tuple(score(value) for value in range(6, 11)),
        (score(0),),
    )


def broadcast_replies(message: Outgoing, texts: Translator) -> list[Reply]:
    buttons: tuple[tuple[Button, ...], ...] = tuple(
        (Button(caption(button, texts, message.language), tap_action(button).encode()),)
        for button in message.buttons
    )
    if message.question == NPS_QUESTION:
        buttons = score_rows(message.broadcast_id) + buttons
    image = None
    if message.image is not None:
        path = Path(message.image)
        image = Image(png=path.read_bytes(), filename=path.name)
    return [Reply(text=message.text, buttons=buttons, image=image)]
