"""A scripted visitor of a Streamlit server, as a hostile one would write it: raw HTTP (``http.client``) and
Streamlit's websocket protocol (the ``websockets`` client Streamlit installs). Loopback only; every loop
bounded. Used by ``tests/browser/test_hostile.py`` and ``bench/hostile_memory.py``.
"""

from __future__ import annotations

import http.client
import inspect
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.sync.client import ClientConnection, connect

XSRF = "_streamlit_xsrf"
# websockets 16 warns when a connection is opened outside a ``with`` block unless asked for it explicitly.
_OPEN = {"legacy": True} if "legacy" in inspect.signature(connect).parameters else {}


def open_socket(url: str, **options) -> ClientConnection:
    """A websocket to the server at ``url`` (``http://...``): Streamlit's ``/_stcore/stream``, subprotocol
    ``streamlit``, closed without waiting long for the server's answer."""
    return connect(url.replace("http", "ws", 1) + "/_stcore/stream", close_timeout=1, **{**_OPEN, **options})


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


def request(url: str, method: str = "GET", path: str = "/", body: bytes | None = None,
            headers: dict[str, str] | None = None, timeout: float = 30) -> Reply:
    """One HTTP request to the server at ``url`` (``http://127.0.0.1:PORT``), whatever its answer."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        reply = conn.getresponse()
        return Reply(reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read())
    except (ConnectionError, http.client.HTTPException) as exc:  # a server that drops the request
        return Reply(0, {}, str(exc).encode())
    finally:
        conn.close()


def multipart(name: str, data: bytes, boundary: str = "cpunkboundary") -> tuple[bytes, dict[str, str]]:
    """A one-file ``multipart/form-data`` body as Streamlit's uploader sends it, and its content type."""
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


@dataclass
class Visitor:
    """One scripted browser: its XSRF cookie (from the first page load) and, once :meth:`connect` ed, a
    Streamlit session over the websocket."""

    url: str
    cookie: str = ""
    session_id: str = ""
    socket: ClientConnection | None = field(default=None, repr=False)
    received: list[ForwardMsg] = field(default_factory=list, repr=False)

    def load(self) -> Reply:
        """GET the page, then the health check, keeping the XSRF cookie it sets (as the browser's page does)."""
        reply = request(self.url, path="/")
        cookie = request(self.url, path="/_stcore/health").headers.get("set-cookie", "")
        if cookie.startswith(f"{XSRF}="):
            self.cookie = cookie.split(";", 1)[0].split("=", 1)[1]
        return reply

    def connect(self, page: str = "", query: str = "", timeout_s: float = 60) -> ForwardMsg:
        """Open the websocket, run the app's script for ``page`` and return the session's ``new_session``."""
        self.socket = open_socket(self.url, subprotocols=["streamlit", self.cookie or "x"],
                                  additional_headers={"Origin": self.url, "Cookie": f"{XSRF}={self.cookie}"},
                                  open_timeout=timeout_s, max_size=None)
        self.rerun(page, query)
        found = self.until(lambda m: m.WhichOneof("type") == "new_session", timeout_s)
        self.session_id = found.new_session.initialize.session_id
        return found

    def rerun(self, page: str = "", query: str = "") -> None:
        message = BackMsg()
        message.rerun_script.query_string = query
        message.rerun_script.page_name = page
        assert self.socket is not None
        self.socket.send(message.SerializeToString())

    def send(self, message: BackMsg) -> None:
        assert self.socket is not None
        self.socket.send(message.SerializeToString())

    def until(self, done, timeout_s: float = 60, max_messages: int = 5_000) -> ForwardMsg:
        """Read messages (kept in :attr:`received`) until ``done(message)``; at most ``max_messages``."""
        assert self.socket is not None
        for _ in range(max_messages):
            message = ForwardMsg()
            message.ParseFromString(self.socket.recv(timeout=timeout_s))
            self.received.append(message)
            if done(message):
                return message
        raise TimeoutError(f"no such message in {max_messages}")

    def finished(self, timeout_s: float = 120) -> ForwardMsg:
        """Wait for the current script run to finish."""
        return self.until(lambda m: m.WhichOneof("type") == "script_finished", timeout_s)

    def upload(self, data: bytes, name: str = "song.wav", file_id: str | None = None,
               session_id: str | None = None, headers: dict[str, str] | None = None) -> Reply:
        """PUT a file to the upload endpoint as this browser (its cookie and XSRF header)."""
        body, content_type = multipart(name, data)
        path = f"/_stcore/upload_file/{session_id or self.session_id}/{file_id or uuid.uuid4()}"
        sent = {**content_type, "Cookie": f"{XSRF}={self.cookie}", "X-Xsrftoken": self.cookie, **(headers or {})}
        return request(self.url, "PUT", path, body, sent)

    def widget_id(self, kind: str, label: str) -> str:
        """The id of the ``kind`` widget (e.g. ``file_uploader``) whose label starts with ``label``."""
        for message in reversed(self.received):
            if message.WhichOneof("type") == "delta" and message.delta.WhichOneof("type") == "new_element":
                element = message.delta.new_element
                if element.WhichOneof("type") == kind and getattr(element, kind).label.startswith(label):
                    return getattr(element, kind).id
        raise LookupError(f"no {kind} labelled {label!r}")

    def drop_files(self, label: str, files: list[tuple[str, bytes]], page: str = "classify") -> list[int]:
        """What a browser does when files are dropped on the uploader labelled ``label``: PUT each, then rerun
        ``page`` with the uploader holding them. Returns the PUTs' statuses."""
        widget = self.widget_id("file_uploader", label)
        message, statuses = BackMsg(), []
        message.rerun_script.page_name = page
        state = message.rerun_script.widget_states.widgets.add()
        state.id = widget
        for name, data in files:
            file_id = str(uuid.uuid4())
            statuses.append(self.upload(data, name, file_id).status)
            info = state.file_uploader_state_value.uploaded_file_info.add()
            info.file_id, info.name, info.size = file_id, name, len(data)
            info.file_urls.file_id = file_id
            info.file_urls.upload_url = info.file_urls.delete_url = f"/_stcore/upload_file/{self.session_id}/{file_id}"
        self.send(message)
        return statuses

    def texts(self, since: int = 0) -> str:
        """Every text element the script sent (markdown, alerts, captions), from message ``since`` on."""
        out = []
        for message in self.received[since:]:
            if message.WhichOneof("type") == "delta" and message.delta.WhichOneof("type") == "new_element":
                element = message.delta.new_element
                kind = element.WhichOneof("type")
                if kind in ("markdown", "alert", "text", "exception", "heading"):
                    out.append(str(getattr(element, kind)))
        return "\n".join(out)

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close()
            self.socket = None
