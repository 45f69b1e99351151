"""Tracking numbers: their shape, their alphabet, and what people type (portal/registration/tracking.py)."""

from __future__ import annotations

import re

import pytest

from portal.registration import tracking
from portal.registration.tracking import ALPHABET, new_tracking_number, normalise_tracking_number

SHAPE = re.compile(r"IACS-([2-9A-Z]{4})-([2-9A-Z]{4})-([2-9A-Z]{4})")


def test_the_alphabet_has_thirty_readable_characters():
    assert ALPHABET == "23456789ABCDEFGHJKMNPQRSTVWXYZ"
    assert len(set(ALPHABET)) == 30
    assert not set("0O1ILU") & set(ALPHABET)


def test_a_tracking_number_is_the_prefix_and_three_groups_of_four(monkeypatch):
    chars = iter("23456789ABCD")
    monkeypatch.setattr(tracking.secrets, "choice", lambda alphabet: next(chars))
    assert new_tracking_number() == "IACS-2345-6789-ABCD"


def test_tracking_numbers_draw_every_character_from_the_alphabet_only():
    drawn = [new_tracking_number() for _ in range(3000)]
    assert all(SHAPE.fullmatch(number) for number in drawn)
    characters = {ch for number in drawn for ch in number.removeprefix("IACS-").replace("-", "")}
    assert characters == set(ALPHABET)  # 36,000 draws of 30 characters: every one appears
    assert len(set(drawn)) == len(drawn)  # about 59 random bits: no repeats


def test_a_new_tracking_number_reads_back_as_itself():
    number = new_tracking_number()
    assert normalise_tracking_number(number) == number


@pytest.mark.parametrize(
    ("typed", "number"),
    [
        ("IACS-2345-6789-ABCD", "IACS-2345-6789-ABCD"),
        ("iacs-2345-6789-abcd", "IACS-2345-6789-ABCD"),
        ("  IACS-2345-6789-ABCD  ", "IACS-2345-6789-ABCD"),
        ("IACS 2345 6789 ABCD", "IACS-2345-6789-ABCD"),
        ("IACS23456789ABCD", "IACS-2345-6789-ABCD"),
        ("2345-6789-ABCD", "IACS-2345-6789-ABCD"),  # the prefix may be left out
        ("23456789abcd", "IACS-2345-6789-ABCD"),
        ("IACS--2345--6789--ABCD", "IACS-2345-6789-ABCD"),
        ("iacs-zyxw-vtsr-qpnm", "IACS-ZYXW-VTSR-QPNM"),
        ("IACS-2345\t6789\nABCD", "IACS-2345-6789-ABCD"),
    ],
)
def test_what_people_type_is_read_as_a_tracking_number(typed, number):
    assert normalise_tracking_number(typed) == number


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "IACS",
        "IACS-2345-6789-ABC",  # 11 characters
        "IACS-2345-6789-ABCDE",  # 13 characters
        "IACS-2345-6789-ABC0",  # zero is not in the alphabet
        "IACS-2345-6789-ABCO",  # nor the letter O
        "IACS-2345-6789-ABC1",
        "IACS-2345-6789-ABCI",
        "IACS-2345-6789-ABCL",
        "IACS-2345-6789-ABCU",
        "IACS-2345-6789-AB_D",
        "IACS-2345-6789-ＡＢＣＤ",  # full-width letters
        "XACS-2345-6789-ABCD",  # another prefix
        "IACS-2345-6789-ABCD-2345",
    ],
)
def test_anything_else_is_not_a_tracking_number(typed):
    assert normalise_tracking_number(typed) == ""
