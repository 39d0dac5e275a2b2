"""The ``s3`` fixture (registered by conftest): a real S3-compatible server (moto's, on loopback) for the
object-storage tests, with one bucket, :data:`BUCKET`."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import fsspec
import pytest
from fsspec import AbstractFileSystem

BUCKET = "cpunk-test"


@pytest.fixture(scope="module")
def s3() -> Iterator[AbstractFileSystem]:
    """A moto S3 server on loopback with one bucket; the AWS_* variables point every process at it."""
    pytest.importorskip("s3fs", reason="s3fs is not installed (pip install -r requirements.txt)")
    server_mod = pytest.importorskip("moto.server", reason="moto's S3 server is not installed "
                                     "(pip install 'moto[server]', see requirements-dev.txt)")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # moto keeps its buckets in this process, across servers: each module starts with none.
    urllib.request.urlopen(urllib.request.Request(f"http://{host}:{port}/moto-api/reset", method="POST"), timeout=30)
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://{host}:{port}"}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):  # a developer's own settings
            patch.delenv(key, raising=False)
        fs = fsspec.filesystem("s3", skip_instance_cache=True)
        type(fs).clear_instance_cache()  # file systems cached by an earlier module point at its server
        fs.mkdir(BUCKET)
        try:
            yield fs
        finally:
            type(fs).clear_instance_cache()
            server.stop()
