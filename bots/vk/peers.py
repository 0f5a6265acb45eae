"""One message to many VK members at once: messages.send with `peer_ids` (a broadcast's
group of recipients who get the very same message), answered per member.

One random_id covers the request, from (origin, position) as a single send's: VK drops a
repeated random_id per peer, so a resend reaches nobody twice, whichever peers it names.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import requests
from vk_api.exceptions import ApiError, VkApiError

from bots.base import who
from bots.outbound import BLOCKED, Delivery, Outcome
from bots.vk.inbound import as_int
from bots.vk.render import random_id
from handlers.messages import Reply

log = logging.getLogger("bots.vk")

# 901: the member never allowed (or revoked) messages from the community; 7: permission denied.
CANNOT_MESSAGE_CODES = frozenset({7, 901})
# messages.send takes up to 100 peer_ids a request.
MAX_PEER_IDS = 100

# messages.send's parameters for a reply (its attachments uploaded for the peer given).
ParamsFor = Callable[[int, Reply, int], Awaitable[dict[str, Any]]]
Call = Callable[..., Awaitable[Any]]


class PeerSender:
    def __init__(self, group_id: int, params_for: ParamsFor, call: Call) -> None:
        self._group_id = group_id
        self._params_for = params_for
        self._call = call

    async def send(
        self, external_ids: list[str], replies: list[Reply], *, origin: str
    ) -> dict[str, Delivery]:
        """Each member's delivery: up to MAX_PEER_IDS a request."""
        deliveries: dict[str, Delivery] = {}
        peers: dict[int, str] = {}
        for external_id in external_ids:
            peer_id = as_int(external_id)
            if peer_id is None or peer_id <= 0:
                deliveries[external_id] = Delivery.unreachable(f"not a VK user id: {external_id}")
            else:
                peers[peer_id] = external_id
        ids = list(peers)
        for start in range(0, len(ids), MAX_PEER_IDS):
            chunk = ids[start : start + MAX_PEER_IDS]
            for peer_id, delivery in (await self._send_replies(chunk, replies, origin)).items():
                deliveries[peers[peer_id]] = delivery
        return deliveries

    async def _send_replies(
        self, peer_ids: list[int], replies: list[Reply], origin: str
    ) -> dict[int, Delivery]:
        """Each reply to the peers every earlier reply reached (as a single send stops at the
        first reply that does not go through)."""
        deliveries: dict[int, Delivery] = {}
        pending = list(peer_ids)
        for index, reply in enumerate(replies):
            if not pending:
                break
            params = await self._params_for(
                pending[0], reply, random_id(self._group_id, origin, index)
            )
            params["peer_ids"] = ",".join(map(str, pending))
            answered = await self._send_message(params, pending)
            deliveries.update(
                (peer_id, delivery)
                for peer_id, delivery in answered.items()
                if delivery.outcome is not Outcome.SENT
            )
            pending = [peer_id for peer_id in pending if peer_id not in deliveries]
        deliveries.update((peer_id, Delivery.sent()) for peer_id in pending)
        return deliveries

    async def _send_message(
        self, params: dict[str, Any], peer_ids: list[int]
    ) -> dict[int, Delivery]:
        """One messages.send with peer_ids: VK answers a list of
        {"peer_id", "message_id", "conversation_message_id"} or {"peer_id", "error"}."""
        try:
            answer = await self._call("messages.send", **params)
        except ApiError as error:
            # "Too many requests per second" (6) never gets here: vk-api asks again itself
            # after half a second, as for a single send.
            log.warning("vk: messages.send to %s peers failed: %s", len(peer_ids), error)
            failed = Delivery.failed(f"VK error {error.code}: {error.error.get('error_msg', '')}")
            return dict.fromkeys(peer_ids, failed)
        except (VkApiError, requests.RequestException) as error:
            log.warning("vk: messages.send to %s peers failed: %s", len(peer_ids), error)
            return dict.fromkeys(peer_ids, Delivery.failed(str(error) or type(error).__name__))
        items = answer if isinstance(answer, list) else []
        deliveries = {
            peer_id: peer_delivery(item)
            for item in items
            if isinstance(item, dict) and (peer_id := as_int(item.get("peer_id"))) in peer_ids
        }
        missing = Delivery.failed("VK gave no answer for this peer")
        return {peer_id: deliveries.get(peer_id, missing) for peer_id in peer_ids}


def peer_delivery(item: dict[str, Any]) -> Delivery:
    """One peer's item of a messages.send with peer_ids."""
    error = item.get("error")
    if error is None:
        return Delivery.sent()
    # Documented as {"code", "description"}; seen as a bare message too.
    code = as_int(error.get("code")) if isinstance(error, dict) else None
    text = str(error.get("description", "")) if isinstance(error, dict) else str(error)
    if code in CANNOT_MESSAGE_CODES:
        log.info("vk: %s cannot be messaged (%s)", who("vk", item.get("peer_id")), text)
        return Delivery.unreachable(BLOCKED)
    return Delivery.failed(f"VK error {code}: {text}")
