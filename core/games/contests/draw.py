"""A giveaway draw anyone can check: the whole procedure, in the Python standard library only
(but for the beacon's signature, see below).

This file is meant to be read by a member who wants to check a draw, and it runs on its own
(`python draw.py draw.json`), with nothing but Python 3.11. The shop's program uses the very
same functions to draw, so what you read here is what picked the winners.

Commit-reveal, in four steps
    1. When the giveaway is created, the shop draws a secret 32-byte `seed` and publishes
       `seed_sha256 = sha256(seed)` (the commitment), together with a public randomness round
       that does not exist yet: the first drand round emitted at or after the draw time
       (`beacon_round`, see `drand_round`). Neither the shop nor anyone else knows that
       round's value before it is emitted.
    2. At the close, the entry list is frozen: one line per entry, a pseudonym and a number
       of tickets. Its canonical JSON (see `canonical_entries`) is published with its
       `sha256` (`entries_sha256`). The close happens before the beacon round exists.
    3. At the draw, the beacon round's value (`beacon`, hex: drand's `randomness`) is taken
       and the seed is revealed. The shop can no longer choose the seed (it is committed),
       nor the entries (they are frozen and hashed), and it could not know the beacon when
       it committed to both.
    4. The order of the draw is a deterministic function of (seed, beacon, entries_sha256,
       entries), below. Anyone can recompute it from the transcript.

The draw order (version "loyalty-draw/1")
    key   = HMAC-SHA256(key = seed bytes,
                        message = "loyalty-draw/1|" + beacon hex + "|" + entries_sha256 hex)
            (hex strings in lower case, ASCII)
    Pick number k = 0, 1, 2 ... takes one entry from those not picked yet, weighted by
    tickets:
        T = the total tickets of the entries not picked yet
        for attempt j = 0, 1, 2 ...:
            R = HMAC-SHA256(key, "pick:" + k + ":" + j) read as a 256-bit big-endian integer
            if R < 2**256 - (2**256 mod T): stop (else the next attempt: no modulo bias)
        r = R mod T
        walk the entries not picked yet in the canonical order (by pseudonym), subtracting
        each one's tickets from r; the entry at which r < its tickets is picked.
    Picking stops once `winners + reserves` picks that are not excluded are made, or no
    entry is left.

Exclusions
    Entries that are not eligible at the draw (an erased member, one not in good standing,
    a second card of a member whose cards were merged after the close, an account the shop
    excludes) are listed in the transcript with a reason. They stay in the frozen list (so
    its hash still verifies) and are drawn like any other, but a pick that is excluded is
    passed over. An exclusion therefore can only remove that entry: it never changes who
    else is drawn, nor in which order. The first `winners` picks not excluded win; the next
    `reserves` are the reserves, in order.

The beacon and its signature
    drand's `randomness` of a round is sha256 of the round's `signature`, a BLS signature made
    jointly by the League of Entropy (a threshold of independent organisations; no one of
    them, and not the shop, can make it alone) with the chain's public key, pinned below in
    `DRAND_CHAINS`. The transcript publishes the signature (`reveal.beacon_signature`, and for
    `mainnet`, a chained scheme, the previous round's, `reveal.beacon_previous_signature`),
    and the check is done here, offline: beacon = sha256(signature), and the signature
    verifies under the League's key for exactly `beacon_round` (see `beacon_message` and
    `signature_valid`). So the shop could not have put a value of its choosing in place of
    the round's.
    That one check needs elliptic-curve pairings, which Python's standard library has not:
    it uses the py_ecc package (pure Python, `pip install py_ecc`), imported only inside
    `signature_valid`. Without it, everything else is checked and a note says how to check
    the beacon: install py_ecc and run again, or open `beacon_url` (any drand relay gives the
    same value) and compare its randomness.
    A beacon the operator typed in by hand (`contest-draw --beacon HEX`, on a machine that
    reached no relay) comes with no signature: the transcript says so, and the note gives
    the URL to compare with.

Leaderboard contests (version "loyalty-standings/1")
    The top N of a period win: there is nothing to draw, so there is no seed and no beacon.
    Randomness would only add a way to change the result; what must be verifiable is that
    the winners are the top of the standings the shop froze, and that nobody was skipped but
    for a published reason. At the close the final standings are frozen: one line per member
    with a score, `{"pseudonym", "score", "reached_at"}` (`reached_at`: when the member
    reached that score, UTC, ISO 8601 to the millisecond). Their canonical JSON (see
    `canonical_standings`: in the standings' order, keys sorted, no spaces, ASCII) is
    published with its sha256. The standings' order is: score descending, then `reached_at`
    ascending (who reached the score first is ahead), then pseudonym ascending. The
    winners are the first `winners` lines of that order that are not excluded, the reserves
    the next `reserves` ones. The same exclusions as a giveaway's apply (listed with a
    reason); an exclusion only removes its line, everyone below moves up one.
    The shop could still have scored a member wrongly before the close (a purchase is not
    public); what is checked is everything after: the frozen standings, their hash and
    the choice of winners from them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

FORMAT = "loyalty-draw/1"
STANDINGS_FORMAT = "loyalty-standings/1"
SEED_BYTES = 32

# drand's public chains (https://drand.love): a chain emits round r at
# genesis + (r - 1) * period seconds (UTC). Each round is signed with the chain's public key
# (as <relay>/<hash>/info gives it), by the scheme named:
#   bls-unchained-g1-rfc9380: the key on G2 (96 bytes), the signature on G1 (48 bytes), the
#     message sha256(round), hashed to G1 as RFC 9380 says (QUICKNET_DST);
#   pedersen-bls-chained: the key on G1 (48 bytes), the signature on G2 (96 bytes), the
#     message sha256(previous round's signature + round), hashed to G2 (the IETF BLS basic
#     scheme's DST).
# (round as 8 bytes, big-endian)
DRAND_CHAINS: dict[str, dict[str, Any]] = {
    "quicknet": {
        "hash": "52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971",
        "genesis": 1692803367,
        "period": 3,
        "scheme": "bls-unchained-g1-rfc9380",
        "public_key": (
            "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c"
            "8c4b450b6a0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb"
            "5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a"
        ),
    },
    "mainnet": {
        "hash": "8990e7a9aaed2ffed73dbd7092123d6f289930540d7651336225dc172e51b2ce",
        "genesis": 1595431050,
        "period": 30,
        "scheme": "pedersen-bls-chained",
        "public_key": (
            "868f005eb8e6e4ca0a47c8a77ceaa5309a47978a7c71bc5cce96366b"
            "5d7a569937c529eeda66c7293784a9402801af31"
        ),
    },
}
UNCHAINED_G1 = "bls-unchained-g1-rfc9380"
CHAINED = "pedersen-bls-chained"
SIGNATURE_BYTES = {UNCHAINED_G1: 48, CHAINED: 96}
QUICKNET_DST = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_"
DRAND_RELAY = "https://api.drand.sh"


@dataclass(frozen=True)
class Entry:
    pseudonym: str
    tickets: int


def drand_round(chain: str, at: datetime) -> int:
    """The first round of `chain` emitted at or after `at`."""
    spec = DRAND_CHAINS[chain]
    elapsed: float = at.timestamp() - float(spec["genesis"])
    if elapsed <= 0:
        return 1
    period: int = spec["period"]
    return math.ceil(elapsed / period) + 1


def drand_round_time(chain: str, round_number: int) -> float:
    """When `round_number` of `chain` is emitted (a POSIX timestamp)."""
    spec = DRAND_CHAINS[chain]
    return float(spec["genesis"] + (round_number - 1) * spec["period"])


def beacon_url(chain: str, round_number: int, relay: str = DRAND_RELAY) -> str:
    return f"{relay.rstrip('/')}/{DRAND_CHAINS[chain]['hash']}/public/{round_number}"


def beacon_message(chain: str, round_number: int, previous_signature_hex: str = "") -> bytes:
    """What the League of Entropy signs for `round_number` of `chain`: sha256 of the round
    (8 bytes, big-endian), after the previous round's signature on a chained chain."""
    chained = DRAND_CHAINS[chain]["scheme"] == CHAINED
    previous = bytes.fromhex(previous_signature_hex) if chained else b""
    return hashlib.sha256(previous + round_number.to_bytes(8, "big")).digest()


