"""portal/formats.py"""

import pytest

from portal.formats import luhn_valid, npi_valid


@pytest.mark.parametrize("npi", ["1234567893", "1245319599", "1003000126"])
def test_valid_npis(npi):
    assert npi_valid(npi)


@pytest.mark.parametrize("npi", ["1234567890", "123456789", "12345678931", "abcdefghij", "１２３４５６７８９３", ""])
def test_invalid_npis(npi):
    assert not npi_valid(npi)


def test_luhn():
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")
