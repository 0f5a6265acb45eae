"""The entry point of every channel: one incoming message in, the replies out.

Who is writing decides where the message goes: someone who has not joined is in the sign-up
flow; a member's message names an action (a button's payload, a typed menu word, a /command),
and the router hands it to the feature that registered it. A link code typed in from another
messenger is the one thing understood from anyone.
"""

from __future__ import annotations

import logging

from core.db.failures import is_infrastructure_failure
from core.db.state import ConversationStore, FloodGate
from core.members.accounts import IdentityKey
from core.members.linking import looks_like_code
from core.program import LoyaltyProgram
from core.shared.redaction import who
from handlers.flows.signup import SignUp, referral_code, typed_referral
from handlers.menus.badges import BadgesMenu
from handlers.menus.balance import BalanceMenu
from handlers.menus.broadcasts import BroadcastButtons
from handlers.menus.card import CardMenu
from handlers.menus.contests import ContestsMenu
from handlers.menus.coupons import CouponsMenu
from handlers.menus.feedback import FeedbackMenu
from handlers.menus.games import GamesMenu
from handlers.menus.help import HelpMenu
from handlers.menus.invite import InviteLinks, InviteMenu
from handlers.menus.leaderboard import LeaderboardMenu
from handlers.menus.main import MainMenu
from handlers.menus.messengers import MessengersMenu
from handlers.menus.privacy import PrivacyMenu
from handlers.menus.profile import ProfileMenu
from handlers.menus.quests import QuestsMenu
from handlers.menus.rewards import RewardsMenu
from handlers.menus.settings import SettingsMenu
from handlers.menus.streaks import StreaksMenu
from handlers.messages import Incoming, Reply
from handlers.render.i18n import Translator
from handlers.render.parsing import parse_command, simplify
from handlers.render.views import Views
from handlers.routing import Action, Feature, Router, Turn

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
        self._texts = texts
        views = Views(texts)
        self.invites = invites or InviteLinks()
        self._signup = SignUp(program, store, views)
        self._main = MainMenu(program, views)
        self._messengers = MessengersMenu(program, views)
        self._profile = ProfileMenu(program, store, views)
        coupons = CouponsMenu(program, views)
        self._quests = QuestsMenu(program, store, views)
        self._feedback = FeedbackMenu(program, store, views)
        self.router = Router()
        features: tuple[Feature, ...] = (
            self._main,
            BalanceMenu(program, views),
            CardMenu(views),
            SettingsMenu(program, views),
            self._profile,
            HelpMenu(program, views),
            self._messengers,
            PrivacyMenu(program, views),
            InviteMenu(program, views, self.invites),
            coupons,
            RewardsMenu(program, views, coupons),
            GamesMenu(views),
            self._quests,
            ContestsMenu(program, views),
            BadgesMenu(program, views),
            StreaksMenu(program, views),
            LeaderboardMenu(program, views),
            BroadcastButtons(program, self._main),
            self._feedback,
            self._signup,
        )
        for feature in features:
            feature.register(self.router)
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
        except Exception as error:
            if is_infrastructure_failure(error):
                # The database or Redis is out of reach: no apology, the channel answers the
                # platform 503 and the update comes again once the service is back.
                raise
            # A bug of ours: the member gets an apology, never silence; the ledger is
            # transactional, so a failure here cannot have half-posted points.
            log.exception(
                "failed to handle a message from %s", who(message.channel, message.user_id)
            )
            language = self._texts.resolve(message.language_code)
            return [Reply(text=self._texts.text(language, "error-generic"))]

    async def _handle(self, message: Incoming) -> list[Reply]:
        identity = IdentityKey(message.channel, message.user_id)
        # Who writes, and that they wrote now (their last channel, WhatsApp's 24-hour window).
        member = await self._program.members.visit(identity)
        action = self._action(message)
        # A word of the menu may look like a code too ("time zone"): the word wins.
        if not message.action and action is None and looks_like_code(message.text):
            reply, linked = await self._messengers.redeem(message, identity)
            if linked:
                await self._signup.abandon(identity)
            return [reply]
        command = None if message.action else parse_command(message.text.strip())
        if member is None:
            if command is not None and command.name == "start":
                return await self._signup.begin(
                    message, identity, referral=referral_code(command.argument)
                )
            state = await self._signup.state(identity)
            if state is None and command is None and not message.action:
                referral = typed_referral(message.text)
                if referral is not None:
                    return await self._signup.begin(message, identity, referral=referral)
            return await self._signup.proceed(message, identity, state, action)
        if message.is_bot:
            # Kept on the member: contests re-check it at the draw, whatever account won.
            await self._program.members.mark_bot(member.id)
        turn = Turn(message, member)
        if message.contact is not None:
            # Only the profile's phone button shares a contact.
            return await self._profile.contact(turn)
        if command is not None:
            action = self.router.for_command(command.name, command.argument)
        handler = self.router.handler(action) if action is not None else None
        if handler is None and action is None and command is None and not message.action:
            # Text that is no menu word: the answer to the profile's last question, if any.
            answer = await self._profile.typed(turn)
            if answer is not None:
                return answer
        if handler is None:
            if message.action and self.router.stale(message.action):
                return self._main.stale(turn)
            if action is None and command is None and not message.action:
                # Typed text that is no menu word: what a flow waits for (a quiz's answer or
                # a proof, a feedback comment: the one the member came to last wins); else a
                # number as the score of a feedback question that was sent and is open.
                quiz = await self._quests.awaiting_since(turn)
                comment = await self._feedback.comment_awaited_since(turn)
                takers = [self._quests.take_text, self._feedback.take_text]
                if comment is not None and (quiz is None or comment > quiz):
                    takers.reverse()
                for take in takers:
                    awaited = await take(turn)
                    if awaited is not None:
                        return awaited
            return self._main.unknown(turn)
        return await handler(turn, action)

    def _action(self, message: Incoming) -> Action | None:
        """The action of a pressed button, or of a typed word; None for anything else."""
        if message.action:
            return self.router.decode(message.action)
        return self._vocabulary.get(simplify(message.text))

    def _build_vocabulary(self, texts: Translator) -> dict[str, Action]:
        vocabulary: dict[str, Action] = {}
        for words in self.router.vocabulary:
            for key in words.text_keys:
                variants = (
                    [(words.only, texts.text(words.only, key))]
                    if words.only
                    else texts.variants(key)
                )
                for _language, text in variants:
                    for word in text.split(",") if key.startswith("words-") else (text,):
                        if simplify(word):
                            vocabulary.setdefault(simplify(word), words.action)
        return vocabulary
