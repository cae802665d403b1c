"""NATS_URL names one server or a cluster's servers; credentials go to every one of them."""

from __future__ import annotations

import pytest

from shared.kit.bus.address import NatsAddress, NatsAddressError


def test_one_server_stays_one_server() -> None:
    address = NatsAddress.parse("nats://127.0.0.1:4222")
    assert address.connect_options() == {"servers": ["nats://127.0.0.1:4222"]}


def test_a_cluster_with_credentials_on_the_first_server_has_them_for_all() -> None:
    address = NatsAddress.parse("nats://intake:s%40cret@hub-1:4222, nats://hub-2:4222,,tls://hub-3")
    assert address.connect_options() == {
        "servers": ["nats://hub-1:4222", "nats://hub-2:4222", "tls://hub-3"],
        "user": "intake",
        "password": "s@cret",
    }
    assert "cret" not in address.shown()


def test_the_same_credentials_on_every_server_are_one_user() -> None:
    address = NatsAddress.parse("nats://u:p@a:1,nats://u:p@b:2")
    assert (address.servers, address.user, address.password) == (
        ("nats://a:1", "nats://b:2"),
        "u",
        "p",
    )


def test_a_user_without_password_is_a_token() -> None:
    assert NatsAddress.parse("nats://t0ken@a:1").connect_options() == {
        "servers": ["nats://a:1"],
        "token": "t0ken",
    }


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "no server given"),
        ("hub-1:4222", "'hub-1:4222' must look like nats://host:4222"),
        ("nats://a:1,http://b:2", "'http://b:2' must look like"),
        ("nats://u:secret@a:port", "'a:port' is not a URL"),
        ("nats://a:1,ws://b:2", "mixes websocket and plain servers"),
        ("nats://u:p@a:1,nats://v:p@b:1", "different credentials"),
    ],
)
def test_a_bad_address_says_why_without_its_password(url: str, message: str) -> None:
    with pytest.raises(NatsAddressError, match=message) as caught:
        NatsAddress.parse(url)
    assert "secret" not in str(caught.value)
