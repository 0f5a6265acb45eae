"""The member's messengers: the accounts linked to the card, a code to link one more, unlinking."""

from __future__ import annotations

from core.members.accounts import IdentityKey, IdentityNotLinked, LastIdentity, Profile
from core.members.linking import CODE_TTL, LinkRefused
from core.program import LoyaltyProgram
from core.shared.cards import display
from handlers import actions
from handlers.messages import Incoming, Reply
from handlers.render.views import Views, tail
from handlers.routing import Router, Turn


class MessengersMenu:
    def __init__(self, program: LoyaltyProgram, views: Views) -> None:
        self._program = program
        self._views = views

    def register(self, router: Router) -> None:
        router.route(actions.Messengers, self.messengers)
        router.route(actions.LinkCode, self.link_code)
        router.route(actions.Unlink, self.unlink)
        router.words(actions.Messengers(), "menu-link", "words-link")
        router.command("link", actions.Messengers())

    async def messengers(self, turn: Turn, _action: actions.Messengers) -> list[Reply]:
        return [await self._listing(turn.message, turn.member)]

    async def link_code(self, turn: Turn, _action: actions.LinkCode) -> list[Reply]:
        issued = await self._program.linking.issue(turn.member.id)
        minutes = int(CODE_TTL.total_seconds() // 60)
        text = self._views.t(
            turn.member.language, "link-code", code=issued.display, minutes=minutes
        )
        return [Reply(text=text)]

    async def unlink(self, turn: Turn, action: actions.Unlink) -> list[Reply]:
        message, member = turn.message, turn.member
        language = member.language
        identity = IdentityKey(action.channel, action.external_id)
        if identity == IdentityKey(message.channel, message.user_id):
            # Unlinking the account one is writing from would strand this very chat.
            return [await self._listing(message, member)]
        try:
            await self._program.members.unlink(member.id, identity)
        except LastIdentity:
            notice = self._views.t(language, "messengers-last")
        except IdentityNotLinked:
            notice = self._views.t(language, "messengers-not-found")
        else:
            notice = self._views.t(
                language,
                "messengers-unlinked",
                channel=self._views.channel(language, identity),
                tail=tail(identity),
            )
        return [await self._listing(message, member, notice)]

    async def redeem(self, message: Incoming, identity: IdentityKey) -> tuple[Reply, bool]:
        """A link code typed in from another messenger: attach this account, or merge two
        members. Also whether it was linked (then any half-done sign-up is moot)."""
        texts = self._views.texts
        try:
            linked = await self._program.linking.redeem(identity, message.text)
        except LinkRefused as refusal:
            found = await self._program.members.find(identity)
            language = found.language if found else texts.resolve(message.language_code)
            key = "link-too-many" if refusal.reason == "too_many_attempts" else None
            return Reply(text=texts.text(language, key or f"link-{refusal.reason}")), False
        member = linked.member
        language = member.language
        points = texts.points(language, member.balance)
        card = display(member.card_code)
        if linked.outcome == "already":
            text = texts.text(language, "link-already")
        elif linked.outcome == "merged":
            moved = texts.points(language, linked.points_moved)
            text = texts.text(language, "link-merged", card=card, moved=moved, points=points)
        else:
            text = texts.text(language, "link-done", card=card, points=points)
        return self._views.main_menu(language, member, text), True

    async def _listing(self, message: Incoming, member: Profile, notice: str = "") -> Reply:
        identities = await self._program.members.identities(member.id)
        current = IdentityKey(message.channel, message.user_id)
        return self._views.messengers(
            member.language, member.card_code, identities, current, notice=notice
        )
