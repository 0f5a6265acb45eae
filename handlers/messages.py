"""What a member sends and what the bot answers, with no messenger's types in them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class Contact:
    phone: str
    # The adapter knows whether the shared contact is the sender's own (Telegram's user_id).
    is_own: bool


@dataclass(frozen=True)
class Incoming:
    channel: str
    user_id: str
    text: str = ""
    # The action of a button the member pressed, when the channel reports it as such.
    action: str | None = None
    contact: Contact | None = None
    display_name: str | None = None
    language_code: str | None = None
    # A phone number the channel itself vouches for (WhatsApp sends it with every message).
    verified_phone: str | None = None
    # A photo the member sent, as the channel can find it again ("telegram:<file_id>", a
    # WhatsApp media URL); its caption, if any, is the text.
    photo: str | None = None
    # The platform says the sender is a bot (Telegram's `is_bot`): never a contest entrant.
    is_bot: bool = False


@dataclass(frozen=True)
class Button:
    label: str
    action: str
    request_contact: bool = False


class Layout(StrEnum):
    # Buttons under this one message.
    INLINE = "inline"
    # A keyboard that stays under the input field (the main menu).
    MENU = "menu"


@dataclass(frozen=True)
class Image:
    # The image's bytes (a PNG, or what `content_type` says).
    png: bytes
    filename: str
    # The member's own card: a channel may serve it by member (WhatsApp's card link), so an
    # old link stops working when the card changes.
    is_card: bool = False
    content_type: str = "image/png"
    # A broadcast's image as the database keeps it: a channel that sends media by link
    # (WhatsApp) links the web app's copy, one that can (Telegram) reuses its first upload.
    stored: StoredImage | None = None


@dataclass(frozen=True)
class StoredImage:
    broadcast_id: int
    # The content's SHA-256 (hex): the same digest, the same bytes.
    digest: str
    extension: str = "png"


@dataclass(frozen=True)
class Document:
    content: bytes
    filename: str
    mime_type: str = "application/json"


@dataclass(frozen=True)
class Reply:
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    layout: Layout = Layout.INLINE
    image: Image | None = None
    document: Document | None = None
    # Replace the message whose button was pressed, where the channel can (pagination).
    replaces_origin: bool = False
    # Take a persistent keyboard away (e.g. the contact button after it was used).
    remove_menu: bool = False

    @property
    def actions(self) -> list[str]:
        return [button.action for row in self.buttons for button in row]
