"""A broadcast's button, tapped: the member lands where the button says (their coupons, a
quest, a reward), exactly as if they had asked for it."""

from __future__ import annotations

import logging

from handlers import actions
from handlers.menus.main import MainMenu
from handlers.messages import Reply
from handlers.routing import Router, Turn

log = logging.getLogger(__name__)


class BroadcastButtons:
    def __init__(self, main: MainMenu) -> None:
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
        log.info("broadcast %s variant %s: a button was tapped", action.broadcast, action.variant)
        return list(await handler(turn, target))
