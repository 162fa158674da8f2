"""The web front-end's access and file rules, without a browser.

The token rule on a real aiohttp server (page, files and websocket refused without the token,
accepted with it or its cookie, cross-site websockets refused), the host rule, paths kept inside
the data folder (``..``, absolute paths, symbolic links out), and uploads (size limit, plain names,
read-only copies in a private folder). The last test starts the real server process.
"""

from __future__ import annotations

import asyncio
import os
import re
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from aiohttp import WSServerHandshakeError, web
from aiohttp.test_utils import TestClient, TestServer

from HematomaExpansionLib.common.errors import InputError
from HematomaExpansionWeb import page_ids
from HematomaExpansionWeb.data_files import BYTES_PER_MB, Upload, UploadStore, path_in_data_folder
from HematomaExpansionWeb.security import (
    TOKEN_COOKIE,
    AccessRule,
    access_token,
    page_url,
)

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "s3cret-token-for-the-tests-0123456789"


def _app(rule: AccessRule) -> web.Application:
    async def page(_request: web.Request) -> web.Response:
        return web.Response(text="<html>the page</html>", content_type="text/html")

    async def socket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str("hello")
        await ws.close()
        return ws

    app = web.Application(middlewares=[rule.middleware])
    app.router.add_get("/index.html", page)
    app.router.add_get("/ws", socket)
    return app


def _run(scenario) -> None:
    async def main() -> None:
        async with TestClient(TestServer(_app(AccessRule(TOKEN)))) as client:
            await scenario(client)

    asyncio.run(main())


def test_a_request_without_the_token_is_refused_with_403_and_the_refusal_page():
    async def scenario(client: TestClient) -> None:
        for query in ("", "?token=wrong", f"?token={TOKEN[:-1]}"):
            response = await client.get(f"/index.html{query}")
            assert response.status == 403
            assert f'id="{page_ids.TOKEN_REFUSED_PAGE}"' in await response.text()
        with pytest.raises(WSServerHandshakeError) as refused:
            await client.ws_connect("/ws")
        assert refused.value.status == 403

    _run(scenario)


def test_the_token_opens_the_page_and_its_cookie_the_websocket():
    async def scenario(client: TestClient) -> None:
        response = await client.get(f"/index.html?token={TOKEN}")
        assert response.status == 200 and "the page" in await response.text()
        cookie = response.cookies[TOKEN_COOKIE]
        assert cookie.value == TOKEN and cookie["httponly"] and cookie["samesite"] == "Strict"
        # The client keeps the cookie: later requests (scripts, websocket) need no token in the URL.
        assert (await client.get("/index.html")).status == 200
        ws = await client.ws_connect("/ws")
        assert (await ws.receive_str()) == "hello"
        await ws.close()

    _run(scenario)


def test_a_cross_site_websocket_is_refused_even_with_the_token():
    async def scenario(client: TestClient) -> None:
        with pytest.raises(WSServerHandshakeError) as refused:
            await client.ws_connect(f"/ws?token={TOKEN}", origin="http://evil.example")
        assert refused.value.status == 403
        own = f"http://{client.server.host}:{client.server.port}"
        ws = await client.ws_connect(f"/ws?token={TOKEN}", origin=own)
        assert (await ws.receive_str()) == "hello"
        await ws.close()

    _run(scenario)


def test_without_a_token_rule_loopback_requests_pass():
    async def main() -> None:
        async with TestClient(TestServer(_app(AccessRule(None)))) as client:
            assert (await client.get("/index.html")).status == 200

    asyncio.run(main())


def test_the_host_rule_requires_a_token_for_any_host_but_127_0_0_1():
    assert access_token("127.0.0.1", None) is None
    for host in ("0.0.0.0", "192.168.1.20", "127.0.0.2", "localhost", "::"):
        first, second = access_token(host, None), access_token(host, None)
        assert first and second and first != second and len(first) >= 40  # random, 32 bytes
    assert access_token("127.0.0.1", TOKEN) == TOKEN
    with pytest.raises(InputError, match="at least 16 characters"):
        access_token("0.0.0.0", "short")
    assert page_url("0.0.0.0", 8080, "abc") == "http://0.0.0.0:8080/index.html?token=abc"
    assert page_url("::1", 9, None) == "http://[::1]:9/index.html"


