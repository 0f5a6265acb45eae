"""VK keyboards from the handlers' neutral buttons, within VK's limits, and the random_id that
lets VK drop a send it already has."""

from __future__ import annotations

import hashlib
import logging

from vk_api.keyboard import VkKeyboard

from handlers.messages import Button, Layout, Reply

MAX_BUTTONS_PER_ROW = 5
MAX_ROWS = {Layout.MENU: 10, Layout.INLINE: 6}
MAX_BUTTONS = {Layout.MENU: 40, Layout.INLINE: 10}
MAX_LABEL_LENGTH = 40

log = logging.getLogger("bots.vk")


def random_id(group_id: int, event_id: str, index: int) -> int:
    """The same (event, reply) always gives the same random_id, so VK drops a retried send."""
    digest = hashlib.sha256(f"{group_id}:{event_id}:{index}".encode()).digest()
    # A positive int32; 0 would switch VK's de-duplication off.
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF or 1


def keyboard_for(reply: Reply) -> str | None:
    """VK keyboard JSON for a reply, within VK's limits; None when the reply has no buttons."""
    if not reply.buttons:
        return VkKeyboard.get_empty_keyboard() if reply.remove_menu else None
    layout = reply.layout
    rows = [
        row[start : start + MAX_BUTTONS_PER_ROW]
        for row in reply.buttons
        for start in range(0, len(row), MAX_BUTTONS_PER_ROW)
    ]
    # Buttons under a message that VK's inline limits cannot hold (the 0-10 answers of a
    # feedback question are 11) go as a one-time keyboard below the input field instead,
    # which holds them all; a tap sends the label with the button's payload.
    one_time = (
        layout is Layout.INLINE and not _fits(rows, Layout.INLINE) and _fits(rows, Layout.MENU)
    )
    if one_time:
        layout = Layout.MENU
    kept: list[tuple[Button, ...]] = []
    buttons = 0
    for row in rows[: MAX_ROWS[layout]]:
        row = row[: MAX_BUTTONS[layout] - buttons]
        if not row:
            break
        kept.append(row)
        buttons += len(row)
    dropped = sum(len(row) for row in rows) - buttons
    if dropped:
        log.warning("vk: %s buttons did not fit a %s keyboard", dropped, layout)
    keyboard = VkKeyboard(one_time=one_time, inline=layout is Layout.INLINE)
    for number, row in enumerate(kept):
        if number:
            keyboard.add_line()
        for button in row:
            label = _label(button.label)
            payload = {"action": button.action}
            if layout is Layout.INLINE:
                # Callback buttons: the press arrives as message_event, nothing is typed.
                keyboard.add_callback_button(label, payload=payload)
            else:
                # VK cannot share a phone number: `request_contact` becomes a text button and
                # the conversation then asks the member to type the number.
                keyboard.add_button(label, payload=payload)
    built: str = keyboard.get_keyboard()
    return built


def _fits(rows: list[tuple[Button, ...]], layout: Layout) -> bool:
    return len(rows) <= MAX_ROWS[layout] and sum(len(row) for row in rows) <= MAX_BUTTONS[layout]


def _label(text: str) -> str:
    return text if len(text) <= MAX_LABEL_LENGTH else text[: MAX_LABEL_LENGTH - 1] + "…"
