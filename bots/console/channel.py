"""The console channel: a member's conversation in a terminal, buttons as numbered choices."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from bots.console.transport import ReadLine
from bots.outbound import NOT_CONNECTED, Delivery
from core.db.failures import is_infrastructure_failure
from handlers.conversation import Conversation
from handlers.messages import Button, Incoming, Reply

CHANNEL = "console"


class ConsoleChannel:
    name = CHANNEL

    def __init__(
        self,
        conversation: Conversation,
        *,
        user_id: str,
        language_code: str | None,
        display_name: str | None,
        read_line: ReadLine,
        output: TextIO,
        images_dir: Path,
    ) -> None:
        self._conversation = conversation
        self._user_id = user_id
        self._language_code = language_code
        self._display_name = display_name
        self._read_line = read_line
        self._output = output
        self._images_dir = images_dir
        self._choices: list[Button] = []

    @property
    def _language(self) -> str:
        return self._conversation.texts.resolve(self._language_code)

    async def run(self) -> None:
        texts = self._conversation.texts
        self._print(texts.text(self._language, "console-intro"))
        await self._send(self._message(text="/start"))
        while True:
            line = await self._read_line()
            if not line:
                return
            line = line.strip()
            if not line:
                continue
            if line.lower() in ("/quit", "/exit"):
                return
            message = self._incoming(line)
            if message is None:
                # A terminal cannot vouch for a phone number: the member types it instead.
                self._print(self._conversation.texts.text(self._language, "console-type-phone"))
                continue
            await self._send(message)

    def _incoming(self, line: str) -> Incoming | None:
        if line.isdigit() and 1 <= int(line) <= len(self._choices):
            button = self._choices[int(line) - 1]
            if button.request_contact:
                return None
            return self._message(action=button.action)
        return self._message(text=line)

    def _message(self, *, text: str = "", action: str | None = None) -> Incoming:
        return Incoming(
            CHANNEL,
            self._user_id,
            text=text,
            action=action,
            display_name=self._display_name,
            language_code=self._language_code,
        )

    async def _send(self, message: Incoming) -> None:
        try:
            replies = await self._conversation.handle(message)
        except Exception as error:
            if not is_infrastructure_failure(error):
                raise
            # No platform redelivers a terminal's line: the member is told, and types it again
            # once the database or Redis is back.
            self._print(self._conversation.texts.text(self._language, "console-unavailable"))
            return
        for reply in replies:
            self._render(reply)

    async def send_outbound(
        self, external_id: str, replies: list[Reply], *, key: str, wait_rate_limit: bool = True
    ) -> Delivery:
        """Print a notice in this terminal, between the member's own turns; only the member at
        this terminal can read it, so one for another console user is not delivered."""
        if external_id != self._user_id:
            return Delivery.unreachable(NOT_CONNECTED)
        for reply in replies:
            self._render(reply)
        return Delivery.sent()

    def _render(self, reply: Reply) -> None:
        texts = self._conversation.texts
        self._print("")
        self._print(reply.text)
        attachment: tuple[str, bytes] | None = None
        if reply.image is not None:
            attachment = (reply.image.filename, reply.image.png)
        elif reply.document is not None:
            attachment = (reply.document.filename, reply.document.content)
        if attachment is not None:
            self._images_dir.mkdir(parents=True, exist_ok=True)
            path = self._images_dir / attachment[0]
            path.write_bytes(attachment[1])
            self._print(texts.text(self._language, "console-image-saved", path=str(path)))
        buttons = [button for row in reply.buttons for button in row]
        if buttons:
            self._choices = buttons
            for number, button in enumerate(buttons, start=1):
                self._print(f"  {number}) {button.label}")
        self._output.flush()

    def _print(self, text: str) -> None:
        self._output.write(text + "\n")
