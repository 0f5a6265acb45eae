"""The rewards catalogue in the chat: browse, claim with points, get the coupon.

The confirmation carries a nonce drawn when it is shown, so pressing "Yes" twice (or a retried
update) replays the same claim instead of buying the reward twice.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
from pathlib import Path

from core.members.accounts import Profile
from core.offers.rewards import RewardItem
from core.program import LoyaltyProgram
from core.shared.errors import RewardNotFound, RewardRefused
from handlers import actions
from handlers.menus.coupons import CAPTION_LIMIT, CouponsMenu, shortened
from handlers.messages import Button, Image, Reply
from handlers.render.views import RULES_SHOWN_MAX_AGE, Views, button
from handlers.routing import Router, Turn

log = logging.getLogger(__name__)

# One reward per row plus a row to page: VK's inline keyboards hold 6 rows.
REWARDS_PER_PAGE = 5
MAX_PICTURE_BYTES = 5 * 1024 * 1024
PICTURE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp"}


def _read_picture(picture: str) -> bytes | None:
    """A local picture file's bytes, if it is one we can send; URLs and the rest: None."""
    if "://" in picture:
        return None
    path = Path(picture)
    try:
        if path.suffix.lower() not in PICTURE_SUFFIXES or not path.is_file():
            return None
        if path.stat().st_size > MAX_PICTURE_BYTES:
            return None
        return path.read_bytes()
    except OSError as error:
        log.warning("reward picture %s cannot be read: %s", picture, error)
        return None


