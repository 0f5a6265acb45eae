"""Telegram keyboards from the handlers' neutral buttons."""

from __future__ import annotations

from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from handlers.messages import Layout, Reply

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None


def markup(reply: Reply) -> Markup:
    if reply.remove_menu and not reply.buttons:
        return ReplyKeyboardRemove()
    if not reply.buttons:
        return None
    if reply.layout is Layout.MENU:
        return ReplyKeyboardMarkup(
            keyboard=[
                [
                    KeyboardButton(
                        text=button.label, request_contact=button.request_contact or None
                    )
                    for button in row
                ]
                for row in reply.buttons
            ],
            resize_keyboard=True,
            is_persistent=True,
        )
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=button.label, callback_data=button.action) for button in row]
            for row in reply.buttons
        ]
    )
