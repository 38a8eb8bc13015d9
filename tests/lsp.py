"""A minimal Language Server Protocol client over stdio, for driving a real server in tests.

Messages are JSON-RPC framed by a ``Content-Length`` header (LSP base protocol). A reader
thread sorts what the server sends: replies by id, ``publishDiagnostics`` by document,
and requests from the server (configuration, capability registration) get an answer
at once so the server never waits on us.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from pathlib import Path
from typing import Any


class LanguageServer:
    """One language server process; use as a context manager."""

    def __init__(self, command: list[str], root: Path, settings: dict[str, Any]) -> None:
        self.root = root
        self.settings = settings
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        self._ids = 0
        self._replies: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._diagnostics: dict[str, list[dict[str, Any]]] = {}
        self._arrived = threading.Condition()
        self._opened: set[str] = set()
        threading.Thread(target=self._read, daemon=True).start()

    # -- framing ------------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    return  # the server ended
                line = line.strip()
                if not line:
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            if length is None:
                continue
            self._dispatch(json.loads(out.read(length)))

    def _dispatch(self, msg: dict[str, Any]) -> None:
        if "id" in msg and "method" in msg:  # a request from the server
            result: Any = None
            if msg["method"] == "workspace/configuration":
                result = [self.settings.get(item.get("section", ""), None)
                          for item in msg["params"]["items"]]
            self._send({"id": msg["id"], "result": result})
        elif "id" in msg:
            with self._lock:
                box = self._replies.get(msg["id"])
            if box is not None:
                box.put(msg)
        elif msg.get("method") == "textDocument/publishDiagnostics":
            with self._arrived:
                self._diagnostics[msg["params"]["uri"]] = msg["params"]["diagnostics"]
                self._arrived.notify_all()

    # -- the protocol -------------------------------------------------------------------

    def request(self, method: str, params: dict[str, Any], timeout: float = 30) -> Any:
        """Send a request; its result (an error reply raises)."""
        with self._lock:
            self._ids += 1
            ident = self._ids
            box: queue.Queue[dict[str, Any]] = queue.Queue()
            self._replies[ident] = box
        self._send({"id": ident, "method": method, "params": params})
        try:
            reply = box.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no reply to {method} in {timeout} s") from None
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result")

    def notify(self, method: str, params: dict[str, Any]) -> None:
        """Send a notification (no reply)."""
        self._send({"method": method, "params": params})

    def start(self) -> LanguageServer:
        """Initialize, then hand the server its settings (as an editor does)."""
        self.request("initialize", {
            "processId": None, "rootUri": self.root.as_uri(),
            "capabilities": {"textDocument": {
                "hover": {"contentFormat": ["markdown", "plaintext"]},
                "completion": {"completionItem": {"documentationFormat": ["markdown",
                                                                          "plaintext"]}},
                "publishDiagnostics": {}}},
            "workspaceFolders": [{"uri": self.root.as_uri(), "name": self.root.name}],
        })
        self.notify("initialized", {})
        self.notify("workspace/didChangeConfiguration", {"settings": self.settings})
        return self

    def open(self, path: Path, text: str | None = None) -> str:
        """Open ``path`` (with ``text``, else its contents); its document URI.

        Each document is opened once: a closed one would publish empty diagnostics
        later, which could pass for the next version's.
        """
        uri = path.as_uri()
        if uri in self._opened:
            raise ValueError(f"{uri} is open already: use another name")
        self._opened.add(uri)
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "yaml", "version": 1,
            "text": path.read_text() if text is None else text}})
        return uri

    def diagnostics(self, uri: str, timeout: float = 30, settle: float = 0.2) -> list[dict]:
        """The diagnostics the server published for ``uri`` once they stopped changing."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while uri not in self._diagnostics:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no diagnostics for {uri} in {timeout} s")
                self._arrived.wait(left)
            # A server may publish again (e.g. once the schema is loaded): wait for quiet.
            while True:
                seen = self._diagnostics[uri]
                self._arrived.wait(settle)
                if self._diagnostics[uri] is seen or time.monotonic() > deadline:
                    return seen

    def close(self) -> None:
        """Shut the server down politely, then make sure it is gone."""
        try:
            self.request("shutdown", {}, timeout=5)
            self.notify("exit", {})
            self.proc.wait(timeout=5)
        except (TimeoutError, OSError, RuntimeError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> LanguageServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
