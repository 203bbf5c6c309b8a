"""The registry is the control plane: serving outlives its outage. A worker (re)started while the registry and
the artifact store cannot be reached serves the last known good model (a verified local copy) and says so in
/ready and /metrics; a damaged copy, or one the registry has since rejected, never serves.

The outage is made with a TCP proxy in front of the session's emulator (never stopped: other tests share it):
the service talks to AWS only through the proxy, which can refuse connections or accept and never answer."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import statistics
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from prodml import aws
from tests.conftest import free_port

from .test_service_integration import ROW

pytestmark = pytest.mark.integration


# ---- the outage ---------------------------------------------------------------------------------------------
class Endpoint:
    """A TCP proxy to the emulator on 127.0.0.1: ``up`` forwards, ``refuse`` listens on nothing (connection
    refused, as for an endpoint that is gone), ``hang`` accepts and never answers (as for a partition, the
    worst case: every call waits for the client's timeout). Changing mode severs every open connection, so a
    client's pooled keep-alive connections cannot outlive the change."""

    def __init__(self, target: str):
        parsed = urlparse(target)
        self.target = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.mode = "refuse"
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.up()

    def up(self) -> None:
        self._switch("up")

    def refuse(self) -> None:
        self._switch("refuse")

    def hang(self) -> None:
        self._switch("hang")

    def close(self) -> None:
        self._switch("refuse")

    def _switch(self, mode: str) -> None:
        self.mode = mode
        if mode == "refuse" and self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()
        if mode != "refuse" and self._listener is None:
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(128)
            listener.settimeout(0.1)  # a blocked accept() is not woken by close() on Linux: poll instead
            self._listener = listener
            threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            with self._lock:
                self._open.add(client)
            if self.mode == "hang":
                continue  # read nothing, answer nothing
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open.add(upstream)
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        with self._lock:
            self._open.discard(source)
            self._open.discard(sink)


@pytest.fixture
def endpoint(moto_server):
    proxy = Endpoint(moto_server)
    yield proxy
    proxy.close()


# ---- workers ------------------------------------------------------------------------------------------------
def worker_pids(server) -> set[int]:
    master = server.process.pid
    return {int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()}


def restart_worker(server, pid: int, sig: int = signal.SIGKILL) -> int:
    """Kill one worker as the kernel's OOM killer would; gunicorn forks a new one. Its pid."""
    before = worker_pids(server)
    os.kill(pid, sig)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = worker_pids(server)
        if pid not in now and now - before:
            return (now - before).pop()
        time.sleep(0.05)
    raise AssertionError(f"gunicorn did not replace worker {pid}: {worker_pids(server)}")


def first_answer(server, path: str = "/ready") -> httpx.Response:
    """The first answer after a restart (the listening socket queues the request meanwhile)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return httpx.get(server.url + path, timeout=60)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample ``name{labels}`` (labels in any order) in a /metrics page."""
    for match in re.finditer(rf"^{name}\{{([^}}]*)\}} (\S+)$", text, re.M):
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(2))
    return None


def sources(server) -> dict[str, float | None]:
    text = server.get("/metrics").text
    return {
        "registry": metric(text, "prodml_model_source", variant="champion", source="registry"),
        "last_known_good": metric(text, "prodml_model_source", variant="champion", source="last_known_good"),
        "reachable": metric(text, "prodml_registry_reachable"),
    }


def wait_until(what: str, check, timeout: float = 40.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.1)


def corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