def beacon_mismatch(
    chain: str, beacon_hex: str, signature_hex: str, previous_signature_hex: str | None = None
) -> str | None:
    """What is wrong with a round's published values that Python alone can tell: the form of
    the signature (and of the previous one on a chained chain), and beacon = sha256(signature).
    None if nothing is; `signature_valid` checks the rest."""
    spec = DRAND_CHAINS.get(chain)
    if spec is None:
        return f"unknown drand chain {chain!r}"
    size = SIGNATURE_BYTES[spec["scheme"]]
    try:
        signature = bytes.fromhex(signature_hex)
        previous = bytes.fromhex(previous_signature_hex or "")
    except ValueError:
        return "the signature is not hex"
    if len(signature) != size:
        return f"the signature is {len(signature)} bytes long, a {chain} signature {size}"
    if spec["scheme"] == CHAINED and not previous:
        return f"a {chain} round is signed after the previous round's signature, which is missing"
    randomness = hashlib.sha256(signature).hexdigest()
    if randomness != beacon_hex.lower():
        return f"the beacon is not sha256(signature) = {randomness}"
    return None


def signature_valid(
    chain: str, round_number: int, signature_hex: str, previous_signature_hex: str = ""
) -> bool:
    """Whether `signature` is the League of Entropy's BLS signature of `round_number` of
    `chain`, under the public key pinned in DRAND_CHAINS (under a second of pure Python).
    Needs py_ecc (`pip install py_ecc`): imported here, so that nothing else in this file
    does; ImportError without it."""
    # py_ecc raises the whole process's recursion limit to 100,000 when imported: any parser
    # of the process would then recurse into a deeply nested body until the C stack
    # overflows (a segfault, not a RecursionError). The pairings here need no more than the
    # default, so the limit is put back.
    limit = sys.getrecursionlimit()
    try:
        from py_ecc.bls.ciphersuites import G2Basic
        from py_ecc.bls.g2_primitives import subgroup_check
        from py_ecc.bls.hash_to_curve import hash_to_G1
        from py_ecc.bls.point_compression import decompress_G1, decompress_G2
        from py_ecc.bls.typing import G1Compressed, G2Compressed
        from py_ecc.fields import optimized_bls12_381_FQ12 as FQ12
        from py_ecc.optimized_bls12_381.optimized_curve import G2, is_inf, neg
        from py_ecc.optimized_bls12_381.optimized_pairing import final_exponentiate, miller_loop
    finally:
        sys.setrecursionlimit(limit)

    spec = DRAND_CHAINS[chain]
    key = bytes.fromhex(spec["public_key"])
    try:
        signature = bytes.fromhex(signature_hex)
        message = beacon_message(chain, round_number, previous_signature_hex)
    except ValueError:
        return False
    if len(signature) != SIGNATURE_BYTES[spec["scheme"]]:
        return False
    if spec["scheme"] == CHAINED:
        # The key on G1, the signature on G2: the IETF draft's basic scheme, which py_ecc has
        # (it checks that both points are on the curve and in their subgroups).
        return bool(G2Basic.Verify(key, message, signature))  # type: ignore[arg-type]
    # The groups swapped (RFC 9380's hash to G1): py_ecc has no such ciphersuite, so here is
    # the check it would make, e(signature, g2) = e(H(message), key), as one product.
    try:
        public_key = decompress_G2(
            G2Compressed((int.from_bytes(key[:48], "big"), int.from_bytes(key[48:], "big")))
        )
        point = decompress_G1(G1Compressed(int.from_bytes(signature, "big")))
    except ValueError:
        return False
    if is_inf(public_key) or not subgroup_check(public_key):
        return False
    if is_inf(point) or not subgroup_check(point):
        return False
    # py_ecc's annotation asks for a hash object, its code (and G2Basic) uses the constructor.
    hashed = hash_to_G1(message, QUICKNET_DST, hashlib.sha256)  # type: ignore[arg-type]
    product = miller_loop(G2, point, final_exponentiate=False) * miller_loop(
        neg(public_key), hashed, final_exponentiate=False
    )
    return bool(final_exponentiate(product) == FQ12.one())


