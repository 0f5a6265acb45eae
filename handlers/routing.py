"""Actions and their routes: what a button (or a typed word) asks for, and who answers it.

An action is a frozen dataclass with a short stable `prefix` and typed fields. On the wire it
is `prefix[:field[:field...]]`, at most 64 bytes of UTF-8 (Telegram's callback data limit).
These are exactly the strings the buttons carried before actions were typed, so keyboards that
members still have in their chats keep working.

Decoding is an exact match on the prefix, never a `startswith` test whose outcome depends on
the order of the tests: "reward:claim:7" is a `reward:claim` with id 7 whatever was registered
first, because a `reward` takes one number and "claim" is none. The codec refuses, when a kind
is registered, any prefix that could swallow another's (see `ActionCodec.register`).
"""

from __future__ import annotations

import dataclasses
import logging
import typing
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

from core.members.accounts import Profile
from handlers.messages import Incoming, Reply

log = logging.getLogger(__name__)

# Telegram's limit on a button's callback data, in bytes.
MAX_ACTION_BYTES = 64
SEPARATOR = ":"
# The largest id a database column holds (BIGINT): a bigger "id" is garbage, not a lookup.
MAX_INT = 2**63 - 1


class ActionTooLong(ValueError):
    """An action whose encoding would not fit in a button."""


class UnreadableAction(ValueError):
    """An action whose encoding would decode as something else (a separator inside a field
    that is not the last one)."""


class RouteConflict(ValueError):
    """Two kinds claim the same prefix, one could swallow another's, or a kind is routed twice."""


