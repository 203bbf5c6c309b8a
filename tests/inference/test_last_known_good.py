"""The local copies a restarted worker falls back on: handed out only intact and only for the registry version
they were saved from; the pointer names only a model the workers served that has a copy."""

from __future__ import annotations

import pytest

from prodml.registry import APPROVED, ModelVersion


def _version(number: int, url: str | None = None) -> ModelVersion:
    return ModelVersion(
        arn=f"arn:aws:sagemaker:us-east-1:123456789012:model-package/g/{number}",
        group="g",
        version=number,
        status=APPROVED,
        created=None,
        model_data_url=url or f"s3://artifacts/training/job-{number}/output/model.tar.gz",
    )


@pytest.fixture
def copies(tmp_path):
    from app.serving.last_known_good import LastKnownGood

    return LastKnownGood(tmp_path / "last-known-good" / "g")


def test_a_copy_serves_only_intact_and_only_as_the_version_it_was_saved_from(copies, artifacts):
    from app.serving.last_known_good import CopyError

    v1 = _version(1)
    assert copies.artifact_for(v1) is None and copies.published("champion") is None
    copies.keep(v1, artifacts["a"], "fingerprint-a")
    path = copies.artifact_for(v1)
    assert path is not None and path.read_bytes() == artifacts["a"].read_bytes()
    assert copies.artifact_for(_version(1, url="s3://elsewhere/model.tar.gz")) is None

    copies.publish("champion", 1)
    copy = copies.published("champion")
    assert copy is not None and (copy.version, copy.arn, copy.contract_fingerprint) == (
        1,
        v1.arn,
        "fingerprint-a",
    )
    served_since = copy.served_since
    copies.publish("champion", 1)  # unchanged: still served since the first time
    assert copies.published("champion").served_since == served_since

    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    assert copies.artifact_for(v1) is None  # the caller downloads instead
    with pytest.raises(CopyError, match="does not match the sha256"):
        copies.published("champion")
    copies.keep(v1, artifacts["a"], "fingerprint-a")  # a damaged copy is replaced, not kept
    assert copies.published("champion").version == 1

    (copies.directory / "champion.json").write_text("{not json")
    with pytest.raises(CopyError, match="unreadable"):
        copies.published("champion")


def test_the_pointer_names_only_a_served_model_with_a_copy_and_pruning_spares_it(copies, artifacts):
    from app.serving.last_known_good import KEEP_COPIES

    copies.keep(_version(1), artifacts["a"], "f")
    copies.publish("champion", 1)
    copies.publish("champion", 2)  # v2 serves but has no copy (its save failed): no fallback to v1 either
    assert copies.published("champion") is None and not copies.has("champion")

    copies.publish("champion", 1)
    for number in range(2, KEEP_COPIES + 3):
        copies.keep(_version(number), artifacts["b"], "f")
    kept = sorted(int(p.name[1:-7]) for p in copies.directory.glob("v*.tar.gz"))
    assert 1 in kept and len(kept) == KEEP_COPIES + 1  # the newest, and the one the pointer names
    assert copies.published("champion").version == 1
