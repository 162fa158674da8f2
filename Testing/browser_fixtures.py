"""Fixtures of the real-browser tests: the web front-end served by a subprocess, Debian's chromium under Playwright.

The server is ``python -m HematomaExpansionWeb`` on a free port of a loopback address, with a temporary
data and output folder; it is killed in the fixture's finaliser. The browser is the system's
``chromium`` (installed by ``tools/install_system_packages.sh``), driven by Playwright's sync API.
Every wait is bounded. Screenshots and the measured numbers go to ``build/test-artifacts/web/``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS_DIR = ROOT / "build" / "test-artifacts" / "web"
INSTALL_SCRIPT = "tools/install_system_packages.sh"
SERVER_START_TIMEOUT_S = 240
SERVER_STOP_TIMEOUT_S = 15
PAGE_TIMEOUT_MS = 120_000
VIEWPORT = {"width": 1600, "height": 1000}


@dataclass
class WebServer:
    """A running ``python -m HematomaExpansionWeb`` and where it serves and writes."""

    process: subprocess.Popen
    host: str
    port: int
    token: str | None
    data_dir: Path
    out_dir: Path
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def url(self) -> str:
        """The address a user opens: with ``?token=`` when the server has a token."""
        return self.base_url + (f"?token={self.token}" if self.token else "")

    def log_tail(self, n_chars: int = 6000) -> str:
        return self.log_path.read_text(errors="replace")[-n_chars:]

    def require_alive(self, during: str) -> None:
        """Fail the test at once, with the server's log, when the server has exited."""
        code = self.process.poll()
        if code is not None:
            pytest.fail(f"the web server exited with code {code} during {during}:\n{self.log_tail()}")

    def peak_rss_mb(self) -> float:
        """Peak resident memory (VmHWM) of the server and of its live child processes, in MiB."""
        processes = [psutil.Process(self.process.pid)]
        with contextlib.suppress(psutil.Error):
            processes += processes[0].children(recursive=True)
        total_kb = 0
        for process in processes:
            with contextlib.suppress(OSError):
                status = Path(f"/proc/{process.pid}/status").read_text()
                total_kb += next(
                    int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")
                )
        return total_kb / 1024.0

    def stop(self) -> None:
        """Terminate the server (kill after a bounded wait), its children with it."""
        if self.process.poll() is not None:
            return
        children: list[psutil.Process] = []
        with contextlib.suppress(psutil.Error):
            children = psutil.Process(self.process.pid).children(recursive=True)
        self.process.terminate()
        try:
            self.process.wait(SERVER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(SERVER_STOP_TIMEOUT_S)
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.kill()


def subprocess_env() -> dict[str, str]:
    """The environment of the server and command-line subprocesses: the package path, and a crash's traceback."""
    return {**os.environ, "PYTHONPATH": str(ROOT / "HematomaExpansion"), "PYTHONFAULTHANDLER": "1"}


def free_port(host: str) -> int:
    """A TCP port that is free on ``host`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def http_get(url: str, timeout_s: float = 10.0) -> tuple[int, str]:
    """(status, body) of a GET, HTTP errors included."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def start_web_server(
    data_dir: Path, out_dir: Path, log_path: Path, *, host: str, token: str | None = None
) -> WebServer:
    """Start the web front-end on a free port of ``host`` and wait until it answers HTTP."""
    port = free_port(host)
    command = [sys.executable, "-m", "HematomaExpansionWeb", "--data", str(data_dir), "--out", str(out_dir)]
    command += ["--host", host, "--port", str(port)] + (["--token", token] if token else [])
    log = log_path.open("w")
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, env=subprocess_env(), cwd=log_path.parent
    )
    log.close()
    server = WebServer(process, host, port, token, data_dir, out_dir, log_path)
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            pytest.fail(
                f"the web server exited with code {process.returncode} at start:\n{server.log_tail()}"
            )
        try:
            http_get(server.url, timeout_s=5.0)
            return server
        except OSError:
            if time.monotonic() > deadline:
                server.stop()
                pytest.fail(
                    f"the web server did not answer within {SERVER_START_TIMEOUT_S} s:\n{server.log_tail()}"
                )
            time.sleep(0.5)


def served_folders(tmp_path: Path) -> tuple[Path, Path]:
    """(data folder, output folder) under ``tmp_path``, new and empty."""
    data_dir, out_dir = tmp_path / "data", tmp_path / "out"
    data_dir.mkdir()
    out_dir.mkdir()
    return data_dir, out_dir


def write_metrics(name: str, values: dict[str, float]) -> None:
    """Merge ``values`` under ``name`` into build/test-artifacts/web/metrics.json."""
    path = ARTIFACTS_DIR / "metrics.json"
    metrics = json.loads(path.read_text()) if path.exists() else {}
    metrics[name] = values
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics, indent=2) + "\n")


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """Debian's chromium; its absence fails the test (never skips) and names the install script."""
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(f"chromium is not installed: run {INSTALL_SCRIPT} (as root), then rerun the tests")
    return path


@pytest.fixture(scope="module")
def browser(chromium_executable):
    """A headless chromium under Playwright for one test module: its sync API runs an event loop in
    this thread until it stops, which asyncio.run in later modules could not start beside."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=PAGE_TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_executable, headless=True, timeout=PAGE_TIMEOUT_MS
        )
        yield launched
        launched.close()


@pytest.fixture
def web_folders(tmp_path) -> tuple[Path, Path]:
    """(data folder, output folder) that the test's server serves and writes to."""
    return served_folders(tmp_path)


@pytest.fixture
def serve(web_folders, tmp_path):
    """``serve(host=..., token=...)`` starts the web front-end on ``web_folders``; killed in the finaliser."""
    servers: list[WebServer] = []

    def start(*, host: str = "127.0.0.1", token: str | None = None) -> WebServer:
        log_path = tmp_path / f"server{len(servers)}.log"
        servers.append(start_web_server(*web_folders, log_path, host=host, token=token))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def page(browser):
    """A new page in its own browser context (downloads accepted, bounded waits), closed afterwards."""
    context = browser.new_context(accept_downloads=True, viewport=VIEWPORT)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    yield context.new_page()
    context.close()
