"""The member card: its number and a QR code for the till."""

from __future__ import annotations

from core.shared import qr
from handlers import actions
from handlers.messages import Image, Reply
from handlers.render.views import Views
from handlers.routing import Router, Turn


class CardMenu:
    def __init__(self, views: Views) -> None:
        self._views = views

    def register(self, router: Router) -> None:
        router.route(actions.Card, self.card)
        router.words(actions.Card(), "menu-card", "words-card")
        router.command("card", actions.Card())

    async def card(self, turn: Turn, _action: actions.Card) -> list[Reply]:
        member = turn.member
        return [
            Reply(
                text=self._views.card_caption(member.language, member.card_code),
                image=Image(
                    png=qr.png(member.card_code),
                    filename=f"card-{member.card_code}.png",
                    is_card=True,
                ),
            )
        ]
