"""``prodml ship``: package the code every job runs, upload it to versioned keys, point the jobs at it.

A release holds the Glue job's script and the prodml wheel built for it (``scripts/package_etl.sh``), every
contract in ``contracts/``, and the training source dir as the ``sourcedir.tar.gz`` the SageMaker SDK
would upload (the entrypoint, the training closure of prodml from :mod:`prodml.runtimes`, and a
``requirements.txt``). Its id is a hash of that content, so shipping unchanged code changes nothing. Files go
under ``code/releases/<id>/``, ``release.json`` is written after them and ``code/CURRENT`` last; then every
dataset's Glue job is updated to the release's script, wheel and contract (``UpdateJob``: Terraform creates
the jobs and leaves these three fields to this command). Training jobs take the current release's source.

The deploy workflow, ``make demo`` and the tests all ship through here. It never deletes a release.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prodml import __version__, aws, naming, paths
from prodml.contract import Contract, load_contract
from prodml.jobs import etl_spec, training_spec
from prodml.settings import Settings
from prodml.zones import Zones


class ReleaseError(RuntimeError):
    """Code that cannot be packaged or shipped (the message says what to fix)."""


@dataclass(frozen=True)
class Package:
    """One file of a release: its key below the release prefix and its bytes."""

    name: str
    body: bytes


@dataclass
class Release:
    release: str
    files: dict[str, str]  # name → s3 URI
    contracts: dict[str, str]  # dataset → s3 URI
    uploaded: bool  # False when this exact release was already shipped
    jobs: dict[str, str] = field(default_factory=dict)  # Glue job → "updated" | "missing"

    def as_dict(self) -> dict[str, Any]:
        return {
            "release": self.release,
            "files": self.files,
            "contracts": self.contracts,
            "uploaded": self.uploaded,
            "jobs": self.jobs,
        }


# The libraries whose versions decide the artifact: pinned to this environment's (the lock's, which serving runs
# too), so the pickled pipeline loads in serving unchanged and the ONNX graph is the one parity was checked on.
ARTIFACT_LIBRARIES = ("scikit-learn", "joblib", "skl2onnx", "onnx")
# Everything else comes at prodml's declared ranges (pyproject): the lock's own versions of numpy, pandas,
# pyarrow, ... need Python 3.11+, while these ranges resolve on the container's 3.10. onnxruntime is among
# them: training uses it only for the parity check, and the lock's version has no Python 3.10 build.
REQUIREMENTS_EXTRA = "training"


def requirements() -> str:
    """``requirements.txt`` for the training container: the artifact's libraries pinned, the rest of
    prodml's core and training dependencies at their declared ranges."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    lines = []
    for name in ARTIFACT_LIBRARIES:
        try:
            lines.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            raise ReleaseError(
                f"cannot pin {name}: it is not installed here (install prodml with the training extra)"
            ) from None
    pinned = {canonicalize_name(name) for name in ARTIFACT_LIBRARIES}
    for spec in metadata.requires("prodml") or []:
        req = Requirement(spec)
        if req.marker is not None and not req.marker.evaluate({"extra": REQUIREMENTS_EXTRA}):
            continue
        if canonicalize_name(req.name) not in pinned:
            extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
            lines.append(f"{req.name}{extras}{req.specifier}")
    return "\n".join(lines) + "\n"