class RewardsMenu:
    def __init__(self, program: LoyaltyProgram, views: Views, coupons: CouponsMenu) -> None:
        self._program = program
        self._views = views
        self._coupons = coupons

    def t(self, language: str, key: str, /, **args: object) -> str:
        return self._views.t(language, key, **args)

    def register(self, router: Router) -> None:
        router.route(actions.Rewards, self.rewards)
        router.route(actions.RewardsPage, self.rewards_page)
        router.route(actions.Reward, self.reward)
        router.route(actions.RewardClaim, self.confirm)
        router.route(actions.RewardConfirmed, self.claim)
        router.words(actions.Rewards(), "menu-rewards", "words-rewards")
        router.command("rewards", actions.Rewards())

    async def rewards(self, turn: Turn, _action: actions.Rewards) -> list[Reply]:
        return [await self.catalogue(turn.member, 1, replaces_origin=False)]

    async def rewards_page(self, turn: Turn, action: actions.RewardsPage) -> list[Reply]:
        return [await self.catalogue(turn.member, action.page)]

    async def reward(self, turn: Turn, action: actions.Reward) -> list[Reply]:
        return [await self._reward(turn.member, action.id)]

    async def confirm(self, turn: Turn, action: actions.RewardClaim) -> list[Reply]:
        return [await self._confirm(turn.member, action.id)]

    async def claim(self, turn: Turn, action: actions.RewardConfirmed) -> list[Reply]:
        return await self._claim(turn.member, action.id, action.nonce)

    async def catalogue(self, member: Profile, page: int, *, replaces_origin: bool = True) -> Reply:
        language = member.language
        points = self._views.texts.points
        items = await self._program.rewards.catalogue()
        if not items:
            return Reply(text=self.t(language, "rewards-empty"))
        pages = math.ceil(len(items) / REWARDS_PER_PAGE)
        page = min(max(1, page), pages)
        shown = items[(page - 1) * REWARDS_PER_PAGE : page * REWARDS_PER_PAGE]
        lines = [self.t(language, "rewards-title", points=points(language, member.balance))]
        lines.extend(
            self.t(
                language,
                "rewards-line",
                name=item.name,
                cost=points(language, item.cost),
                stock=self._stock(language, item),
            )
            for item in shown
        )
        rows: list[tuple[Button, ...]] = [
            (
                button(
                    self.t(
                        language, "rewards-button", name=item.name, cost=points(language, item.cost)
                    ),
                    actions.Reward(item.id),
                ),
            )
            for item in shown
        ]
        navigation = []
        if page > 1:
            navigation.append(
                button(self.t(language, "rewards-previous"), actions.RewardsPage(page - 1))
            )
        if page < pages:
            navigation.append(
                button(self.t(language, "rewards-next"), actions.RewardsPage(page + 1))
            )
        if navigation:
            rows.append(tuple(navigation))
        return Reply(text="\n".join(lines), buttons=tuple(rows), replaces_origin=replaces_origin)

    def _stock(self, language: str, item: RewardItem) -> str:
        if item.stock is None:
            return self.t(language, "reward-stock-unlimited")
        if item.stock == 0:
            return self.t(language, "reward-out-of-stock")
        return self.t(language, "reward-stock", count=item.stock)

    async def _item(self, reward_id: int) -> RewardItem | None:
        try:
            return await self._program.rewards.get(reward_id)
        except RewardNotFound:
            return None

    async def _reward(self, member: Profile, reward_id: int) -> Reply:
        language = member.language
        points = self._views.texts.points
        item = await self._item(reward_id)
        if item is None or not item.active:
            return Reply(text=self.t(language, "reward-gone"))
        lines = [self.t(language, "reward-title", name=item.name)]
        if item.description:
            lines.append(item.description)
        lines.append(
            self.t(
                language,
                "reward-cost",
                cost=points(language, item.cost),
                points=points(language, member.balance),
            )
        )
        lines.append(self._stock(language, item))
        if item.per_member_limit is not None:
            lines.append(self.t(language, "reward-limit", count=item.per_member_limit))
        rows: list[tuple[Button, ...]] = []
        if item.stock != 0:
            label = self.t(language, "reward-claim-button", cost=points(language, item.cost))
            rows.append((button(label, actions.RewardClaim(item.id)),))
        rows.append((button(self.t(language, "reward-back"), actions.Rewards()),))
        image = None
        if item.picture:
            content = await asyncio.to_thread(_read_picture, item.picture)
            if content is not None:
                image = Image(png=content, filename=Path(item.picture).name)
        text = "\n".join(lines)
        if image is not None and len(text) > CAPTION_LIMIT:
            text = shortened(text, CAPTION_LIMIT)
        return Reply(text=text, buttons=tuple(rows), image=image)

    async def _confirm(self, member: Profile, reward_id: int) -> Reply:
        language = member.language
        points = self._views.texts.points
        item = await self._item(reward_id)
        if item is None or not item.active:
            return Reply(text=self.t(language, "reward-gone"))
        if member.balance < item.cost:
            return self._not_enough(language, item, item.cost - member.balance)
        nonce = secrets.token_hex(4)
        return Reply(
            text=self.t(
                language,
                "reward-confirm",
                name=item.name,
                cost=points(language, item.cost),
                points=points(language, member.balance - item.cost),
            ),
            buttons=(
                (
                    button(
                        self.t(language, "reward-confirm-yes"),
                        actions.RewardConfirmed(item.id, nonce),
                    ),
                    button(self.t(language, "reward-confirm-no"), actions.Rewards()),
                ),
            ),
        )

    def _not_enough(self, language: str, item: RewardItem, missing: int) -> Reply:
        points = self._views.texts.points
        return Reply(
            text=self.t(
                language, "reward-not-enough", name=item.name, missing=points(language, missing)
            ),
            buttons=((button(self.t(language, "reward-back"), actions.Rewards()),),),
        )

    async def _claim(self, member: Profile, reward_id: int, nonce: str) -> list[Reply]:
        language = member.language
        item = await self._item(reward_id)
        if item is None or not nonce.isalnum():
            return [Reply(text=self.t(language, "reward-gone"))]
        try:
            claim = await self._program.rewards.claim(
                member.id,
                item.id,
                claim_id=f"chat:{member.id}:{item.id}:{nonce}",
                actor="member",
                # This answer hands the coupon over; a notice would send it a second time.
                notify=False,
            )
        except RewardRefused as refusal:
            if refusal.reason == "not_enough_points":
                return [self._not_enough(language, item, refusal.missing)]
            key = {
                "out_of_stock": "reward-sold-out",
                "limit_reached": "reward-limit-reached",
            }.get(refusal.reason, "reward-gone")
            return [
                Reply(
                    text=self.t(language, key, name=item.name),
                    buttons=((button(self.t(language, "reward-back"), actions.Rewards()),),),
                )
            ]
        rules = await self._program.rules.current(max_age=RULES_SHOWN_MAX_AGE)
        points = self._views.texts.points
        intro = self.t(
            language,
            "reward-claimed",
            name=item.name,
            cost=points(language, claim.points),
            points=points(language, claim.balance),
        )
        return self._coupons.coupon_replies(language, claim.coupon, rules, intro=intro)