# ---- tests --------------------------------------------------------------------------------------------------
def test_a_worker_restarted_while_the_registry_is_unreachable_serves_the_last_known_good_model(
    platform, artifacts, serve, endpoint
):
    v1 = platform.publish(artifacts["a"]).version
    server = serve(AWS_ENDPOINT_URL=endpoint.url, PRODML_CAPTURE_FRACTION=0)
    server.wait_ready(version=v1)
    before = server.post("/predict", ROW).json()

    # The registry and the artifact store go away; then the only worker dies and gunicorn forks a new one.
    endpoint.refuse()
    (worker,) = worker_pids(server)
    restart_worker(server, worker)
    ready = first_answer(server)
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["model_version"] == v1 and body["model_source"] == "last_known_good"
    assert body["registry_reachable"] is False and body["registry_unreachable_since"]
    assert f"serving the last known good model v{v1}" in body["reason"]
    assert "registry has been unreachable since" in body["reason"]
    predict = server.post("/predict", ROW)
    assert predict.status_code == 200, predict.text
    assert predict.json()["model_version"] == v1 and predict.json()["probability"] == before["probability"]
    assert sources(server) == {"registry": 0.0, "last_known_good": 1.0, "reachable": 0.0}

    # The registry returns: the poll confirms the model, then hot-swaps to a new champion as usual.
    endpoint.up()
    wait_until("registry confirmed", lambda: server.get("/ready").json()["model_source"] == "registry")
    v2 = platform.publish(artifacts["b"]).version
    server.wait_ready(version=v2, timeout=30)
    body = server.get("/ready").json()
    assert body["registry_reachable"] is True and body["reason"] is None
    assert sources(server) == {"registry": 1.0, "last_known_good": 0.0, "reachable": 1.0}


def test_a_damaged_copy_or_one_the_registry_rejected_never_serves(
    platform, artifacts, serve, endpoint, tmp_path
):
    models = tmp_path / "models"
    v1 = platform.publish(artifacts["a"])
    server = serve(AWS_ENDPOINT_URL=endpoint.url, PRODML_CAPTURE_FRACTION=0, PRODML_MODEL_DIR=models)
    server.wait_ready(version=v1.version)
    v2 = platform.publish(artifacts["b"])
    server.wait_ready(version=v2.version)
    copies = models / "last-known-good" / platform.registry.group
    assert {p.name for p in copies.iterdir()} >= {"v1.tar.gz", "v2.tar.gz", "champion.json"}

    # Unseen by the worker: v2 is rolled back, v1's artifact is gone from S3 and its local copy damaged.
    # A new worker asks the registry (back by then): v1 cannot be loaded, and the copy of v2 was rejected.
    endpoint.refuse()
    platform.registry.rollback("bad canary metrics")
    bucket, key = aws.split_s3_uri(v1.model_data_url)
    s3 = aws.client("s3", platform.settings)
    s3.delete_object(Bucket=bucket, Key=key)
    corrupt(copies / "v1.tar.gz")
    (worker,) = worker_pids(server)
    restart_worker(server, worker)
    endpoint.up()
    ready = first_answer(server)
    assert ready.status_code == 503, ready.text
    reason = ready.json()["reason"]
    assert f"model v{v1.version} cannot be downloaded" in reason
    assert f"the last known good model v{v2.version} is Rejected in the registry" in reason
    assert server.post("/predict", ROW).status_code == 503

    # The artifact store returns: a failed download is tried again, not remembered as a bad model.
    s3.upload_file(str(artifacts["a"]), bucket, key)
    server.wait_ready(version=v1.version, timeout=30)
    assert server.get("/ready").json()["model_source"] == "registry"

    # A damaged copy is refused even with nothing else to serve.
    endpoint.refuse()
    corrupt(copies / "v1.tar.gz")
    (worker,) = worker_pids(server)
    restart_worker(server, worker)
    ready = first_answer(server)
    assert ready.status_code == 503, ready.text
    assert "does not match the sha256 recorded when saved" in ready.json()["reason"]
    assert ready.json()["registry_reachable"] is False
    assert server.post("/predict", ROW).status_code == 503
    endpoint.up()
    server.wait_ready(version=v1.version, timeout=30)


