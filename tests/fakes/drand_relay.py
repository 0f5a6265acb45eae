"""A fake drand relay: `GET /<chain hash>/public/<round>` answered as api.drand.sh answers,
with real rounds of drand's quicknet and mainnet, signed by the League of Entropy (so the
program's check of the BLS signature runs on real data). A round it does not know is a 404,
as a round that is not out yet is on a real relay."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from core.games.contests import draw as drawing
from tests.fakes.server import LocalServer

QUICKNET_ROUND = 657413
QUICKNET_SIGNATURE = (
    "b713718a38ae728dfd477991af2822e08d2f305e47718cef9f7848ce4050e7be"
    "41076862b98fad56e91a6b85b89cd97b"
)
QUICKNET_RANDOMNESS = "fc1873a13f3545aeade8401532ef5519920652eee6b0d2b19ca12643b87b3587"

MAINNET_ROUND = 1337
MAINNET_PREVIOUS_SIGNATURE = (
    "80d95247ddf1bb3acf5738497a5f10406be283144603f63d714bb1a44ff6b932"
    "85ae2697fffeb50c68862bd9fbecd4b204b1798d2686b4ac5d573615031d9d67"
    "e6168bde9a7adf1161430a498ca701a25c216aee3e38ffd5290369034fa050a2"
)
MAINNET_SIGNATURE = (
    "945b08dcb30e24da281ccf14a646f0630ceec515af5c5895e18cc1b19edd65d1"
    "56b71c776a369af3487f1bc6af1062500b059e01095cc0eedce91713977d7735"
    "cac675554edfa0d0481bb991ed93d333d08286192c05bf6b65d20f23a37fc7bb"
)
MAINNET_RANDOMNESS = "2660664f8d4bc401194d80d81da20a1e79480f65b8e2d205aecbd143b5bfb0d3"

REAL_ROUNDS: dict[tuple[str, int], dict[str, Any]] = {
    ("quicknet", QUICKNET_ROUND): {
        "round": QUICKNET_ROUND,
        "randomness": QUICKNET_RANDOMNESS,
        "signature": QUICKNET_SIGNATURE,
    },
    ("mainnet", MAINNET_ROUND): {
        "round": MAINNET_ROUND,
        "randomness": MAINNET_RANDOMNESS,
        "signature": MAINNET_SIGNATURE,
        "previous_signature": MAINNET_PREVIOUS_SIGNATURE,
    },
}


def emitted_at(chain: str, round_number: int) -> datetime:
    """When the round came out (a giveaway drawn at that time commits to it)."""
    return datetime.fromtimestamp(drawing.drand_round_time(chain, round_number), UTC)


class FakeDrandRelay(LocalServer):
    def __init__(self) -> None:
        super().__init__()
        self.rounds = {
            (str(drawing.DRAND_CHAINS[chain]["hash"]), number): dict(answer)
            for (chain, number), answer in REAL_ROUNDS.items()
        }
        self.asked: list[str] = []

    def serve(self, chain: str, round_number: int, answer: dict[str, Any]) -> None:
        """Answer `answer` for the round (a forged or garbled one)."""
        self.rounds[(str(drawing.DRAND_CHAINS[chain]["hash"]), round_number)] = answer

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/{chain}/public/{round}", self.public)

    async def public(self, request: web.Request) -> web.Response:
        self.asked.append(request.path)
        try:
            key = (request.match_info["chain"], int(request.match_info["round"]))
        except ValueError:
            return web.Response(status=400)
        if key not in self.rounds:
            return web.Response(status=404)
        return web.json_response(self.rounds[key])
