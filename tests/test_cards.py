"""Member card codes: unambiguous alphabet, a check character that catches every typo."""

from __future__ import annotations

import pytest

from core.shared import cards

AMBIGUOUS = "0O1ILU"
# A fixed valid code, so failures are reproducible (its check character is computed).
BODY = "ABCD2345"
VALID = BODY + cards.check_character(BODY)


def test_the_alphabet_leaves_out_ambiguous_characters() -> None:
    assert len(cards.ALPHABET) == len(set(cards.ALPHABET)) == 30
    assert not set(AMBIGUOUS) & set(cards.ALPHABET)
    assert cards.ALPHABET.upper() == cards.ALPHABET
    assert cards.CODE_LENGTH == 9


def test_generated_codes_are_nine_characters_of_the_alphabet() -> None:
    for _ in range(200):
        code = cards.generate()
        assert len(code) == cards.CODE_LENGTH, code
        assert set(code) <= set(cards.ALPHABET), code
        assert cards.normalize(code) == code
        assert cards.is_valid(code)


def test_normalize_accepts_display_form_lowercase_and_spaces() -> None:
    shown = cards.display(VALID)

    assert cards.normalize(VALID) == VALID
    assert cards.normalize(shown) == VALID
    assert cards.normalize(shown.lower()) == VALID
    assert cards.normalize(VALID.lower()) == VALID
    assert cards.normalize(f"  {shown[:3]} {shown[4:7]}\t{shown[8:]} \n") == VALID


def test_every_single_character_substitution_is_rejected() -> None:
    accepted: list[str] = []
    for position in range(cards.CODE_LENGTH):
        for char in cards.ALPHABET:
            if char == VALID[position]:
                continue
            typo = VALID[:position] + char + VALID[position + 1 :]
            if cards.is_valid(typo):
                accepted.append(typo)
    assert accepted == [], f"single-character typos of {VALID} accepted: {accepted}"


@pytest.mark.parametrize("char", list(AMBIGUOUS) + [c.lower() for c in AMBIGUOUS if c != "0"])
def test_ambiguous_characters_are_rejected_anywhere(char: str) -> None:
    for position in range(cards.CODE_LENGTH):
        code = VALID[:position] + char + VALID[position + 1 :]
        with pytest.raises(cards.InvalidCardCode):
            cards.normalize(code)
        assert not cards.is_valid(code)


@pytest.mark.parametrize(
    "raw",
    ["", " ", "-", VALID[:-1], VALID + "2", VALID[:4] + "_" + VALID[5:], "ABC-DEF-GH!", "९" * 9],
)
def test_malformed_codes_are_rejected(raw: str) -> None:
    with pytest.raises(cards.InvalidCardCode):
        cards.normalize(raw)
    assert not cards.is_valid(raw)


def test_invalid_card_code_is_a_value_error() -> None:
    assert issubclass(cards.InvalidCardCode, ValueError)


def test_display_groups_in_threes() -> None:
    assert cards.display("ABCDEFGHJ") == "ABC-DEF-GHJ"
    shown = cards.display(VALID)
    assert shown == f"{VALID[:3]}-{VALID[3:6]}-{VALID[6:]}"
    assert [len(group) for group in shown.split("-")] == [3, 3, 3]


def test_two_thousand_generated_codes_are_valid_and_distinct() -> None:
    codes = [cards.generate() for _ in range(2000)]

    assert all(cards.is_valid(code) for code in codes)
    # 30**8 possible bodies: a collision among 2000 has odds of about 3 in 1e6.
    assert len(set(codes)) >= 1999
