"""Quests in the chat: the quests a member can do, one quest's steps and progress ("2 of 3
purchases"), joining, answering a quiz, sending a proof, checking a channel subscription.

A typed quiz answer or a proof is the member's next message: where they are (which quest and
step) is kept in the conversation store (`flow:quest:<member>`, Redis in production), so a
restart of the process between the question and the answer loses nothing. Progress from
purchases, check-ins, friends and the shop's events is the core's (core.games.quests); the
member is told of a step or a quest done through the notices outbox.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from core.db.state import ConversationStore
from core.games.quests.definition import (
    ChannelStep,
    CheckInStep,
    EventStep,
    ProfileStep,
    ProofStep,
    PurchaseStep,
    QuizStep,
    ReferralStep,
    Step,
)
from core.games.quests.errors import QuestNotFound, QuestRefused
from core.games.quests.membership import Membership
from core.games.quests.service import Outcome, QuestView, StepProgress
from core.program import LoyaltyProgram
from core.rules.book import ProgramRules
from handlers import actions
from handlers.flows.base import FlowStore
from handlers.menus.coupons import CAPTION_LIMIT, shortened
from handlers.menus.rewards import _read_picture
from handlers.messages import Button, Image, Reply
from handlers.render.views import RULES_SHOWN_MAX_AGE, Views, button
from handlers.routing import Router, Turn

# One quest per row: VK's inline keyboards hold 6 rows (one is left for the way back).
QUESTS_SHOWN = 5
MAX_ROWS = 6
MAX_TEXT_INPUT = 2000


class QuestsMenu:
    def __init__(self, program: LoyaltyProgram, store: ConversationStore, views: Views) -> None:
        self._program = program
        self._views = views
        self._flow = FlowStore(store, "quest")

    def t(self, language: str, key: str, /, **args: object) -> str:
        return self._views.t(language, key, **args)

    def register(self, router: Router) -> None:
        router.route(actions.Quests, self.quests)
        router.route(actions.Quest, self.quest)
        router.route(actions.QuestJoin, self.join)
        router.route(actions.QuestChoice, self.choice)
        router.route(actions.QuestAnswer, self.ask)
        router.route(actions.QuestProof, self.ask_proof)
        router.route(actions.QuestCheck, self.check)
        router.route(actions.QuestCancel, self.cancel)
        router.command("quests", actions.Quests())
        router.words(actions.Quests(), "games-quests", "words-quests")

    # ------------------------------------------------------------------ routes

    async def quests(self, turn: Turn, _action: actions.Quests) -> list[Reply]:
        language = turn.member.language
        views = await self._program.quests.available(turn.member.id)
        if not views:
            return [Reply(text=self.t(language, "quests-none"))]
        lines = [self.t(language, "quests-title", count=len(views))]
        for view in views[:QUESTS_SHOWN]:
            lines.append(self._summary(language, view))
        rows = tuple(
            (
                button(
                    shortened(view.quest.definition.title.get(language), 40),
                    actions.Quest(view.quest.id),
                ),
            )
            for view in views[:QUESTS_SHOWN]
        )
        return [Reply(text="\n".join(lines), buttons=rows)]

    async def quest(self, turn: Turn, action: actions.Quest) -> list[Reply]:
        return await self._guarded(turn, lambda: self._show(turn, action.id))

    async def join(self, turn: Turn, action: actions.QuestJoin) -> list[Reply]:
        async def joined() -> list[Reply]:
            view = await self._program.quests.join(turn.member.id, action.id)
            return await self._answer(turn, view, self.t(turn.member.language, "quest-joined"))

        return await self._guarded(turn, joined)

    async def choice(self, turn: Turn, action: actions.QuestChoice) -> list[Reply]:
        async def chosen() -> list[Reply]:
            outcome = await self._program.quests.answer(
                turn.member.id, action.id, action.step, str(action.choice)
            )
            return await self._after_answer(turn, action.id, outcome)

        return await self._guarded(turn, chosen)

    async def ask(self, turn: Turn, action: actions.QuestAnswer) -> list[Reply]:
        language = turn.member.language

        async def asked() -> list[Reply]:
            view = await self._program.quests.view(turn.member.id, action.id)
            step = self._open_step(view, action.step, QuizStep)
            assert isinstance(step.step, QuizStep)
            await self._flow.save(
                turn.member.id,
                {
                    "quest": action.id,
                    "step": action.step,
                    "kind": "quiz",
                    "since": self._program.clock.now().isoformat(),
                },
            )
            text = "\n".join(
                [step.step.question.get(language), self.t(language, "quest-type-answer")]
            )
            return [Reply(text=text, buttons=self._cancel_row(language))]

        return await self._guarded(turn, asked)

    async def ask_proof(self, turn: Turn, action: actions.QuestProof) -> list[Reply]:
        language = turn.member.language

        async def asked() -> list[Reply]:
            view = await self._program.quests.view(turn.member.id, action.id)
            step = self._open_step(view, action.step, ProofStep)
            assert isinstance(step.step, ProofStep)
            if step.proof_pending:
                raise QuestRefused("proof_pending")
            await self._flow.save(
                turn.member.id,
                {
                    "quest": action.id,
                    "step": action.step,
                    "kind": "proof",
                    "since": self._program.clock.now().isoformat(),
                },
            )
            text = "\n".join([step.step.prompt.get(language), self.t(language, "quest-send-proof")])
            return [Reply(text=text, buttons=self._cancel_row(language))]

        return await self._guarded(turn, asked)

    async def check(self, turn: Turn, action: actions.QuestCheck) -> list[Reply]:
        language = turn.member.language

        async def checked() -> list[Reply]:
            answer = await self._program.quests.check_channel(
                turn.member.id, action.id, action.step
            )
            if answer is Membership.MEMBER:
                return await self._show(turn, action.id, self.t(language, "quest-channel-ok"))
            view = await self._program.quests.view(turn.member.id, action.id)
            step = view.steps[action.step].step if 0 <= action.step < len(view.steps) else None
            link = step.link if isinstance(step, ChannelStep) and step.link else ""
            key = (
                "quest-channel-not-member"
                if answer is Membership.NOT_MEMBER
                else ("quest-channel-unknown")
            )
            return await self._answer(turn, view, self.t(language, key, link=link or "—"))

        return await self._guarded(turn, checked)

    async def cancel(self, turn: Turn, _action: actions.QuestCancel) -> list[Reply]:
        await self._flow.clear(turn.member.id)
        return [Reply(text=self.t(turn.member.language, "quest-cancelled"))]

    async def awaiting_since(self, turn: Turn) -> datetime | None:
        """Since when a quiz answer or a proof is awaited from the member (None: none is; a
        state kept from before this was recorded counts as long ago)."""
        state = await self._flow.load(turn.member.id)
        if state is None or _read_state(state)[0] is None:
            return None
        try:
            return datetime.fromisoformat(str(state["since"]))
        except (KeyError, ValueError):
            return datetime.min.replace(tzinfo=UTC)

    async def take_text(self, turn: Turn) -> list[Reply] | None:
        """The member's typed message, if a quiz answer or a proof is awaited; else None."""
        state = await self._flow.load(turn.member.id)
        if state is None:
            return None
        quest_id, step, kind = _read_state(state)
        if quest_id is None:
            await self._flow.clear(turn.member.id)
            return None
        text = turn.message.text.strip()[:MAX_TEXT_INPUT]
        photo = turn.message.photo
        language = turn.member.language
        if not text and (kind == "quiz" or photo is None):
            return [Reply(text=self.t(language, "quest-type-answer"))]

        async def taken() -> list[Reply]:
            if kind == "proof":
                await self._program.quests.submit_proof(
                    turn.member.id, quest_id, step, text=text or None, photo=photo
                )
                await self._flow.clear(turn.member.id)
                return await self._show(turn, quest_id, self.t(language, "quest-proof-received"))
            outcome = await self._program.quests.answer(turn.member.id, quest_id, step, text)
            if outcome.correct:
                await self._flow.clear(turn.member.id)
                return await self._after_answer(turn, quest_id, outcome)
            return [
                Reply(
                    text=self.t(language, "quest-answer-wrong-typed"),
                    buttons=self._cancel_row(language),
                )
            ]

        try:
            return await taken()
        except QuestRefused as refusal:
            # The step was done meanwhile, or the quest ended: the member is no longer there.
            await self._flow.clear(turn.member.id)
            return [Reply(text=self.t(language, f"quest-refused-{refusal.reason}"))]
        except QuestNotFound:
            await self._flow.clear(turn.member.id)
            return [Reply(text=self.t(language, "quest-refused-not_available"))]

    # ------------------------------------------------------------------ pieces

    async def _guarded(self, turn: Turn, answer: Any) -> list[Reply]:
        language = turn.member.language
        try:
            replies: list[Reply] = await answer()
        except QuestRefused as refusal:
            return [
                Reply(
                    text=self.t(language, f"quest-refused-{refusal.reason}"),
                    buttons=((button(self.t(language, "quest-all"), actions.Quests()),),),
                )
            ]
        except QuestNotFound:
            return [Reply(text=self.t(language, "quest-refused-not_available"))]
        return replies

    async def _after_answer(self, turn: Turn, quest_id: int, outcome: Outcome) -> list[Reply]:
        language = turn.member.language
        if not outcome.correct:
            return await self._show(turn, quest_id, self.t(language, "quest-answer-wrong"))
        return await self._show(turn, quest_id, self.t(language, "quest-answer-right"))

    async def _show(self, turn: Turn, quest_id: int, notice: str = "") -> list[Reply]:
        view = await self._program.quests.view(turn.member.id, quest_id)
        return await self._answer(turn, view, notice)

    async def _answer(self, turn: Turn, view: QuestView, notice: str = "") -> list[Reply]:
        language = turn.member.language
        rules = await self._program.rules.current(max_age=RULES_SHOWN_MAX_AGE)
        definition = view.quest.definition
        lines = [notice] if notice else []
        lines.append(f"🎯 {definition.title.get(language)}")
        if definition.description is not None:
            lines.append(definition.description.get(language))
        lines.append(self._when(language, view, rules))
        lines.append(self.t(language, "quest-steps-title"))
        lines.extend(self._step_line(language, step, rules) for step in view.steps)
        lines.append(self._reward(language, view))
        if view.completed:
            lines.append(self.t(language, "quest-completed"))
        elif not view.joined and not definition.automatic:
            lines.append(self.t(language, "quest-join-hint"))
        elif definition.ordered:
            lines.append(self.t(language, "quest-ordered-hint"))
        image = None
        picture = definition.picture.get(language) if definition.picture is not None else None
        if picture is not None:
            content = await asyncio.to_thread(_read_picture, picture)
            if content is not None:
                image = Image(png=content, filename=Path(picture).name)
            elif picture.startswith("https://"):
                lines.insert(1 if not notice else 2, picture)
        text = "\n".join(lines)
        buttons = self._buttons(language, view)
        if image is not None and len(text) > CAPTION_LIMIT:
            return [Reply(text=definition.title.get(language), image=image), Reply(text, buttons)]
        return [Reply(text=text, buttons=buttons, image=image)]

    def _buttons(self, language: str, view: QuestView) -> tuple[tuple[Button, ...], ...]:
        quest_id = view.quest.id
        rows: list[tuple[Button, ...]] = []
        back = (button(self.t(language, "quest-all"), actions.Quests()),)
        if not view.joined and not view.quest.definition.automatic:
            rows.append((button(self.t(language, "quest-join"), actions.QuestJoin(quest_id)),))
            return (*rows, back)
        if view.completed:
            return (back,)
        quiz_shown = False
        for progress in view.steps:
            if progress.complete or progress.locked:
                continue
            step, index = progress.step, progress.index
            if isinstance(step, QuizStep) and not quiz_shown:
                quiz_shown = True
                if step.choices is not None:
                    choices = [
                        button(
                            shortened(choice.get(language), 30),
                            actions.QuestChoice(quest_id, index, number),
                        )
                        for number, choice in enumerate(step.choices, start=1)
                    ]
                    rows.extend(tuple(choices[at : at + 2]) for at in range(0, len(choices), 2))
                else:
                    label = self.t(language, "quest-answer")
                    rows.append((button(label, actions.QuestAnswer(quest_id, index)),))
            elif isinstance(step, ProofStep) and not progress.proof_pending:
                label = self.t(language, "quest-proof")
                rows.append((button(label, actions.QuestProof(quest_id, index)),))
            elif isinstance(step, ChannelStep):
                label = self.t(language, "quest-check")
                rows.append((button(label, actions.QuestCheck(quest_id, index)),))
        return (*rows[: MAX_ROWS - 1], back)

    def _cancel_row(self, language: str) -> tuple[tuple[Button, ...], ...]:
        return ((button(self.t(language, "quest-cancel"), actions.QuestCancel()),),)

    def _open_step(self, view: QuestView, index: int, kind: type) -> StepProgress:
        if not view.joined and not view.quest.definition.automatic:
            raise QuestRefused("not_joined")
        if not 0 <= index < len(view.steps) or not isinstance(view.steps[index].step, kind):
            raise QuestRefused("step_unknown")
        step = view.steps[index]
        if step.complete or view.completed:
            raise QuestRefused("step_done")
        if step.locked:
            raise QuestRefused("step_locked")
        return step

    def _summary(self, language: str, view: QuestView) -> str:
        title = view.quest.definition.title.get(language)
        if view.completed:
            state = self.t(language, "quests-state-done")
        elif view.joined:
            state = self.t(
                language, "quests-state-progress", done=view.steps_done, count=len(view.steps)
            )
        else:
            state = self.t(language, "quests-state-new")
        return f"• {title} — {state}"

    def _when(self, language: str, view: QuestView, rules: ProgramRules) -> str:
        recurrence = self.t(language, f"quest-recurrence-{view.quest.definition.recurrence}")
        ends = view.quest.ends_at
        if ends is None:
            return recurrence
        # `ends` is exclusive: a quest ending at midnight lasts until the day before.
        last = (ends - timedelta(microseconds=1)).astimezone(ZoneInfo(rules.time_zone))
        until = self.t(language, "quest-until", date=self._views.texts.date(language, last.date()))
        return f"{recurrence} · {until}"

    def _reward(self, language: str, view: QuestView) -> str:
        reward = view.quest.definition.reward
        parts = []
        if reward.points:
            parts.append(self._views.texts.points(language, reward.points))
        if reward.coupon:
            parts.append(self.t(language, "quest-reward-coupon"))
        if reward.badge:
            parts.append(self.t(language, "quest-reward-badge", badge=reward.badge))
        return self.t(language, "quest-reward", reward=" + ".join(parts))

    def _step_line(self, language: str, progress: StepProgress, rules: ProgramRules) -> str:
        if progress.complete:
            mark = "✅"
        elif progress.locked:
            mark = "🔒"
        elif progress.proof_pending:
            mark = "⏳"
        else:
            mark = "▫️"
        step = progress.step
        title = (
            step.title.get(language)
            if step.title is not None
            else self._title(language, step, rules)
        )
        line = f"{mark} {progress.index + 1}. {title}"
        counted = self._counted(language, progress, rules)
        if counted:
            line += f" — {counted}"
        if progress.proof_pending and not progress.complete:
            line += f" ({self.t(language, 'quest-proof-waiting')})"
        if isinstance(step, ChannelStep) and step.link and not progress.complete:
            line += f"\n   {step.link}"
        return line

    def _title(self, language: str, step: Step, rules: ProgramRules) -> str:
        t = self.t
        if isinstance(step, PurchaseStep):
            if step.spend is not None:
                money = self._views.texts.money(language, step.spend, rules.currency)
                title = t(language, "quest-step-spend", amount=money)
            else:
                title = t(language, "quest-step-purchases", count=step.count or 1)
            if step.category is not None:
                title += " " + t(language, "quest-step-in-category", category=step.category)
            if step.store is not None:
                title += " " + t(language, "quest-step-at-store", store=step.store)
            return title
        if isinstance(step, ReferralStep):
            return t(language, "quest-step-friends", count=step.count)
        if isinstance(step, CheckInStep):
            return t(language, "quest-step-checkins", count=step.count)
        if isinstance(step, QuizStep):
            return t(language, "quest-step-quiz", question=step.question.get(language))
        if isinstance(step, ProofStep):
            return step.prompt.get(language)
        if isinstance(step, EventStep):
            return t(language, "quest-step-event", event=step.event, count=step.count)
        if isinstance(step, ChannelStep):
            return t(language, "quest-step-channel", channel=step.chat)
        assert isinstance(step, ProfileStep)
        fields = ", ".join(t(language, f"quest-field-{name}") for name in step.fields)
        return t(language, "quest-step-profile", fields=fields)

    def _counted(self, language: str, progress: StepProgress, rules: ProgramRules) -> str:
        step = progress.step
        done = int(progress.done) if progress.done == int(progress.done) else progress.done
        if isinstance(step, PurchaseStep):
            if step.spend is not None:
                texts = self._views.texts
                return self.t(
                    language,
                    "quest-progress-spend",
                    done=texts.money(language, min(progress.done, step.spend), rules.currency),
                    target=texts.money(language, step.spend, rules.currency),
                )
            key = "quest-progress-purchases"
        elif isinstance(step, ReferralStep):
            key = "quest-progress-friends"
        elif isinstance(step, CheckInStep):
            key = "quest-progress-checkins"
        elif isinstance(step, EventStep):
            key = "quest-progress-times"
        else:
            return ""
        count = int(progress.target)
        return self.t(language, key, done=min(int(done), count), count=count)


def _read_state(state: dict[str, Any]) -> tuple[int | None, int, str]:
    quest, step, kind = state.get("quest"), state.get("step"), state.get("kind")
    if not isinstance(quest, int) or not isinstance(step, int) or kind not in ("quiz", "proof"):
        return None, 0, ""
    return quest, step, str(kind)
