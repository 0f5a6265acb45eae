"""The entry point of every channel: one incoming message in, the replies out."""

from __future__ import annotations

import logging

from core.db.state import ConversationStore, FloodGate
from core.members.accounts import IdentityKey
from core.members.linking import LinkRefused, looks_like_code
from core.program import LoyaltyProgram
from core.shared.cards import display
from handlers import views
from handlers.i18n import Translator
from handlers.invites import InviteLinks
from handlers.menu import MemberMenu
from handlers.messages import Incoming, Reply
from handlers.parsing import parse_command, simplify
from handlers.signup import SignUp, referral_code, typed_referral
from handlers.views import Views

log = logging.getLogger(__name__)


class Conversation:
    def __init__(
        self,
        program: LoyaltyProgram,
        store: ConversationStore,
        texts: Translator,
        *,
        flood: FloodGate | None = None,
        flood_limit: int = 20,
        invites: InviteLinks | None = None,
    ) -> None:
        self._program = program
        self._flood = flood
        self._flood_limit = flood_limit
        self._store = store
        self._texts = texts
        self._views = Views(texts)
        self._signup = SignUp(program, store, self._views)
        self.invites = invites or InviteLinks()
        self._menu = MemberMenu(program, self._views, self.invites)
        self._vocabulary = self._build_vocabulary(texts)

    @property
    def texts(self) -> Translator:
        return self._texts

    async def handle(self, message: Incoming) -> list[Reply]:
        if self._flood is not None:
            sent = await self._flood.count(f"{message.channel}:{message.user_id}")
            if sent > self._flood_limit:
                # One polite notice per window, then silence: answering a flood feeds it.
                if sent > self._flood_limit + 1:
                    return []
                language = self._texts.resolve(message.language_code)
                return [Reply(text=self._texts.text(language, "flood-slow-down"))]
        try:
            return await self._handle(message)
        except Exception:
            # The member gets an apology, never silence; the ledger is transactional, so a
            # failure here cannot have half-posted points.
            log.exception("failed to handle a message from %s:%s", message.channel, message.user_id)
            language = self._texts.resolve(message.language_code)
            return [Reply(text=self._texts.text(language, "error-generic"))]

    async def _handle(self, message: Incoming) -> list[Reply]:
        identity = IdentityKey(message.channel, message.user_id)
        # A word of the menu may look like a code too ("time zone"): the word wins.
        if not message.action and looks_like_code(message.text) and not self._action(message):
            return await self._link(message, identity)
        command = None if message.action else parse_command(message.text.strip())
        member = await self._program.members.find(identity)
        if member is None:
            if command is not None and command.name == "start":
                return await self._signup.begin(
                    message, identity, referral=referral_code(command.argument)
                )
            state = await self._store.get(str(identity))
            if state is None and command is None and not message.action:
                referral = typed_referral(message.text)
                if referral is not None:
                    return await self._signup.begin(message, identity, referral=referral)
            return await self._signup.proceed(message, identity, state, self._action(message))
        if command is not None:
            action = "start" if command.name == "start" else views.COMMANDS.get(command.name)
        else:
            action = self._action(message)
        return await self._menu.handle(message, member, action)

    async def _link(self, message: Incoming, identity: IdentityKey) -> list[Reply]:
        """A link code from another messenger: attach this account, or merge two members."""
        try:
            linked = await self._program.linking.redeem(identity, message.text)
        except LinkRefused as refusal:
            member = await self._program.members.find(identity)
            language = member.language if member else self._texts.resolve(message.language_code)
            key = "link-too-many" if refusal.reason == "too_many_attempts" else None
            return [Reply(text=self._texts.text(language, key or f"link-{refusal.reason}"))]
        await self._store.clear(str(identity))
        member = linked.member
        language = member.language
        texts = self._texts
        points = texts.points(language, member.balance)
        card = display(member.card_code)
        if linked.outcome == "already":
            text = texts.text(language, "link-already")
        elif linked.outcome == "merged":
            moved = texts.points(language, linked.points_moved)
            text = texts.text(language, "link-merged", card=card, moved=moved, points=points)
        else:
            text = texts.text(language, "link-done", card=card, points=points)
        return [self._views.main_menu(language, member, text)]

    def _action(self, message: Incoming) -> str | None:
        if message.action:
            return message.action
        return self._vocabulary.get(simplify(message.text))

    @staticmethod
    def _build_vocabulary(texts: Translator) -> dict[str, str]:
        vocabulary: dict[str, str] = {}
        for action, keys in views.VOCABULARY.items():
            for key in keys:
                for _language, text in texts.variants(key):
                    for word in text.split(",") if key.startswith("words-") else (text,):
                        if simplify(word):
                            vocabulary.setdefault(simplify(word), action)
        for language in texts.languages:
            vocabulary.setdefault(
                simplify(texts.text(language, "language-name")), views.CHOOSE_LANGUAGE + language
            )
        return vocabulary
