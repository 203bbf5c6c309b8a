"""Whether the AWS endpoint is this machine (the emulator) is decided by the URL's parsed host, never by a
substring: it decides whether prodml starts the emulator, hands out dummy credentials, and may serve without
an API key."""

from __future__ import annotations

import pytest

from prodml.settings import Settings, is_loopback_host


def endpoint(url: str | None, monkeypatch) -> Settings:
    for name in ("AWS_ENDPOINT_URL", "PRODML_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    if url is not None:
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    return Settings()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:4566",
        "http://localhost:4566",
        "http://LOCALHOST:4566/",
        "http://[::1]:4566",
        "http://127.0.0.2:4566",  # all of 127/8 is loopback
    ],
)
def test_a_loopback_host_is_local(url, monkeypatch):
    assert endpoint(url, monkeypatch).is_local_endpoint


@pytest.mark.parametrize(
    "url",
    [
        "https://localhost-gateway.corp.example.com",
        "https://127.0.0.1.nip.io",
        "https://api.example.com/?next=127.0.0.1",
        "https://api.example.com/127.0.0.1/health",
        "https://localhost@api.example.com",
        "https://api.example.com#localhost",
        "https://10.0.0.1:4566",
    ],
)
def test_a_url_that_merely_mentions_loopback_is_not_local(url, monkeypatch):
    assert not endpoint(url, monkeypatch).is_local_endpoint


def test_real_aws_is_not_local(monkeypatch):
    settings = endpoint(None, monkeypatch)
    assert settings.is_real_aws and not settings.is_local_endpoint


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("[::1]", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("localhost.example.com", False),
        ("", False),
        (None, False),
    ],
)
def test_is_loopback_host(host, local):
    assert is_loopback_host(host) is local


def test_settings_given_by_field_name_are_not_ignored(monkeypatch):
    """`Settings(endpoint_url=...)` once fell back silently to AWS_ENDPOINT_URL (the field only took its
    environment names), so an emulator built for one port could talk to another."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    assert Settings(endpoint_url="http://127.0.0.1:4599").endpoint_url == "http://127.0.0.1:4599"
    assert Settings(endpoint_url="http://127.0.0.1:4599").emulator_port == 4599