def commitment(seed_hex: str) -> str:
    """sha256 of the seed's bytes, in hex: what the shop publishes before the giveaway."""
    return hashlib.sha256(bytes.fromhex(seed_hex)).hexdigest()


def canonical_entries(entries: Sequence[Entry]) -> bytes:
    """The frozen list as bytes: a JSON array of {"pseudonym", "tickets"} sorted by
    pseudonym, keys sorted, no spaces, ASCII only."""
    ordered = sorted(entries, key=lambda entry: entry.pseudonym)
    return json.dumps(
        [{"pseudonym": entry.pseudonym, "tickets": entry.tickets} for entry in ordered],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    ).encode("ascii")


def entries_sha256(entries: Sequence[Entry]) -> str:
    return hashlib.sha256(canonical_entries(entries)).hexdigest()


def draw_key(seed_hex: str, beacon_hex: str, list_hash: str) -> bytes:
    message = f"{FORMAT}|{beacon_hex.lower()}|{list_hash.lower()}".encode("ascii")
    return hmac.new(bytes.fromhex(seed_hex), message, hashlib.sha256).digest()


def _uniform(key: bytes, pick: int, total: int) -> int:
    """A number in [0, total), without modulo bias."""
    limit = 2**256 - (2**256 % total)
    attempt = 0
    while True:
        digest = hmac.new(key, f"pick:{pick}:{attempt}".encode("ascii"), hashlib.sha256).digest()
        value = int.from_bytes(digest, "big")
        if value < limit:
            return value % total
        attempt += 1