def _deterministic_tar(files: dict[str, bytes]) -> bytes:
    """A gzip'd tar of ``files`` whose bytes depend only on the names and contents (for the release id)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(files[name]), 0o644, 0
            archive.addfile(info, io.BytesIO(files[name]))
    return gzip.compress(raw.getvalue(), mtime=0)


def training_source() -> bytes:
    """The training ``sourcedir.tar.gz``: entrypoint, the training closure of prodml, requirements.txt."""
    from prodml.runtimes import training_source_files

    spec = training_spec()
    files = {name: path.read_bytes() for name, path in training_source_files().items()}
    if spec.entry_point not in files:
        raise ReleaseError(f"the training source lacks its entry point {spec.entry_point}")
    files["requirements.txt"] = requirements().encode()
    return _deterministic_tar(files)


def glue_code(build_dir: Path) -> tuple[Package, Package]:
    """The Glue script and the prodml wheel for Python 3.9, built by ``scripts/package_etl.sh``."""
    root = paths.repo_root()
    result = subprocess.run(
        [str(root / "scripts" / "package_etl.sh"), str(build_dir)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ReleaseError(f"packaging the Glue job failed: {detail[0]}")
    script = build_dir / "etl" / Path(etl_spec().script).name
    (wheel,) = sorted((build_dir / "wheels").glob(f"prodml-{__version__}-*.whl"))
    return Package(f"etl/{script.name}", script.read_bytes()), Package(
        f"wheels/{wheel.name}", wheel.read_bytes()
    )


def contracts() -> list[Contract]:
    found = [load_contract(path) for path in sorted(paths.contracts_dir().glob("*.yaml"))]
    if not found:
        raise ReleaseError(f"no contracts in {paths.contracts_dir()}")
    return found


def release_id(packages: list[Package]) -> str:
    digest = hashlib.sha256()
    for package in sorted(packages, key=lambda p: p.name):
        digest.update(package.name.encode() + b"\0" + hashlib.sha256(package.body).digest())
    return digest.hexdigest()[:16]


def current_release(s3: Any, zones: Zones) -> dict[str, Any]:
    """The manifest of the current release; LookupError when nothing was shipped."""
    bucket = zones.bucket("artifacts")
    if not aws.s3_object_exists(s3, bucket, zones.current_release_key()):
        raise LookupError(f"no code released to s3://{bucket}/ yet; run `prodml ship` first")
    release = s3.get_object(Bucket=bucket, Key=zones.current_release_key())["Body"].read().decode().strip()
    body = s3.get_object(Bucket=bucket, Key=zones.release_manifest_key(release))["Body"].read()
    return json.loads(body)


def git_sha() -> str | None:
    """HEAD of the checkout the code comes from, ``-dirty`` when the shipped code has local edits."""
    try:
        root = paths.repo_root()
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src/prodml", "pipelines", "contracts"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError, paths.NotACheckoutError):
        return None
    return f"{sha}-dirty" if dirty else sha


def ship(settings: Settings, *, on_step: Callable[[str], None] = lambda step: None) -> Release:
    s3, zones = aws.client("s3", settings), Zones(settings)
    bucket = zones.bucket("artifacts")
    on_step("packaging the Glue job")
    with tempfile.TemporaryDirectory(prefix="prodml-ship-") as tmp:
        script, wheel = glue_code(Path(tmp))
    on_step("packaging the training source and the contracts")
    found = contracts()
    training = Package(Zones.release_file("training_source"), training_source())
    packages = [script, wheel, training]
    packages += [Package(Zones.release_file("contract", c.name), c.to_yaml().encode()) for c in found]
    release = release_id(packages)
    prefix = zones.release_prefix(release)
    files = {p.name: zones.uri("artifacts", prefix + p.name) for p in packages}
    result = Release(
        release,
        files,
        {c.name: zones.uri("artifacts", zones.contract_key(release, c.name)) for c in found},
        uploaded=not aws.s3_object_exists(s3, bucket, zones.release_manifest_key(release)),
    )
    if result.uploaded:
        for package in packages:
            on_step(f"uploading {package.name}")
            s3.put_object(Bucket=bucket, Key=prefix + package.name, Body=package.body)
        manifest = {
            "release": release,
            "version": __version__,
            "git_sha": git_sha(),
            "shipped_at": datetime.now(UTC).isoformat(),
            "files": files,
            "glue_script": files[script.name],
            "glue_wheel": files[wheel.name],
            "training_source": files[training.name],
            "contracts": result.contracts,
        }
        s3.put_object(
            Bucket=bucket,
            Key=zones.release_manifest_key(release),
            Body=json.dumps(manifest, indent=2).encode(),
        )
    s3.put_object(Bucket=bucket, Key=zones.current_release_key(), Body=release.encode())
    on_step("pointing the Glue jobs at the release")
    glue = aws.client("glue", settings)
    for contract in found:
        name = naming.glue_job_name(settings.project, settings.env, contract.name)
        result.jobs[name] = point_glue_job(
            glue, name, files[script.name], files[wheel.name], result.contracts[contract.name]
        )
    return result


# Fields of a Glue job that UpdateJob takes (its JobUpdate replaces the whole definition).
_UPDATABLE = (
    "Description", "LogUri", "Role", "ExecutionProperty", "Command", "DefaultArguments",
    "NonOverridableArguments", "Connections", "MaxRetries", "Timeout", "MaxCapacity",
    "SecurityConfiguration", "NotificationProperty", "GlueVersion", "NumberOfWorkers", "WorkerType",
    "ExecutionClass",
)  # fmt: skip


def point_glue_job(glue: Any, name: str, script_uri: str, wheel_uri: str, contract_uri: str) -> str:
    """Point a Glue job at released code, keeping the rest of its definition. ``missing`` when no job."""
    try:
        job = glue.get_job(JobName=name)["Job"]
    except glue.exceptions.EntityNotFoundException:
        return "missing"
    update = {key: job[key] for key in _UPDATABLE if job.get(key) is not None}
    if "MaxCapacity" in update:  # Glue refuses AllocatedCapacity beside MaxCapacity; it echoes both
        update.pop("AllocatedCapacity", None)
    update["Command"] = {**job["Command"], "ScriptLocation": script_uri}
    update["DefaultArguments"] = {
        **job.get("DefaultArguments", {}),
        "--extra-py-files": wheel_uri,
        "--contract_uri": contract_uri,
    }
    glue.update_job(JobName=name, JobUpdate=update)
    return "updated"


def record_image(settings: Settings) -> dict[str, str]:
    """Record the inference image's manifest in ECR without Docker: for the emulator, where nothing can build
    or push the image, so that a model package can name an image that exists, as on AWS (where the deploy
    workflow's ``docker push`` puts it there). The manifest has no layers; its config digest is a hash of the
    service's sources, so a changed service is a new image. Tagged with the commit, like the workflow's push,
    and skipped when the tag exists (the repository is immutable)."""
    root = paths.inference_service_dir()
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    config = {
        "mediaType": "application/vnd.oci.image.config.v1+json",
        "digest": f"sha256:{digest.hexdigest()}",
        "size": 0,
    }
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config,
            "layers": [],
        },
        sort_keys=True,
    )
    tag = (git_sha() or "unversioned").removesuffix("-dirty")
    ecr = aws.client("ecr", settings)
    repository = settings.ecr_repository
    try:
        found = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])["imageDetails"]
    except ecr.exceptions.ImageNotFoundException:
        found = []
    if found:
        image_digest, pushed = found[0]["imageDigest"], "no (tag exists)"
    else:
        image = ecr.put_image(
            repositoryName=repository,
            imageManifest=manifest,
            imageManifestMediaType="application/vnd.oci.image.manifest.v1+json",
            imageTag=tag,
        )["image"]
        image_digest, pushed = image["imageId"]["imageDigest"], "yes"
    uri = record_image_parameter(settings, repository, image_digest)
    return {"repository": repository, "tag": tag, "digest": image_digest, "pushed": pushed, "image_uri": uri}


def record_image_parameter(settings: Settings, repository: str, digest: str) -> str:
    """Point the platform image parameter (naming.image_parameter_name), which the processing jobs' state
    machines read, at ``repository@digest``, as the deploy workflow does after a push; the image URI."""
    account = aws.client("sts", settings).get_caller_identity()["Account"]
    uri = f"{account}.dkr.ecr.{settings.region}.amazonaws.com/{repository}@{digest}"
    ssm = aws.client("ssm", settings)  # type: ignore[call-overload]  # no typed overload for ssm
    ssm.put_parameter(
        Name=naming.image_parameter_name(settings.project, settings.env),
        Value=uri,
        Type="String",
        Overwrite=True,
        Description="The platform image (the inference image) every processing job runs.",
    )
    return uri