# ---- chaos ----------------------------------------------------------------------------------------------------
class SteadyLoad:
    """``concurrency`` clients posting /predict to 127.0.0.1 back to back, at most ``max_requests`` in all."""

    def __init__(self, url: str, concurrency: int = 4, max_requests: int = 200_000):
        assert urlparse(url).hostname == "127.0.0.1"
        self.url = url
        self.concurrency = concurrency
        self.max_requests = max_requests
        self.results: list[tuple[float, float, int]] = []  # (sent at, latency s, status; 0: transport error)
        self.versions: Counter = Counter()
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(concurrency)
        ]

    def _run(self, client_number: int) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            n = 0
            while not self._stop.is_set() and len(self.results) < self.max_requests:
                n += 1
                row = {**ROW, "tenure_months": (client_number * 7919 + n) % 600}
                sent = time.monotonic()
                try:
                    r = client.post("/predict", json=row)
                except httpx.TransportError as exc:
                    self.results.append((sent, time.monotonic() - sent, 0))
                    self.errors.append(repr(exc))
                    continue
                self.results.append((sent, time.monotonic() - sent, r.status_code))
                if r.status_code == 200:
                    self.versions[r.json()["model_version"]] += 1

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=40)


def _quantile(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1] if len(values) > 1 else 0.0
    )


@pytest.mark.slow
def test_chaos_registry_down_while_a_worker_restarts_under_steady_load(
    platform, artifacts, serve, endpoint, pytestconfig
):
    v1 = platform.publish(artifacts["a"]).version
    server = serve(
        workers=2,
        AWS_ENDPOINT_URL=endpoint.url,
        PRODML_CACHE_ENABLED="false",  # every request runs the model
        PRODML_CAPTURE_FRACTION=0,
    )
    server.wait_ready(version=v1)
    wait_until("both workers on the registry's model", lambda: sources(server)["registry"] == 2.0)
    with SteadyLoad(server.url) as load:
        time.sleep(3)
        # The worst outage: the registry and S3 accept connections and never answer.
        endpoint.hang()
        down_at = time.monotonic()
        time.sleep(2)
        killed = sorted(worker_pids(server))[0]
        killed_at = time.monotonic()
        restart_worker(server, killed)
        wait_until(
            "the new worker serving the last known good model",
            lambda: sources(server) == {"registry": 1.0, "last_known_good": 1.0, "reachable": 0.0},
            timeout=60,
        )
        serving_at = time.monotonic()
        ready = server.get("/ready").json()  # either worker: both serve v1, both see the outage
        assert ready["model_version"] == v1 and ready["registry_reachable"] is False
        time.sleep(5)
        endpoint.up()
        up_at = time.monotonic()
        wait_until(
            "both workers back on the registry",
            lambda: sources(server) == {"registry": 2.0, "last_known_good": 0.0, "reachable": 1.0},
            timeout=120,
        )
        recovered_at = time.monotonic()
        time.sleep(2)

    results = load.results
    latencies = sorted(latency for _, latency, status in results if 200 <= status < 300)
    during = sorted(latency for sent, latency, status in results if down_at <= sent < up_at and status)
    non_2xx = Counter(status for _, _, status in results if status and not 200 <= status < 300)
    transport_errors = sum(1 for *_, status in results if status == 0)
    figures = {
        "requests sent": len(results),
        "2xx": len(latencies),
        "non-2xx": sum(non_2xx.values()),
        "transport errors (the killed worker's in-flight requests)": transport_errors,
        "p50 ms (all 2xx)": round(_quantile(latencies, 0.50) * 1000, 2),
        "p99 ms (all 2xx)": round(_quantile(latencies, 0.99) * 1000, 2),
        "p50 ms (registry down)": round(_quantile(during, 0.50) * 1000, 2),
        "p99 ms (registry down)": round(_quantile(during, 0.99) * 1000, 2),
        "max ms (registry down)": round(max(during) * 1000, 1) if during else None,
        "registry down s": round(up_at - down_at, 1),
        "kill -> new worker serving last known good s": round(serving_at - killed_at, 1),
        "registry up -> both workers on registry s": round(recovered_at - up_at, 1),
        "versions answered": dict(load.versions),
    }
    with pytestconfig.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
        print("\n  [registry outage chaos: " + "; ".join(f"{k}: {v}" for k, v in figures.items()) + "]")
    assert not non_2xx, non_2xx
    assert transport_errors <= load.concurrency, load.errors[:5]  # at most one in flight a client at the kill
    assert set(load.versions) == {v1}
    assert len(results) > 1000