@dataclass(frozen=True)
class Action:
    """A typed payload. Subclasses declare `prefix=` and fields of type `int` or `str`.

    A `str` field may not contain the separator, except the last one, which takes the rest
    (an account id, a nonce)."""

    prefix: ClassVar[str] = ""

    def __init_subclass__(cls, *, prefix: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if prefix:
            cls.prefix = prefix

    @classmethod
    def field_types(cls) -> tuple[tuple[str, type], ...]:
        hints = typing.get_type_hints(cls)
        return tuple((field.name, hints[field.name]) for field in dataclasses.fields(cls))

    def encode(self) -> str:
        fields = self.field_types()
        values = [str(getattr(self, name)) for name, _type in fields]
        for (name, _type), value in zip(fields[:-1], values[:-1], strict=True):
            if SEPARATOR in value:
                raise UnreadableAction(
                    f"{type(self).__name__}.{name} cannot contain {SEPARATOR!r} "
                    f"(only the last field takes the rest): {value!r}"
                )
        encoded = SEPARATOR.join([self.prefix, *values])
        if len(encoded.encode()) > MAX_ACTION_BYTES:
            raise ActionTooLong(encoded)
        return encoded

    def fits(self) -> bool:
        try:
            self.encode()
        except ActionTooLong:
            return False
        return True

    @classmethod
    def parse(cls, segments: list[str]) -> Action | None:
        """This kind from the segments after its prefix, or None if they do not fit its fields
        (and the kind has no `fallback` for them)."""
        action = cls._read(segments)
        return action if action is not None else cls.fallback(segments)

    def valid(self) -> bool:
        """Whether the fields, once typed, are ones we could have sent (a kind narrows this,
        e.g. a nonce's length); an invalid action decodes to nothing."""
        return True

    @classmethod
    def fallback(cls, segments: list[str]) -> Action | None:
        """What this prefix means when its fields cannot be read, for a kind whose old buttons
        meant something even then; by default nothing (a garbled payload is no action)."""
        return None

    @classmethod
    def _read(cls, segments: list[str]) -> Action | None:
        fields = cls.field_types()
        if len(segments) < len(fields) or (len(segments) > len(fields) and not _takes_rest(fields)):
            return None
        if fields and _takes_rest(fields):
            segments = [*segments[: len(fields) - 1], SEPARATOR.join(segments[len(fields) - 1 :])]
        values: dict[str, object] = {}
        for (name, kind), segment in zip(fields, segments, strict=True):
            if kind is int:
                # ASCII digits only: "²" or "۳" are digits to str.isdigit, not to a button.
                if not (segment.isascii() and segment.isdigit()) or int(segment) > MAX_INT:
                    return None
                values[name] = int(segment)
            elif not segment:
                return None
            else:
                values[name] = segment
        action = cls(**values)
        return action if action.valid() else None


def _takes_rest(fields: tuple[tuple[str, type], ...]) -> bool:
    return bool(fields) and fields[-1][1] is str


class ActionCodec:
    """The kinds of action this conversation understands, by prefix."""

    def __init__(self) -> None:
        self._kinds: dict[str, type[Action]] = {}

    @property
    def kinds(self) -> tuple[type[Action], ...]:
        return tuple(self._kinds.values())

    def register(self, kind: type[Action]) -> None:
        if not kind.prefix or len(kind.prefix.encode()) >= MAX_ACTION_BYTES:
            raise RouteConflict(f"{kind.__name__} needs a short prefix")
        known = self._kinds.get(kind.prefix)
        if known is kind:
            return
        if known is not None:
            raise RouteConflict(
                f"{kind.__name__} and {known.__name__} both claim the prefix {kind.prefix!r}"
            )
        for other in self._kinds.values():
            shorter, longer = sorted((kind, other), key=lambda k: len(k.prefix))
            if longer.prefix.startswith(shorter.prefix + SEPARATOR) and _can_swallow(shorter):
                raise RouteConflict(
                    f"{shorter.__name__} ({shorter.prefix!r}) could swallow "
                    f"{longer.__name__} ({longer.prefix!r})"
                )
        self._kinds[kind.prefix] = kind

    def decode(self, payload: str) -> Action | None:
        """The action a payload names, or None for a foreign, garbled or ambiguous one."""
        if len(payload.encode(errors="replace")) > MAX_ACTION_BYTES:
            return None  # longer than anything we send: forged
        segments = payload.split(SEPARATOR)
        found = []
        for cut in range(1, len(segments) + 1):
            kind = self._kinds.get(SEPARATOR.join(segments[:cut]))
            if kind is not None:
                action = kind.parse(segments[cut:])
                if action is not None:
                    found.append(action)
        if len(found) != 1:
            if found:
                # Registration rules this out; should it ever happen, no guessing.
                log.error("ambiguous action %r: %r", payload, found)
            return None
        return found[0]

    def claims(self, payload: str) -> bool:
        """Whether a payload starts with one of our prefixes: a button of ours, perhaps stale or
        forged, rather than another bot's or noise."""
        segments = payload.split(SEPARATOR)
        return any(
            SEPARATOR.join(segments[:cut]) in self._kinds for cut in range(1, len(segments) + 1)
        )


def _can_swallow(kind: type[Action]) -> bool:
    """Whether a longer prefix's next word could be read as this kind's first field."""
    fields = kind.field_types()
    # A kind with a fallback reads any word: "history:x" is history's first page.
    return (bool(fields) and fields[0][1] is not int) or kind.fallback(["word"]) is not None


@dataclass(frozen=True)
class Turn:
    """One message of a member who has joined, as a route sees it."""

    message: Incoming
    member: Profile


@dataclass(frozen=True)
class Words:
    action: Action
    text_keys: tuple[str, ...]
    only: str | None = None


A = TypeVar("A", bound=Action)
Handler = Callable[[Turn, A], Awaitable[list[Reply]]]


class Router:
    """Action kind -> the handler that answers it; typed words and commands -> actions.

    Each feature registers its own routes (see handlers/menus/); the conversation asks the
    router and knows no feature."""

    def __init__(self) -> None:
        self.codec = ActionCodec()
        self._routes: dict[type[Action], Handler[Any]] = {}
        self._words: list[Words] = []
        self._commands: dict[str, Action] = {}
        self._argument_commands: dict[str, Callable[[str], Action]] = {}

    def route(self, kind: type[A], handler: Handler[A]) -> None:
        if kind in self._routes:
            raise RouteConflict(f"{kind.__name__} is routed twice")
        self.codec.register(kind)
        self._routes[kind] = handler

    def accept(self, *kinds: type[Action]) -> None:
        """Kinds that are understood but have no member route (the answers of a flow)."""
        for kind in kinds:
            self.codec.register(kind)

    def words(self, action: Action, *text_keys: str, only: str | None = None) -> None:
        """Texts (button labels, typed words) that mean this action: in every language, or
        `only` in one. A `words-` text is a comma-separated list of words."""
        self.codec.register(type(action))
        self._words.append(Words(action, text_keys, only))

    def command(self, name: str, action: Action) -> None:
        if name in self._commands:
            raise RouteConflict(f"/{name} is registered twice")
        self.codec.register(type(action))
        self._commands[name] = action

    def command_with_argument(
        self, name: str, kind: type[Action], bare: Action, with_argument: Callable[[str], Action]
    ) -> None:
        """`/name` alone means `bare`; `/name text` means `with_argument(text)` (a kind
        only ever typed, never a button: its field is what the member wrote)."""
        self.command(name, bare)
        self.codec.register(kind)
        self._argument_commands[name] = with_argument

    @property
    def vocabulary(self) -> Iterable[Words]:
        return iter(self._words)

    def for_command(self, name: str, argument: str = "") -> Action | None:
        if argument and name in self._argument_commands:
            return self._argument_commands[name](argument)
        return self._commands.get(name)

    def handler(self, action: Action) -> Handler[Any] | None:
        return self._routes.get(type(action))

    def decode(self, payload: str) -> Action | None:
        return self.codec.decode(payload)

    def stale(self, payload: str) -> bool:
        """A button payload of ours that no longer decodes (stale or forged)."""
        return self.codec.decode(payload) is None and self.codec.claims(payload)


class Feature(Protocol):
    """A part of the conversation that registers its own routes, words and commands."""

    def register(self, router: Router) -> None: ...
