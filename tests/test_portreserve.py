"""
Standalone holds its gateway's fixed ports while its nodes pick free ones
(:mod:`s3node.portreserve`).
"""

from __future__ import annotations

import errno
import socket

import pytest

from s3node.portreserve import PortReservation, fixed_tcp_ports


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_fixed_tcp_ports_of_endpoint_descriptions():
    descriptions = [
        "tcp:8080:interface=127.0.0.1",
        "tcp:port=9000:interface=127.0.0.1",
        "9464",
        r"tcp6:8443:interface=\:\:1",
        "ssl:8444:privateKey=key.pem:certKey=cert.pem",
        "tcp:0:interface=127.0.0.1",  # a free port: nothing to hold
        "unix:/run/s3node.sock",
        None,
        "",
    ]
    assert list(fixed_tcp_ports(descriptions)) == [
        (socket.AF_INET, "127.0.0.1", 8080),
        (socket.AF_INET, "127.0.0.1", 9000),
        (socket.AF_INET, "0.0.0.0", 9464),
        (socket.AF_INET6, "::1", 8443),
        (socket.AF_INET, "0.0.0.0", 8444),
    ]


def test_a_held_port_is_bound_not_listening_until_released():
    """While held, nothing else binds the port and a connection is refused; then it is free."""
    port = free_port()
    reservation = PortReservation([(socket.AF_INET, "127.0.0.1", port)])
    reservation.startService()
    try:
        assert reservation.held == 1
        with socket.socket() as other, pytest.raises(OSError) as taken:
            other.bind(("127.0.0.1", port))
        assert taken.value.errno == errno.EADDRINUSE
        with socket.socket() as client, pytest.raises(ConnectionRefusedError):
            client.connect(("127.0.0.1", port))
    finally:
        reservation.release()
    assert reservation.held == 0
    with socket.socket() as listener:  # what the gateway does next
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen()
    reservation.stopService()  # after a release: nothing left to do


def test_a_port_someone_else_has_is_left_alone():
    with socket.socket() as owner:
        owner.bind(("127.0.0.1", 0))
        owner.listen()
        reservation = PortReservation([(socket.AF_INET, "127.0.0.1", owner.getsockname()[1])])
        reservation.startService()
        assert reservation.held == 0
        reservation.stopService()