@dataclass(frozen=True)
class Outcome:
    # Every pick in order, excluded ones too.
    picks: tuple[str, ...]
    winners: tuple[str, ...]
    reserves: tuple[str, ...]


def draw(
    seed_hex: str,
    beacon_hex: str,
    entries: Sequence[Entry],
    *,
    winners: int,
    reserves: int,
    excluded: frozenset[str] = frozenset(),
) -> Outcome:
    """The draw order over the frozen `entries` (see the module's docstring)."""
    remaining = sorted(
        (entry for entry in entries if entry.tickets > 0), key=lambda entry: entry.pseudonym
    )
    key = draw_key(seed_hex, beacon_hex, entries_sha256(entries))
    picks: list[str] = []
    chosen: list[str] = []
    wanted = winners + reserves
    pick = 0
    while remaining and len(chosen) < wanted:
        total = sum(entry.tickets for entry in remaining)
        r = _uniform(key, pick, total)
        index = 0
        while r >= remaining[index].tickets:
            r -= remaining[index].tickets
            index += 1
        taken = remaining.pop(index)
        picks.append(taken.pseudonym)
        if taken.pseudonym not in excluded:
            chosen.append(taken.pseudonym)
        pick += 1
    return Outcome(
        picks=tuple(picks), winners=tuple(chosen[:winners]), reserves=tuple(chosen[winners:])
    )


@dataclass(frozen=True)
class Standing:
    pseudonym: str
    score: int
    # UTC, ISO 8601 to the millisecond (e.g. "2026-12-01T10:00:00.123+00:00").
    reached_at: str


def standings_order(standings: Sequence[Standing]) -> list[Standing]:
    """Score descending, then who reached it first, then pseudonym."""
    return sorted(
        standings,
        key=lambda line: (-line.score, datetime.fromisoformat(line.reached_at), line.pseudonym),
    )


def canonical_standings(standings: Sequence[Standing]) -> bytes:
    """The frozen standings as bytes: a JSON array of {"pseudonym", "reached_at", "score"}
    in the standings' order, keys sorted, no spaces, ASCII only."""
    return json.dumps(
        [
            {"pseudonym": line.pseudonym, "reached_at": line.reached_at, "score": line.score}
            for line in standings_order(standings)
        ],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    ).encode("ascii")


def standings_sha256(standings: Sequence[Standing]) -> str:
    return hashlib.sha256(canonical_standings(standings)).hexdigest()


def rank(
    standings: Sequence[Standing],
    *,
    winners: int,
    reserves: int,
    excluded: frozenset[str] = frozenset(),
) -> Outcome:
    """Winners and reserves of a leaderboard contest: the top of the standings' order,
    excluded lines passed over (`picks` is the order itself, excluded lines too)."""
    ordered = [line.pseudonym for line in standings_order(standings) if line.score > 0]
    chosen = [name for name in ordered if name not in excluded][: winners + reserves]
    return Outcome(
        picks=tuple(ordered), winners=tuple(chosen[:winners]), reserves=tuple(chosen[winners:])
    )


