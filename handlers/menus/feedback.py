"""Feedback in the chat: the member answers a feedback broadcast's 0-10 question with a
button (Telegram, VK) or its number (WhatsApp; a typed number works everywhere), is thanked
(with the reward, once per question), and may add a comment: their next text message within
COMMENT_WINDOW. Which question awaits a comment is kept in the conversation store
(`flow:feedback:<member>`, Redis in production): losing it costs the comment, never points.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from core.db.state import ConversationStore
from core.feedback.errors import FeedbackNotAsked, InvalidScore
from core.feedback.service import HIGHEST, LOWEST, Answer
from core.program import LoyaltyProgram
from handlers import actions
from handlers.flows.base import FlowStore
from handlers.messages import Reply
from handlers.render.parsing import ascii_digits
from handlers.render.views import Views
from handlers.routing import Router, Turn

COMMENT_WINDOW = timedelta(minutes=30)
# A typed answer: a number, at most a few digits ("10", "۹", "12" refused with the range).
MAX_TYPED_DIGITS = 3


class FeedbackMenu:
    def __init__(self, program: LoyaltyProgram, store: ConversationStore, views: Views) -> None:
        self._program = program
        self._views = views
        self._flow = FlowStore(store, "feedback")

    def register(self, router: Router) -> None:
        router.route(actions.FeedbackScore, self.score)

    def t(self, language: str, key: str, /, **args: object) -> str:
        return self._views.t(language, key, **args)

    async def score(self, turn: Turn, action: actions.FeedbackScore) -> list[Reply]:
        return await self._answer(turn, action.score, action.broadcast)

    async def comment_awaited_since(self, turn: Turn) -> datetime | None:
        """Since when a comment is awaited (the answer it follows), None if none is now."""
        state = await self._flow.load(turn.member.id)
        if state is None:
            return None
        try:
            until = datetime.fromisoformat(str(state.get("until", "")))
        except ValueError:
            return None
        return until - COMMENT_WINDOW if self._program.clock.now() < until else None

    async def take_text(self, turn: Turn) -> list[Reply] | None:
        """A comment after an answer, or a typed score while a question awaits one; None
        for any other text."""
        text = turn.message.text.strip()
        member_id = turn.member.id
        state = await self._flow.load(member_id)
        if state is not None:
            await self._flow.clear(member_id)
            until = datetime.fromisoformat(str(state.get("until", "")))
            request_id = state.get("request")
            if (
                isinstance(request_id, int)
                and self._program.clock.now() < until
                and text
                and await self._program.feedback.comment(member_id, request_id, text)
            ):
                return [Reply(text=self.t(turn.member.language, "feedback-comment-thanks"))]
        typed = ascii_digits(text).strip().rstrip(".")
        if not (typed.isascii() and typed.isdigit() and len(typed) <= MAX_TYPED_DIGITS):
            return None
        if await self._program.feedback.unanswered(member_id) is None:
            return None
        return await self._answer(turn, int(typed), None)

    async def _answer(self, turn: Turn, score: int, broadcast_id: int | None) -> list[Reply]:
        language = turn.member.language
        try:
            answer = await self._program.feedback.answer(
                turn.member.id, score, broadcast_id=broadcast_id
            )
        except InvalidScore:
            return [Reply(text=self.t(language, "feedback-out-of-range", low=LOWEST, high=HIGHEST))]
        except FeedbackNotAsked:
            return [Reply(text=self.t(language, "feedback-not-asked"))]
        if not answer.counted:
            return [
                self._views.main_menu(
                    language, turn.member, self.t(language, "feedback-already-counted")
                )
            ]
        await self._flow.save(
            turn.member.id,
            {
                "request": answer.request_id,
                "until": (self._program.clock.now() + COMMENT_WINDOW).isoformat(),
            },
        )
        # With the main menu: where the answers came as a keyboard of their own (VK's
        # one-time keyboard for 11 buttons), the menu's keyboard was put away for them.
        return [self._views.main_menu(language, turn.member, self._thanks(language, answer))]

    def _thanks(self, language: str, answer: Answer) -> str:
        lines = [self.t(language, "feedback-thanks")]
        if answer.reward and answer.balance is not None:
            lines.append(
                self.t(
                    language,
                    "feedback-reward",
                    points=self._views.texts.points(language, answer.reward),
                    balance=self._views.texts.points(language, answer.balance),
                )
            )
        minutes = int(COMMENT_WINDOW.total_seconds() // 60)
        lines.append(self.t(language, "feedback-comment-prompt", minutes=minutes))
        return "\n".join(lines)
