"""Privacy: what is kept, the member's data as a file, and erasing the account."""

from __future__ import annotations

import json

from core.program import LoyaltyProgram
from handlers import actions
from handlers.messages import Document, Reply
from handlers.render.views import Views, button
from handlers.routing import Router, Turn


async def export_document(program: LoyaltyProgram, member_id: int) -> Document:
    """The member's data export as the file every channel sends: the one place it is built.
    Made afresh each time (personal data is never kept beside the database); for an erased
    member it holds what erasure left, which is nothing personal."""
    data = await program.privacy.export(member_id)
    content = json.dumps(data, ensure_ascii=False, indent=2).encode()
    return Document(content=content, filename=f"my-data-{data['profile']['card_code']}.json")


class PrivacyMenu:
    def __init__(self, program: LoyaltyProgram, views: Views) -> None:
        self._program = program
        self._views = views

    def register(self, router: Router) -> None:
        router.route(actions.Privacy, self.privacy)
        router.route(actions.Export, self.export)
        router.route(actions.Erase, self.erase)
        router.route(actions.EraseConfirmed, self.erase_confirmed)
        router.words(actions.Privacy(), "menu-privacy", "words-privacy")
        router.command("privacy", actions.Privacy())

    async def privacy(self, turn: Turn, _action: actions.Privacy) -> list[Reply]:
        language = turn.member.language
        t = self._views.t
        return [
            Reply(
                text=t(language, "privacy-info"),
                buttons=(
                    (button(t(language, "privacy-export-button"), actions.Export()),),
                    (button(t(language, "privacy-erase-button"), actions.Erase()),),
                ),
            )
        ]

    async def export(self, turn: Turn, _action: actions.Export) -> list[Reply]:
        member = turn.member
        document = await export_document(self._program, member.id)
        return [Reply(text=self._views.t(member.language, "privacy-export"), document=document)]

    async def erase(self, turn: Turn, _action: actions.Erase) -> list[Reply]:
        member = turn.member
        language = member.language
        t = self._views.t
        return [
            Reply(
                text=t(
                    language,
                    "privacy-erase-confirm",
                    points=self._views.texts.points(language, member.balance),
                ),
                buttons=(
                    (button(t(language, "privacy-erase-yes"), actions.EraseConfirmed()),),
                    (button(t(language, "privacy-erase-no"), actions.Menu()),),
                ),
            )
        ]

    async def erase_confirmed(self, turn: Turn, _action: actions.EraseConfirmed) -> list[Reply]:
        await self._program.privacy.erase(turn.member.id)
        text = self._views.t(turn.member.language, "privacy-erased")
        return [Reply(text=text, remove_menu=True)]