# What `verify-draw` / `python draw.py` end with, and their exit statuses.
VERIFIED, NOT_VERIFIED, BEACON_UNCHECKED = "VERIFIED", "NOT VERIFIED", "BEACON NOT VERIFIED"
EXIT_VERIFIED, EXIT_MISMATCH, EXIT_BEACON_UNCHECKED = 0, 1, 3


@dataclass
class Verification:
    winners: tuple[str, ...] = ()
    reserves: tuple[str, ...] = ()
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # What could not be checked here (the beacon's signature: absent, as with a beacon the
    # operator typed in, or without py_ecc), with how to check it by hand. A draw is only as
    # fair as its beacon: the verdict does not say VERIFIED while the beacon is unchecked.
    unchecked: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        """Nothing in the transcript contradicts the draw (the beacon may be unchecked)."""
        return not self.problems

    def verdict(self) -> tuple[str, int]:
        """The last line printed, and the exit status."""
        if self.problems:
            return NOT_VERIFIED, EXIT_MISMATCH
        if self.unchecked:
            return BEACON_UNCHECKED, EXIT_BEACON_UNCHECKED
        return VERIFIED, EXIT_VERIFIED

    def report(self) -> list[str]:
        """What a verifier prints, line by line: the result, notes, mismatches, the verdict."""
        lines = ["winners: " + ", ".join(self.winners), "reserves: " + ", ".join(self.reserves)]
        lines += self.notes
        lines += ["CHECK BY HAND: " + item for item in self.unchecked]
        lines += ["MISMATCH: " + problem for problem in self.problems]
        if not self.problems and self.unchecked:
            lines.append("everything else matches; the winners stand only if the beacon is drand's")
        lines.append(self.verdict()[0])
        return lines


def verify(transcript: dict[str, Any]) -> Verification:
    """Re-run a published draw: what does not match, if anything."""
    if transcript.get("format") == STANDINGS_FORMAT:
        return verify_standings(transcript)
    result = Verification()
    try:
        if transcript.get("format") != FORMAT:
            result.problems.append(f"unknown format {transcript.get('format')!r}")
            return result
        contest = transcript["contest"]
        commit = transcript["commitment"]
        frozen = transcript["entries"]
        reveal = transcript["reveal"]
        seed, beacon = str(reveal["seed"]), str(reveal["beacon"])
        entries = [Entry(str(line["pseudonym"]), int(line["tickets"])) for line in frozen["list"]]
        excluded = frozenset(str(line["pseudonym"]) for line in transcript.get("excluded", []))
        winners, reserves = int(contest["winners"]), int(contest["reserves"])
        published = transcript["result"]
        bytes.fromhex(seed)
        bytes.fromhex(beacon)
    except (KeyError, TypeError, ValueError) as error:
        result.problems.append(f"the transcript is incomplete or malformed: {error!r}")
        return result
    if commitment(seed) != str(commit["seed_sha256"]).lower():
        result.problems.append(
            "the revealed seed does not hash to the commitment: "
            f"sha256(seed) = {commitment(seed)}, committed {commit['seed_sha256']}"
        )
    computed_hash = entries_sha256(entries)
    if computed_hash != str(frozen["sha256"]).lower():
        result.problems.append(
            "the entry list does not hash to the published hash: "
            f"sha256(list) = {computed_hash}, published {frozen['sha256']}"
        )
    names = [entry.pseudonym for entry in entries]
    if len(set(names)) != len(names):
        result.problems.append("the entry list names a pseudonym twice")
    if not excluded <= set(names):
        result.problems.append("an excluded pseudonym is not in the entry list")
    outcome = draw(seed, beacon, entries, winners=winners, reserves=reserves, excluded=excluded)
    result.winners, result.reserves = outcome.winners, outcome.reserves
    if list(outcome.winners) != list(published.get("winners", [])):
        result.problems.append(
            f"different winners: computed {list(outcome.winners)}, "
            f"published {published.get('winners')}"
        )
    if list(outcome.reserves) != list(published.get("reserves", [])):
        result.problems.append(
            f"different reserves: computed {list(outcome.reserves)}, "
            f"published {published.get('reserves')}"
        )
    if "picks" in published and list(outcome.picks) != list(published["picks"]):
        result.problems.append("a different order of picks than the published one")
    _check_beacon(result, commit, reveal, beacon, frozen.get("frozen_at"))
    return result


