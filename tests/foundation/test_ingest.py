"""Ingestion into the raw zone, against a real moto server process, through the CLI as a user runs it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import boto3
import pytest

from prodml import bootstrap
from prodml.sample_data import write_sample
from tests.conftest import CHURN_CONTRACT, run_prodml

pytestmark = pytest.mark.integration


def raw_objects(settings) -> dict[str, bytes]:
    s3 = boto3.client("s3", endpoint_url=settings.endpoint_url)
    bucket = settings.bucket("raw")
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return out


@pytest.fixture
def bootstrapped(aws_env):
    bootstrap.bootstrap(aws_env, ["customer_churn"])
    return aws_env


@pytest.fixture
def churn_file(tmp_path, churn_contract) -> Path:
    path = tmp_path / "churn.csv"
    write_sample(churn_contract, path, 300, seed=3)
    return path


def test_ingest_lands_bytes_at_a_content_addressed_key_with_metadata(bootstrapped, churn_file):
    result = run_prodml("ingest", str(churn_file), "--contract", str(CHURN_CONTRACT))
    assert result.returncode == 0, result.stderr
    sha = hashlib.sha256(churn_file.read_bytes()).hexdigest()
    objects = raw_objects(bootstrapped)
    data_keys = [k for k in objects if k.endswith(f"{sha}.csv")]
    assert len(data_keys) == 1
    assert data_keys[0].startswith("customer_churn/ingest_date=")
    assert objects[data_keys[0]] == churn_file.read_bytes()  # byte for byte
    record = json.loads(objects[f"customer_churn/_landing/{sha}.json"])
    assert record["sha256"] == sha and record["size_bytes"] == churn_file.stat().st_size
    assert record["source_name"] == "churn.csv"
    head = boto3.client("s3", endpoint_url=bootstrapped.endpoint_url).head_object(
        Bucket=bootstrapped.bucket("raw"), Key=data_keys[0]
    )
    assert head["Metadata"]["sha256"] == sha and head["Metadata"]["source-name"] == "churn.csv"
    listing = run_prodml("landed", "--contract", str(CHURN_CONTRACT))
    assert listing.returncode == 0 and sha[:12] in listing.stdout


def test_reingest_is_a_reported_noop_and_a_changed_file_is_a_new_object(bootstrapped, churn_file, cli):
    assert cli("ingest", str(churn_file), "-c", str(CHURN_CONTRACT)).returncode == 0
    before = raw_objects(bootstrapped)
    again = cli("ingest", str(churn_file), "-c", str(CHURN_CONTRACT))
    assert again.returncode == 0 and "no-op" in again.stdout
    assert raw_objects(bootstrapped) == before  # nothing rewritten, nothing added
    s3 = boto3.client("s3", endpoint_url=bootstrapped.endpoint_url)
    versions = s3.list_object_versions(Bucket=bootstrapped.bucket("raw")).get("Versions", [])
    assert len(versions) == len(before)  # no overwrite, not even as a new version

    with churn_file.open("a") as fh:
        fh.write(churn_file.read_text().splitlines()[1] + "\n")
    changed = cli("ingest", str(churn_file), "-c", str(CHURN_CONTRACT))
    assert changed.returncode == 0 and "landed" in changed.stdout
    after = raw_objects(bootstrapped)
    assert set(before) < set(after) and len(after) == len(before) + 2  # new object + its landing record
    assert all(after[key] == body for key, body in before.items())  # the first file is untouched


BAD_FILES = {
    "missing": ("absent.csv", None, "no such file"),
    "empty": ("empty.csv", b"", "the file is empty"),
    "wrong-header": ("wrong.csv", b"customer_id,colour\n1,red\n", "header does not match"),
    "unsupported": ("data.xlsx", b"PK\x03\x04", "unsupported file type"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_files_fail_clearly_and_write_nothing(bootstrapped, tmp_path, case, cli):
    name, body, message = BAD_FILES[case]
    path = tmp_path / name
    if body is not None:
        path.write_bytes(body)
    result = cli("ingest", str(path), "-c", str(CHURN_CONTRACT))
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert raw_objects(bootstrapped) == {}


def test_ingest_without_the_emulator_says_where_it_looked(tmp_path, churn_file, monkeypatch):
    result = run_prodml(
        "ingest",
        str(churn_file),
        "-c",
        str(CHURN_CONTRACT),
        env={
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "x",
        },
    )
    assert result.returncode != 0
    assert "cannot reach AWS" in result.stderr and "prodml emulator up" in result.stderr
