"""A broadcast's message (core.broadcasts.render) as the replies every channel sends: the
marketer's text, the image, and one button per row that opens the bot where it says, carrying
the broadcast and the variant (handlers/menus/broadcasts.py)."""

from __future__ import annotations

from typing import TypeVar

from core.broadcasts.render import OutButton, Outgoing
from core.broadcasts.spec import NPS_QUESTION
from handlers import actions
from handlers.messages import Button, Image, Reply, StoredImage
from handlers.render.i18n import Translator
from handlers.routing import Action

K = TypeVar("K")
V = TypeVar("V")


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


def body(message: Outgoing, texts: Translator) -> str:
    """The message's text; a feedback question without one in the member's language asks the
    default question."""
    if not message.text and message.question == NPS_QUESTION:
        return texts.text(message.language, "feedback-question")
    return message.text


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


class BroadcastReplies:
    """A broadcast's message as the replies a channel sends, for a stream of one broadcast's
    members: the buttons (captions in a language) are the same for everyone who gets a
    variant in a language, so they are made once; only the text is each member's. Holds the
    last MAX_KEPT (a worker goes through one broadcast at a time). The image is the one stored
    with the broadcast (core.broadcasts.images), never a file."""

    MAX_KEPT = 64

    def __init__(self, texts: Translator) -> None:
        self._texts = texts
        self._buttons: dict[tuple[object, ...], tuple[tuple[Button, ...], ...]] = {}

    def __call__(self, message: Outgoing) -> list[Reply]:
        buttons_key = (message.language, message.buttons)
        buttons = self._buttons.get(buttons_key)
        if buttons is None:
            buttons = tuple(
                (
                    Button(
                        caption(button, self._texts, message.language), tap_action(button).encode()
                    ),
                )
                for button in message.buttons
            )
            _keep(self._buttons, buttons_key, buttons, self.MAX_KEPT)
        if message.question == NPS_QUESTION:
            buttons = score_rows(message.broadcast_id) + buttons
        image = None
        if message.image is not None:
            stored = message.image
            image = Image(
                png=stored.content,
                filename=stored.filename,
                content_type=stored.content_type,
                stored=StoredImage(stored.broadcast_id, stored.digest, stored.extension),
            )
        return [Reply(text=body(message, self._texts), buttons=buttons, image=image)]


def _keep(kept: dict[K, V], key: K, value: V, most: int) -> None:
    if len(kept) >= most:
        kept.pop(next(iter(kept)))
    kept[key] = value