def test_paths_outside_the_data_folder_are_refused(tmp_path):
    data = tmp_path / "data"
    (data / "series").mkdir(parents=True)
    (data / "ct.nrrd").write_bytes(b"x")
    (tmp_path / "secret.nrrd").write_bytes(b"secret")
    (data / "link_out.nrrd").symlink_to(tmp_path / "secret.nrrd")
    (data / "series" / "slice1.dcm").symlink_to(tmp_path / "secret.nrrd")
    assert path_in_data_folder(data, "ct.nrrd") == (data / "ct.nrrd").resolve()
    assert path_in_data_folder(data, " ./series/../ct.nrrd ") == (data / "ct.nrrd").resolve()
    for escaping in ("../secret.nrrd", str(tmp_path / "secret.nrrd"), "link_out.nrrd", "/etc/passwd"):
        with pytest.raises(InputError, match="outside the served data folder"):
            path_in_data_folder(data, escaping)
    with pytest.raises(InputError, match="holds links out of the data folder"):
        path_in_data_folder(data, "series")
    with pytest.raises(InputError, match="not found in the data folder"):
        path_in_data_folder(data, "missing.nrrd")
    with pytest.raises(InputError, match="Give a path inside the data folder"):
        path_in_data_folder(data, "  ")


def test_uploads_over_the_limit_are_refused_before_anything_is_written(tmp_path):
    store = UploadStore(tmp_path / "uploads", max_upload_mb=1)
    too_big = Upload("ct.nrrd", b"\0" * (BYTES_PER_MB + 1))
    with pytest.raises(InputError, match=r"the upload is 1\.0 MB, more than this server's limit of 1 MB"):
        store.store([too_big])
    with pytest.raises(InputError, match="limit"):
        store.store(
            [Upload("a.dcm", b"\0" * (BYTES_PER_MB // 2 + 1)), Upload("b.dcm", b"\0" * (BYTES_PER_MB // 2))]
        )
    assert list(store.root.iterdir()) == []


def test_uploads_are_private_read_only_copies_under_plain_names(tmp_path):
    store = UploadStore(tmp_path / "uploads", max_upload_mb=1)
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700
    path = store.store([Upload("../../evil/../ct.nrrd", b"CT bytes")])
    assert path.name == "ct.nrrd" and path.parent.parent == store.root
    assert path.read_bytes() == b"CT bytes"
    assert stat.S_IMODE(path.stat().st_mode) == 0o400
    if os.geteuid() != 0:  # root ignores file permissions
        with pytest.raises(PermissionError):
            path.write_bytes(b"changed")
    series = store.store([Upload("1.dcm", b"one"), Upload("C:\\scans\\2.dcm", b"two")])
    assert series.is_dir() and sorted(p.name for p in series.iterdir()) == ["1.dcm", "2.dcm"]
    for bad in ("", "..", ".hidden"):
        with pytest.raises(InputError, match="not a plain file name"):
            store.store([Upload(bad, b"x")])
    with pytest.raises(InputError, match="duplicate names"):
        store.store([Upload("a/1.dcm", b"x"), Upload("b/1.dcm", b"y")])
    store.remove_all()
    assert not store.root.exists()


def _get_status(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_the_server_on_another_host_prints_a_tokened_address_and_refuses_requests_without_it(tmp_path):
    """The real server process: bad options end with exit code 2; off 127.0.0.1 a token guards page and results."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "HematomaExpansion")}
    command = [sys.executable, "-m", "HematomaExpansionWeb", "--out", str(tmp_path / "out")]
    bad = subprocess.run(
        [*command, "--data", str(tmp_path / "none")], env=env, capture_output=True, text=True
    )
    assert bad.returncode == 2 and "error: --data" in bad.stderr and "is not a folder" in bad.stderr
    (tmp_path / "data").mkdir()
    server = subprocess.Popen(
        [*command, "--data", str(tmp_path / "data"), "--port", "0", "--host", "127.0.0.2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = ""
        while "open http" not in line:
            line = server.stdout.readline()
            assert line or server.poll() is None, "the server ended before printing its address"
        url = re.search(r"open (http://\S+)", line).group(1)
        match = re.fullmatch(r"(http://127\.0\.0\.2:\d+)/index\.html\?token=([\w-]{40,})", url)
        assert match, url  # --host without --token: a random token, printed in the address
        base, token = match.groups()
        status, text = _get_status(f"{base}/index.html")
        assert status == 403 and page_ids.TOKEN_REFUSED_PAGE in text
        assert _get_status(f"{base}/results/x/report.html")[0] == 403
        assert _get_status(url)[0] == 200
        assert _get_status(f"{base}/results/../../etc/passwd?token={token}")[0] == 404
    finally:
        server.terminate()
        server.wait(timeout=60)
