"""A broadcast's button, tapped: the member lands where the button says (their coupons, a
quest, a reward), exactly as if they had asked for it, and the tap counts for the broadcast
and its variant (core.broadcasts.attribution: once per member, only a recipient's, never on
a cancelled broadcast; the target opens either way)."""

from __future__ import annotations

import logging

from core.broadcasts.attribution import Attribution
from core.program import LoyaltyProgram
from handlers import actions
from handlers.menus.main import MainMenu
from handlers.messages import Reply
from handlers.routing import Router, Turn

log = logging.getLogger(__name__)


class BroadcastButtons:
    def __init__(self, program: LoyaltyProgram, main: MainMenu) -> None:
        self._attribution = Attribution(program.db, program.clock)
        self._main = main
        self._router: Router | None = None

    def register(self, router: Router) -> None:
        self._router = router
        router.route(actions.BroadcastTap, self.tap)

    async def tap(self, turn: Turn, action: actions.BroadcastTap) -> list[Reply]:
        assert self._router is not None
        target = self._router.decode(action.target)
        handler = self._router.handler(target) if target is not None else None
        if target is None or isinstance(target, actions.BroadcastTap) or handler is None:
            return self._main.unknown(turn)
        counted = await self._attribution.record_tap(
            action.broadcast, turn.member.id, action.variant
        )
        log.info(
            "broadcast %s variant %s: a button was tapped (%s)",
            action.broadcast,
            action.variant,
            "counted" if counted else "not counted",
        )
        return list(await handler(turn, target))
