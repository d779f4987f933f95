"""Run yiwangtong as it is deployed: N uvicorn worker processes behind nginx (Debian), on
PostgreSQL, with Redis for shared rate limits and Prometheus multi-process metrics.

    python deploy/cluster.py config --out /etc/ywt --workers 4 --listen 0.0.0.0:80
        writes nginx.conf, ywt.env and the systemd unit ywt-worker@.service for a server
    python deploy/cluster.py run --workers 2 --listen 127.0.0.1:8080 --state ./var/cluster
        runs the whole thing in the foreground (development, tests, benchmarks): `ywt init`, the
        workers, nginx; restarts a worker that dies; stops everything on Ctrl-C / SIGTERM

Settings come from the environment as for `ywt serve` (YWT_DATABASE_URL, YWT_REDIS_URL, YWT_HOME,
YWT_MASTER_KEY, ...). Each worker is its own uvicorn process on a loopback port; nginx balances
over them, retries a request on the other worker only where repeating it is harmless (OCSP, TSA,
GETs), and serves /metrics to loopback only. Tests and bench/ drive :class:`Cluster` directly.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def render_nginx(
    *, listen: str, upstreams: list[str], state: Path, run_as: str | None, max_body: str = "21m"
) -> str:
    """nginx.conf from deploy/nginx.conf.template (paths under ``state`` for a foreground run)."""
    text = (HERE / "nginx.conf.template").read_text()
    values = {
        "USER_LINE": f"user {run_as};" if run_as else "",
        "STATE": str(state),
        "LISTEN": listen,
        "UPSTREAMS": "\n".join(f"    server {u} max_fails=1 fail_timeout=2s;" for u in upstreams),
        "MAX_BODY": max_body,
    }
    for k, v in values.items():
        text = text.replace("{{" + k + "}}", v)
    return text


@dataclass
class Worker:
    index: int
    port: int
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@dataclass
class Cluster:
    """N workers + nginx, started and supervised from this process."""

    workers: int = 2
    listen_port: int = 0
    state: Path = field(default_factory=lambda: ROOT / "var" / "cluster")
    env: dict[str, str] = field(default_factory=dict)
    python: str = sys.executable
    _workers: list[Worker] = field(default_factory=list)
    _nginx: subprocess.Popen[bytes] | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _supervisor: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listen_port}"

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("YWT_")} | self.env
        env["PROMETHEUS_MULTIPROC_DIR"] = str(self.state / "metrics")
        env["PYTHONPATH"] = str(ROOT)
        return env

    def ywt(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([self.python, "-m", "api.cli", *args], cwd=ROOT, env=self._env(), capture_output=True,
                           text=True, timeout=900)
        if check and r.returncode != 0:
            raise RuntimeError(f"ywt {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    def _spawn(self, w: Worker) -> None:
        log = (self.state / "logs" / f"worker-{w.index}.log").open("ab")
        w.proc = subprocess.Popen(
            [self.python, "-m", "uvicorn", "--factory", "api.asgi:app_factory", "--host", "127.0.0.1",
             "--port", str(w.port), "--no-access-log", "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1",
             "--timeout-graceful-shutdown", "10", "--log-level", "warning"],
            cwd=ROOT, env=self._env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()

    def _wait_http(self, address: str, path: str = "/readyz", timeout: float = 120.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                r = httpx.get(f"http://{address}{path}", timeout=5)
                if r.status_code == 200:
                    return
                last = f"HTTP {r.status_code}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(0.2)
        raise RuntimeError(f"{address}{path} not ready after {timeout:.0f}s ({last}); see {self.state / 'logs'}")

    def start(self, *, init: bool = True, demo: bool = False) -> Cluster:
        for sub in ("logs", "nginx"):
            (self.state / sub).mkdir(parents=True, exist_ok=True)
        metrics = self.state / "metrics"
        shutil.rmtree(metrics, ignore_errors=True)  # multi-process metric files of a previous run
        metrics.mkdir()
        if init:
            self.ywt("init", *(["--demo"] if demo else []))
        self._workers = [Worker(i, free_port()) for i in range(self.workers)]
        for w in self._workers:
            self._spawn(w)
        for w in self._workers:
            self._wait_http(w.address)
        self.listen_port = self.listen_port or free_port()
        conf = self.state / "nginx" / "nginx.conf"
        conf.write_text(render_nginx(
            listen=f"127.0.0.1:{self.listen_port}", upstreams=[w.address for w in self._workers],
            state=self.state, run_as=getpass.getuser() if os.geteuid() == 0 else None,
        ))
        self._nginx = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(self.state / "nginx"), "-e",
                                        str(self.state / "logs" / "nginx-error.log")],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        try:
            self._wait_http(f"127.0.0.1:{self.listen_port}", "/healthz", timeout=30)
        except RuntimeError:
            err = self._nginx.stderr.read().decode() if self._nginx.poll() is not None and self._nginx.stderr else ""
            self.stop()
            raise RuntimeError(f"nginx did not come up: {err}") from None
        self._stop.clear()
        self._supervisor = threading.Thread(target=self._supervise, daemon=True)
        self._supervisor.start()
        return self

    def _supervise(self) -> None:
        """Restart a worker that died (kill -9, crash), as systemd's Restart=always does."""
        while not self._stop.wait(0.2):
            for w in self._workers:
                if w.proc is not None and w.proc.poll() is not None and not self._stop.is_set():
                    w.restarts += 1
                    self._spawn(w)

    def worker_pids(self) -> list[int]:
        return [w.proc.pid for w in self._workers if w.proc is not None]

    def kill_worker(self, index: int = 0, sig: int = signal.SIGKILL) -> int:
        w = self._workers[index]
        assert w.proc is not None
        pid = w.proc.pid
        os.kill(pid, sig)
        return pid

    def wait_worker_ready(self, index: int = 0, timeout: float = 120.0) -> None:
        self._wait_http(self._workers[index].address, timeout=timeout)

    def restarts(self) -> int:
        return sum(w.restarts for w in self._workers)

    def stop(self) -> None:
        self._stop.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)
        if self._nginx is not None and self._nginx.poll() is None:
            self._nginx.send_signal(signal.SIGQUIT)  # graceful: finish in-flight requests
            try:
                self._nginx.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._nginx.kill()
                self._nginx.wait()
        for w in self._workers:
            if w.proc is not None and w.proc.poll() is None:
                w.proc.terminate()
        for w in self._workers:
            if w.proc is not None:
                try:
                    w.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    w.proc.kill()
                    w.proc.wait()

    @contextlib.contextmanager
    def running(self, **kwargs: bool) -> Iterator[Cluster]:
        self.start(**kwargs)
        try:
            yield self
        finally:
            self.stop()


