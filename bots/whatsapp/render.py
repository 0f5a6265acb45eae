"""What a WhatsApp member sees: bodies within Twilio's length, buttons as numbered choices."""

from __future__ import annotations

from dataclasses import dataclass

from handlers.messages import Reply

# Twilio refuses longer bodies (error 21617); WhatsApp itself would take 4096.
MAX_BODY_LENGTH = 1600


@dataclass(frozen=True)
class Rendered:
    body: str
    media_url: str | None


def body_length(text: str) -> int:
    # Twilio counts UTF-16 code units: an emoji takes two of the 1600.
    return len(text.encode("utf-16-le")) // 2


def split_body(text: str, limit: int = MAX_BODY_LENGTH) -> list[str]:
    """Cut a long text into bodies Twilio accepts, at line breaks where possible, else spaces."""
    if body_length(text) <= limit:
        return [text]
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if body_length(candidate) <= limit:
            current = candidate
            continue
        if current:
            chunks.append(current)
        current = line
        while body_length(current) > limit:
            cut = _cut_point(current, limit)
            chunks.append(current[:cut].rstrip())
            current = current[cut:].lstrip()
    if current.strip():
        chunks.append(current)
    return [chunk for chunk in chunks if chunk.strip()]


def _cut_point(line: str, limit: int) -> int:
    """The longest prefix within `limit`, shortened to the last space if one is not too far."""
    used = 0
    end = 0
    for index, char in enumerate(line):
        used += body_length(char)
        if used > limit:
            break
        end = index + 1
    space = line.rfind(" ", 0, end)
    return space if space > end // 2 else end


def number_choices(reply: Reply, choices: list[str]) -> list[str]:
    """The reply's buttons as "N. label" lines, numbered on from `choices` (which gets their
    actions), so two replies of one batch never share a number."""
    lines = []
    for row in reply.buttons:
        for button in row:
            if button.request_contact:
                continue  # WhatsApp already gave us the number
            choices.append(button.action)
            lines.append(f"{len(choices)}. {button.label}")
    return lines


def bodies(text: str, choice_lines: list[str], media_url: str | None) -> list[Rendered]:
    """One reply's messages: the media goes with the first body."""
    if choice_lines:
        text += "\n\n" + "\n".join(choice_lines)
    parts = split_body(text)
    return [Rendered(parts[0], media_url), *(Rendered(part, None) for part in parts[1:])]
