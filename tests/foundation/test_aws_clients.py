"""`prodml.aws.client`: clients share a session (a new session for every client parsed the service's model
again, 60-120 ms a client), yet each client has the credentials the environment gives at the time."""

from __future__ import annotations

from prodml import aws
from prodml.settings import Settings


def _access_key(client) -> str:
    return client._request_signer._credentials.get_frozen_credentials().access_key


def test_clients_share_a_session_until_the_credential_environment_changes(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "PRODML_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFIRSTFIRSTFIRST1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "first-secret")
    settings = Settings(region="eu-west-1")
    first, again = aws.client("sts", settings), aws.client("sts", settings)
    assert first is not again and first.meta.region_name == "eu-west-1"
    assert first._loader is again._loader  # one session: the service model is parsed once
    assert _access_key(first) == _access_key(again) == "AKIAFIRSTFIRSTFIRST1"

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIASECONDSECONDSEC2")
    rotated = aws.client("sts", settings)
    assert _access_key(rotated) == "AKIASECONDSECONDSEC2"
    assert aws.client("sts", Settings(region="us-west-2")).meta.region_name == "us-west-2"


def test_the_emulator_never_gets_a_laptops_credentials(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    local = aws.client("sts", Settings(endpoint_url="http://127.0.0.1:4566"))
    assert _access_key(local) == "testing" and local.meta.endpoint_url == "http://127.0.0.1:4566"
