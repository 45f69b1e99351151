"""Which address is the client's (portal/edge.py)."""

import pytest

from portal.edge import client_address, parse_networks

TRUSTED = parse_networks("127.0.0.1, 10.0.0.0/8, ::1")


@pytest.mark.parametrize(
    ("peer", "header", "client"),
    [
        ("198.51.100.1", ["203.0.113.9"], "198.51.100.1"),  # untrusted peer: the header is ignored
        ("127.0.0.1", ["203.0.113.9"], "203.0.113.9"),
        ("127.0.0.1", ["1.2.3.4, 203.0.113.9"], "203.0.113.9"),  # the client's own entry is not believed
        ("127.0.0.1", ["203.0.113.9, 10.1.2.3"], "203.0.113.9"),  # an inner proxy of ours is skipped
        ("127.0.0.1", ["1.2.3.4", "203.0.113.9"], "203.0.113.9"),  # repeated headers read as one list
        ("127.0.0.1", ["not-an-address"], "127.0.0.1"),
        ("127.0.0.1", ["203.0.113.9, <script>"], "127.0.0.1"),
        ("127.0.0.1", ["10.0.0.5, 10.0.0.6"], "10.0.0.5"),  # only proxies: the furthest one
        ("::1", ["2001:db8::7"], "2001:db8::7"),
        ("testclient", ["203.0.113.9"], "testclient"),
    ],
)
def test_client_address(peer, header, client):
    assert client_address(peer, header, TRUSTED) == client


def test_nobody_is_trusted_by_default():
    assert client_address("127.0.0.1", ["203.0.113.9"], parse_networks("")) == "127.0.0.1"


def test_a_malformed_setting_names_the_entry():
    with pytest.raises(ValueError, match="'10.0.0.300'"):
        parse_networks("127.0.0.1, 10.0.0.300")
