"""X-Forwarded-For is believed only from NNSERVE_TRUSTED_PROXIES (the front door)."""

from __future__ import annotations

import json
import logging

import pytest

from service import create_app
from service.proxies import client_address, parse_networks

NETS = parse_networks("127.0.0.1, 172.28.0.0/24, ::1")


@pytest.mark.parametrize("peer, header, expected", [
    ("172.28.0.5", "203.0.113.7", "203.0.113.7"),             # from the proxy: the client
    ("198.51.100.9", "203.0.113.7", "198.51.100.9"),          # from anyone else: ignored
    ("172.28.0.5", "6.6.6.6, 203.0.113.7", "203.0.113.7"),    # a spoofed first hop is skipped
    ("172.28.0.5", "203.0.113.7, 172.28.0.9", "203.0.113.7"),  # past a chain of proxies
    ("172.28.0.5", None, "172.28.0.5"),
    ("::1", "2001:db8::1", "2001:db8::1"),
    ("172.28.0.5", "garbage", "garbage"),  # what the proxy wrote, not what the client chose
])
def test_client_address(peer, header, expected):
    assert client_address(peer, header, NETS) == expected


def test_a_bad_trusted_proxy_entry_is_named():
    with pytest.raises(ValueError, match="'10.0.0.300'"):
        parse_networks("10.0.0.1, 10.0.0.300")


def _logged_addr(caplog, settings_overrides, peer, **extra) -> str:
    app = create_app({**settings_overrides, **extra})
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="nnserve.request"):
        app.test_client().get("/healthz", headers={"X-Forwarded-For": "203.0.113.7"},
                              environ_base={"REMOTE_ADDR": peer})
    (record,) = [r for r in caplog.records if r.name == "nnserve.request"]
    return json.loads(json.dumps(record.fields))["remote_addr"]


def test_request_log_names_the_client_behind_a_trusted_proxy(caplog, settings_overrides):
    assert _logged_addr(caplog, settings_overrides, "172.28.0.5",
                        trusted_proxies="172.28.0.0/24") == "203.0.113.7"
    assert _logged_addr(caplog, settings_overrides, "198.51.100.9",
                        trusted_proxies="172.28.0.0/24") == "198.51.100.9"
    assert _logged_addr(caplog, settings_overrides, "172.28.0.5") == "172.28.0.5"
