"""A hostile visitor against one public-mode server (started once for the module) and the nginx deployment in
front of it (``deploy/classically-punk.nginx.conf``): raw HTTP, Streamlit's websocket, and two Chromium checks.
Loopback only; every loop bounded. README "Deploying the demo" lists each attempt and where it is tested.
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from browser_harness import REPO_ROOT, StreamlitServer, free_port, open_page, rerun_after, upload_files
from hostile_client import Visitor, multipart, open_socket, request
from playwright.sync_api import expect
from streamlit.proto.BackMsg_pb2 import BackMsg
from websockets.exceptions import InvalidStatus, WebSocketException

from core.data.explore import synthetic_table
from core.data.store import write_parquet_atomic
from core.features.schema import SEED

DEPLOY = REPO_ROOT / "deploy" / "classically-punk.nginx.conf"
UPLOAD_MB = 2  # the test server's server.maxUploadSize (small, so an oversized upload costs nothing)
LEAKS = ("root:x:0:0", "import streamlit", "Traceback", 'File "', "enableXsrfProtection")


class Site:
    """The public server and what it shares (``shared``) or must never show (``secret``, the temp folder)."""

    def __init__(self, url: str, shared: Path, secret: Path, root: Path):
        self.url, self.shared, self.secret, self.root = url, shared, secret, root

    def leaks(self, text: str) -> list[str]:
        """What in ``text`` should never reach a visitor: file contents, tracebacks, server paths."""
        return [s for s in (*LEAKS, str(self.root), str(REPO_ROOT)) if s in text]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("hostile")
    shared, secret = root / "shared", root / "secret"
    (shared / "metal").mkdir(parents=True)
    secret.mkdir()
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(22_050 * 3) / 22_050)
    sf.write(shared / "metal" / "metal.00000.wav", tone, 22_050)
    sf.write(secret / "private.wav", tone, 22_050)
    extreme = synthetic_table(SEED, n_tracks=20)
    numeric = extreme.select_dtypes("float").columns
    extreme[numeric] = extreme[numeric] / extreme[numeric].abs().max().max() * 1.5e308  # finite; sums overflow
    write_parquet_atomic(extreme, shared / "extreme.parquet")
    (shared / "metal" / "leak.wav").symlink_to(secret / "private.wav")
    server = StreamlitServer({"CPUNK_MODE": "public", "CPUNK_ALLOWED_DIRS": str(shared),
                              "STREAMLIT_SERVER_MAX_UPLOAD_SIZE": str(UPLOAD_MB),
                              "STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL": "1"})
    with server:
        yield Site(server.url, shared, secret, root)


def uploads_held(url: str) -> int:
    """Bytes Streamlit holds for uploads now (its own metrics)."""
    for line in request(url, path="/_stcore/metrics").text.splitlines():
        if 'cache_type="UploadedFileManager"' in line:
            return int(float(line.rsplit(" ", 1)[1]))
    return 0


def healthy(url: str) -> bool:
    return request(url, path="/_stcore/health").status == 200


@pytest.mark.parametrize("path", [
    "/../../../../etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/static/../../app.py", "/app.py",
    "/.streamlit/config.toml", "/media/../../../etc/passwd", "/media/%2e%2e%2fapp.py",
    "/component/x/..%2f..%2f..%2fetc%2fpasswd", "/_stcore/static/..%2f..%2fapp.py", "/app/static/../../app.py",
])
def test_no_path_serves_a_file_outside_the_app(site, path):
    reply = request(site.url, path=path)
    assert not site.leaks(reply.text), (reply.status, reply.text[:300])


def test_the_upload_endpoint_refuses_forged_malformed_and_oversized_requests(site):
    visitor = Visitor(site.url)
    visitor.load()
    visitor.connect()
    try:
        assert visitor.upload(b"x" * 1000).status == 204  # the genuine request works
        assert visitor.upload(b"x", headers={"X-Xsrftoken": ""}).status == 403  # no XSRF token
        other = Visitor(site.url)
        other.load()
        assert visitor.upload(b"x", headers={"X-Xsrftoken": other.cookie}).status == 403  # another browser's token
        assert visitor.upload(b"x", session_id=str(uuid.uuid4())).status == 400  # a session that does not exist
        assert visitor.upload(b"x", session_id="../../etc").status in (400, 404)
        assert request(site.url, "PUT", f"/_stcore/upload_file/{visitor.session_id}/{uuid.uuid4()}", b"not a form",
                       {"Content-Type": "text/plain", "Cookie": f"_streamlit_xsrf={visitor.cookie}",
                        "X-Xsrftoken": visitor.cookie}).status == 400  # a body that is not a file
        big = b"x" * (UPLOAD_MB * 1024 * 1024 + 1)
        assert visitor.upload(big).status == 413  # over server.maxUploadSize, by its Content-Length
        assert chunked_upload(visitor, big) == 413  # no Content-Length: cut off while streaming
    finally:
        visitor.close()
    assert healthy(site.url)


def chunked_upload(visitor: Visitor, data: bytes) -> int:
    """PUT ``data`` with ``Transfer-Encoding: chunked`` (no Content-Length), in 64 KB chunks; the status."""
    import http.client
    from urllib.parse import urlsplit

    body, headers = multipart("big.wav", data)
    parts = urlsplit(visitor.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("PUT", f"/_stcore/upload_file/{visitor.session_id}/{uuid.uuid4()}",
                     body=(body[i:i + 65_536] for i in range(0, len(body), 65_536)),
                     headers={**headers, "Cookie": f"_streamlit_xsrf={visitor.cookie}", "X-Xsrftoken": visitor.cookie},
                     encode_chunked=True)
        return conn.getresponse().status
    except ConnectionError:
        return 413  # the server closed the connection once the body passed its limit
    finally:
        conn.close()


def test_files_sent_with_made_up_ids_are_freed_when_their_session_ends(site):
    """Streamlit keeps every upload of a session in memory, under any id the client makes up, until the session
    ends; ui.upload_memory frees them once the session has been gone for disconnectedSessionTTL (Streamlit
    alone never does). The proxy limits how many arrive: test_the_proxy_refuses_..."""
    visitor = Visitor(site.url)
    visitor.load()
    visitor.connect()
    visitor.finished()  # as a browser would: the first page run starts the server's upload sweeper
    assert all(visitor.upload(b"\0" * 100_000, file_id=f"made-up-{i}").status == 204 for i in range(10))
    assert uploads_held(site.url) >= 1_000_000  # the first look at the metrics this module: not cached
    visitor.close()  # the session ends disconnectedSessionTTL after its socket closed (1 s here, 120 s by default)
    assert eventually(lambda: uploads_held(site.url) == 0)  # every session of this module has ended


def eventually(condition, tries: int = 40, pause_s: float = 0.5) -> bool:
    """Whether ``condition()`` holds within ``tries`` looks (Streamlit's metrics are cached for 5 s)."""
    for _ in range(tries):
        if condition():
            return True
        time.sleep(pause_s)
    return False


def test_websocket_abuse_gets_plain_answers_and_leaves_the_server_running(site):
    visitor = Visitor(site.url)
    visitor.load()
    visitor.connect(page="../../../etc/passwd", query="job=" + "0" * 64 + "&x=" + "y" * 100_000)  # a path as page
    visitor.finished()
    assert not site.leaks(visitor.texts())
    shutdown = BackMsg()
    shutdown.debug_shutdown_runtime = True  # honoured only in Streamlit's development mode
    visitor.send(shutdown)
    stop = BackMsg()
    stop.stop_script = True
    visitor.send(stop)
    assert visitor.socket is not None
    visitor.socket.send(b"\xff" * 1000)  # not a message at all
    visitor.close()
    assert healthy(site.url)
    again = Visitor(site.url)
    again.load()
    assert again.connect().new_session.initialize.session_id  # a new visitor still gets a session
    again.close()


def test_a_websocket_from_another_site_gets_no_session(site):
    """Cross-site websocket hijacking: a page on another origin opening the app's socket with the visitor's
    cookies is refused before any session starts."""
    visitor = Visitor(site.url)
    visitor.load()
    with pytest.raises((InvalidStatus, WebSocketException, OSError, TimeoutError)):
        with open_socket(site.url, subprotocols=["streamlit"], open_timeout=10, additional_headers={
                "Origin": "http://evil.example", "Cookie": f"_streamlit_xsrf={visitor.cookie}"}) as evil:
            evil.recv(timeout=10)


# --- the nginx deployment ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def proxy(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``deploy/classically-punk.nginx.conf`` (ports changed) in a non-root nginx with its own prefix."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.skip("nginx is missing (scripts/test.sh installs Debian's nginx)")
    prefix = tmp_path_factory.mktemp("nginx")
    port = free_port()
    site_conf = DEPLOY.read_text()
    for deployed, tested in (("server 127.0.0.1:8501;", f"server 127.0.0.1:{site.url.rsplit(':', 1)[1]};"),
                             ("    listen 80;\n    listen [::]:80;\n", f"    listen 127.0.0.1:{port};\n")):
        assert deployed in site_conf
        site_conf = site_conf.replace(deployed, tested)
    (prefix / "site.conf").write_text(site_conf)
    temps = "\n".join(f"    {kind}_temp_path {prefix}/{kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                             "uwsgi", "scgi"))
    (prefix / "nginx.conf").write_text(
        f"user {getpass.getuser()};\nworker_processes 1;\ndaemon off;\npid {prefix}/nginx.pid;\n"
        f"error_log {prefix}/error.log;\nevents {{ worker_connections 256; }}\n"
        f"http {{\n    access_log off;\n{temps}\n    include {prefix}/site.conf;\n}}\n")
    process = subprocess.Popen([nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e",
                                str(prefix / "error.log")], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            if process.poll() is not None:
                pytest.fail(f"nginx exited: {(prefix / 'error.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_proxy_refuses_an_oversized_upload_and_a_burst_of_uploads(proxy):
    visitor = Visitor(proxy)
    assert visitor.load().status == 200 and visitor.cookie  # the app, through the proxy
    visitor.connect()
    try:
        assert visitor.upload(b"x" * 1000).status == 204
        body, headers = multipart("huge.wav", b"x" * 100)
        oversized = request(proxy, "PUT", f"/_stcore/upload_file/{visitor.session_id}/{uuid.uuid4()}", body,
                            {**headers, "Content-Length": str(60 * 1024 * 1024), "Cookie": f"_streamlit_xsrf={visitor.cookie}",
                             "X-Xsrftoken": visitor.cookie}, timeout=10)
        assert oversized.status == 413  # over client_max_body_size 51m: refused before the body is read
        statuses = [visitor.upload(b"x" * 1000).status for _ in range(25)]  # a burst from one address
        assert statuses[:19] == [204] * 19 and 429 in statuses  # 20 in the burst (one sent above), then refused
    finally:
        visitor.close()
    assert request(proxy, path="/_stcore/metrics").status == 404  # the server's internals stay inside


def test_the_proxy_limits_open_websockets_per_address(proxy):
    sockets, refused = [], 0
    try:
        for _ in range(12):  # the configuration allows 10 tabs per address
            try:
                sockets.append(open_socket(proxy, subprotocols=["streamlit"], additional_headers={"Origin": proxy},
                                           open_timeout=10))
            except InvalidStatus as exc:
                assert exc.response.status_code == 503
                refused += 1
    finally:
        for s in sockets:
            s.close()
    assert len(sockets) == 10 and refused == 2


# --- two checks in a real browser -----------------------------------------------------------------------------


def test_a_file_name_that_is_markdown_loads_nothing_and_reads_as_typed(site, page, tmp_path):
    name = "![x](pixel.png) [click](javascript:alert(1)) **b** <img src=pixel.gif>.wav"
    (tmp_path / name).write_bytes(b"not audio at all")
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    open_page(page, f"{site.url}/classify")
    upload_files(page, "Drop one or many songs", tmp_path / name)
    errors = page.locator('[data-testid="stAlert"]')
    expect(errors.first).to_contain_text(name)
    assert not [u for u in requested if "pixel" in u]  # no image was fetched
    assert page.locator('[data-testid="stMain"] a[href^="javascript"]').count() == 0  # no live link
    assert not site.leaks(page.locator('[data-testid="stApp"]').inner_text())


def test_a_table_of_extreme_values_shows_no_traceback_or_server_path(site, page):
    open_page(page, f"{site.url}/explore")
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Feature table").first.click()
    rerun_after(page, page.get_by_role("option", name="Dataset: extreme.parquet").click)
    text = page.locator('[data-testid="stApp"]').inner_text()
    assert "20 of 20 tracks" in text, text[-2000:]  # the table was read
    assert not site.leaks(text) and not site.leaks(page.content())  # every tab's content, shown or not
