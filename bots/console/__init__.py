"""The console channel: a member's conversation in a terminal (`main.py chat`, or `run` with no
messenger configured). No SDK, so it is imported directly."""

from bots.console.channel import ConsoleChannel
from bots.console.transport import ReadLine, stdin_reader

__all__ = ["ConsoleChannel", "ReadLine", "stdin_reader"]
