"""The entry: parses the command line through the one command registry (cli/registry.py) and
runs what was asked; `python main.py --help` lists every command.

python main.py [run]                      web server + every configured channel
python main.py chat                       talk to the bot in this terminal
python main.py credit CARD AMOUNT --purchase-id ID      (and redeem, refund, event, ...)
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from app.settings import Settings
from cli import registry
from cli.errors import (
    REFUSALS,
    database_not_set_up,
    database_unreachable,
    report,
    report_not_set_up,
    report_unreachable,
)
from core.shared.redaction import install_log_redaction


def main(argv: list[str] | None = None) -> int:
    arguments = registry.parser().parse_args(argv)
    command = registry.command_of(arguments)
    settings = Settings()
    logging.basicConfig(
        level=logging.INFO if command.logs_progress(settings) else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # What a database error quotes (a member's text, a key's value) never reaches the log.
    install_log_redaction()
    try:
        return asyncio.run(registry.execute(command, settings, arguments))
    except REFUSALS as error:
        return report(error)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`... | head`): what is left unprinted goes nowhere, and the
        # interpreter's own flush at exit must not fail on the closed pipe either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as error:
        if database_unreachable(error):
            return report_unreachable(settings.database_url)
        if database_not_set_up(error):
            return report_not_set_up(settings.database_url)
        raise


if __name__ == "__main__":
    sys.exit(main())