def write_config(out: Path, workers: int, listen: str, base_port: int) -> list[Path]:
    """Files for a server: nginx site, environment file, systemd worker unit (one per port)."""
    out.mkdir(parents=True, exist_ok=True)
    upstreams = [f"127.0.0.1:{base_port + i}" for i in range(workers)]
    nginx = render_nginx(listen=listen, upstreams=upstreams, state=Path("/var/lib/ywt/nginx"), run_as="www-data")
    files = {
        "nginx.conf": nginx,
        "ywt-worker@.service": (HERE / "ywt-worker@.service").read_text(),
        "ywt.env": (HERE / "ywt.env.example").read_text(),
    }
    written = []
    for name, text in files.items():
        path = out / name
        path.write_text(text)
        written.append(path)
    ports = " ".join(str(base_port + i) for i in range(workers))
    (out / "START").write_text(
        "ywt init  # once, with the environment of ywt.env\n"
        f"for p in {ports}; do systemctl enable --now ywt-worker@$p; done\n"
        "nginx -c /etc/ywt/nginx.conf   # or include it from /etc/nginx/sites-enabled\n"
    )
    return [*written, out / "START"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="deploy/cluster.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("config", help="write nginx.conf, ywt.env and the systemd unit for a server")
    c.add_argument("--out", required=True)
    c.add_argument("--workers", type=int, default=4)
    c.add_argument("--listen", default="0.0.0.0:80")
    c.add_argument("--base-port", type=int, default=8001)
    r = sub.add_parser("run", help="run workers + nginx in the foreground")
    r.add_argument("--workers", type=int, default=2)
    r.add_argument("--listen", default="127.0.0.1:8080", help="nginx address (loopback port)")
    r.add_argument("--state", default=str(ROOT / "var" / "cluster"))
    r.add_argument("--demo", action="store_true")
    args = p.parse_args(argv)
    if args.cmd == "config":
        for path in write_config(Path(args.out), args.workers, args.listen, args.base_port):
            print(f"wrote {path}")
        return 0
    host, _, port = args.listen.rpartition(":")
    if host not in ("127.0.0.1", "localhost"):
        print("run listens on loopback only; use `config` for a server", file=sys.stderr)
        return 2
    cluster = Cluster(workers=args.workers, listen_port=int(port), state=Path(args.state).resolve())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with cluster.running(demo=args.demo):
        print(f"yiwangtong: {args.workers} workers behind nginx at {cluster.url} (state {cluster.state})", flush=True)
        try:
            while not stop.wait(1):
                pass
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
