"""Host port allocation: Docker's texts when no port is left."""

import pytest

from dockerd_py import errors
from dockerd_py.services import netports


def _request(lo: int, hi: int) -> dict:
    return {"proto": "tcp", "container_port": 80, "host_ip": "127.0.0.1", "range": (lo, hi)}


def test_a_taken_port_and_an_exhausted_range():
    taken = [("127.0.0.1", "tcp", 1), ("0.0.0.0", "tcp", 2)]
    with pytest.raises(errors.SystemErr) as e:
        netports.allocate([_request(1, 1)], taken, "web (abc)")
    assert e.value.message == ("driver failed programming external connectivity on endpoint web (abc): "
                               "Bind for 127.0.0.1:1 failed: port is already allocated")
    with pytest.raises(errors.SystemErr) as e:
        netports.allocate([_request(1, 2)], taken, "web (abc)")
    assert e.value.message == "driver failed programming external connectivity on endpoint web (abc): " \
                              "all ports are allocated"


def _port(lo: int, taken: list) -> int:
    got, held = netports.allocate([_request(lo, lo + 2)], taken, "web (abc)")
    for sock in held:
        sock.close()
    return got[0]["host_port"]


def test_a_range_is_searched_from_the_port_after_the_last_given():
    lo = 40000 + (id(object()) % 1000) * 10   # a range no other test touched in this process
    assert _port(lo, []) == lo
    assert _port(lo, []) == lo + 1                                   # lo was released meanwhile
    assert _port(lo, [("127.0.0.1", "tcp", lo)]) == lo + 2
    assert _port(lo, [("127.0.0.1", "tcp", lo + 2)]) == lo          # wrapped around