def _check_beacon(
    result: Verification,
    commit: dict[str, Any],
    reveal: dict[str, Any],
    beacon: str,
    frozen_at: str | None,
) -> None:
    """The beacon is drand's round committed to, and it was not out before the close."""
    chain, round_number = commit.get("beacon_chain"), commit.get("beacon_round")
    if chain not in DRAND_CHAINS or not isinstance(round_number, int) or round_number < 1:
        result.problems.append(f"no known drand chain and round: {chain!r}, {round_number!r}")
        return
    chain_hash = DRAND_CHAINS[chain]["hash"]
    if commit.get("beacon_chain_hash", chain_hash) != chain_hash:
        result.problems.append(f"the chain hash is not drand {chain}'s")
    if frozen_at and datetime.fromisoformat(frozen_at).timestamp() >= drand_round_time(
        chain, round_number
    ):
        result.problems.append("the entry list was frozen after the beacon round was public")
    compare = f"{beacon_url(chain, round_number)} must show randomness {beacon}"
    signature = reveal.get("beacon_signature")
    if not signature:
        result.unchecked.append(
            f"no drand signature of the beacon in the transcript: check it yourself: {compare}"
        )
        return
    previous = reveal.get("beacon_previous_signature")
    mismatch = beacon_mismatch(
        chain, beacon, str(signature), None if previous is None else str(previous)
    )
    if mismatch is not None:
        result.problems.append(f"the beacon's signature: {mismatch}")
        return
    round_name = f"drand {chain} round {round_number}"
    try:
        valid = signature_valid(chain, round_number, str(signature), str(previous or ""))
    except ImportError:
        result.unchecked.append(
            f"the beacon's signature is not checked here (it needs py_ecc): "
            f"`pip install py_ecc` and run again, or check it yourself: {compare}"
        )
        return
    if valid:
        result.notes.append(f"beacon: {round_name}, signature valid (League of Entropy key)")
    else:
        result.problems.append(
            f"the beacon's signature is not the League of Entropy's for {round_name}"
        )


def verify_standings(transcript: dict[str, Any]) -> Verification:
    """Check a leaderboard contest: the standings hash to the published hash, and the
    winners and reserves are the top of their order minus the listed exclusions."""
    result = Verification()
    try:
        contest = transcript["contest"]
        frozen = transcript["standings"]
        standings = [
            Standing(str(line["pseudonym"]), int(line["score"]), str(line["reached_at"]))
            for line in frozen["list"]
        ]
        for line in standings:
            datetime.fromisoformat(line.reached_at)
        excluded = frozenset(str(line["pseudonym"]) for line in transcript.get("excluded", []))
        winners, reserves = int(contest["winners"]), int(contest["reserves"])
        published = transcript["result"]
    except (KeyError, TypeError, ValueError) as error:
        result.problems.append(f"the transcript is incomplete or malformed: {error!r}")
        return result
    computed_hash = standings_sha256(standings)
    if computed_hash != str(frozen["sha256"]).lower():
        result.problems.append(
            "the standings do not hash to the published hash: "
            f"sha256(standings) = {computed_hash}, published {frozen['sha256']}"
        )
    names = [line.pseudonym for line in standings]
    if len(set(names)) != len(names):
        result.problems.append("the standings name a pseudonym twice")
    if not excluded <= set(names):
        result.problems.append("an excluded pseudonym is not in the standings")
    outcome = rank(standings, winners=winners, reserves=reserves, excluded=excluded)
    result.winners, result.reserves = outcome.winners, outcome.reserves
    for role, computed in (("winners", outcome.winners), ("reserves", outcome.reserves)):
        if list(computed) != list(published.get(role, [])):
            result.problems.append(
                f"different {role}: computed {list(computed)}, published {published.get(role)}"
            )
    ends_at, frozen_at = contest.get("ends_at"), frozen.get("frozen_at")
    if (
        ends_at
        and frozen_at
        and datetime.fromisoformat(frozen_at) < datetime.fromisoformat(ends_at)
    ):
        result.problems.append("the standings were frozen before the contest ended")
    result.notes.append(
        "a leaderboard contest has no seed and no beacon: the top of the frozen standings win"
    )
    return result


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python draw.py draw.json", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as file:
        result = verify(json.load(file))
    print("\n".join(result.report()))
    return result.verdict()[1]


if __name__ == "__main__":
    sys.exit(main(sys.argv))
