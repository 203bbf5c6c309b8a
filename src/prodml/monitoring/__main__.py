"""The drift job's entrypoint: ``python -m prodml.monitoring --dataset D ...`` (see ``--help``).

It runs in the platform image as a SageMaker Processing job (on AWS and on the emulator) with the
deployment's ``PRODML_*`` settings in its environment, and prints ``PRODML_EVENT {json}`` lines: progress,
then ``result``. It parses arguments and calls :func:`prodml.monitoring.job.run_drift`; nothing else.
Exit status: 0 when the job ran (whatever the verdict), 1 when it could not, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

from prodml.jobs import EVENT_PREFIX, monitoring_spec
from prodml.monitoring.job import DriftJobError, DriftRequest, run_drift


def _moment(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date-time: {text!r}") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m prodml.monitoring",
        description="Drift job: compare captured requests (or a dataset) with the serving model's training "
        "baseline; write drift.json and drift.html; publish the DriftScore metric.",
    )
    p.add_argument("--dataset", required=True, help="dataset (contract name) whose model to check")
    what = p.add_mutually_exclusive_group()
    what.add_argument(
        "--window-hours",
        type=float,
        help=f"captured requests of the last H hours (default {monitoring_spec().window_hours}, monitoring.yaml)",
    )
    what.add_argument(
        "--since", type=_moment, help="captured requests from this ISO 8601 time (UTC if no offset)"
    )
    what.add_argument("--source", help="a dataset instead: parquet or CSV at an s3:// URI or a local path")
    p.add_argument("--until", type=_moment, help="with --since: up to this time (default now)")
    p.add_argument("--model-version", type=int, help="compare with this registry version, not the champion")
    p.add_argument(
        "--capture-root", help="read captures below this s3:// URI or folder (default: the capture bucket)"
    )
    p.add_argument("--output", type=Path, required=True, help="folder for drift.json and drift.html")
    p.add_argument("--no-publish", action="store_true", help="do not publish the DriftScore metric")
    return p


def emit(event: dict) -> None:
    print(EVENT_PREFIX + json.dumps(event, default=str), flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.until is not None and args.since is None:
        parser().error("--until needs --since")
    request = DriftRequest(
        dataset=args.dataset,
        window_hours=args.window_hours,
        since=args.since,
        until=args.until,
        source=args.source,
        model_version=args.model_version,
        capture_root=args.capture_root,
    )
    try:
        run_drift(request, args.output, publish=not args.no_publish, on_event=emit)
    except DriftJobError as exc:
        emit({"event": "error", "message": str(exc)})
        print(f"drift job failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
