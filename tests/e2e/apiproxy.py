"""An API server that reports an older Kubernetes: the suite's real one behind a loopback proxy that
rewrites only `GET /version`, and records every request that would change something.

So the provider's real discovery (client-go, Helm's capabilities) meets a cluster too old for
the program, without building an old Kubernetes: everything but the version is the real server.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "accept-encoding",
               "upgrade", "proxy-connection"}


class VersionProxy:
    def __init__(self, kubeconfig: Path, git_version: str, folder: Path):
        config = yaml.safe_load(kubeconfig.read_text())
        context = next(c["context"] for c in config["contexts"] if c["name"] == config["current-context"])
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
        self.upstream = cluster["server"].removeprefix("https://")
        self.git_version = git_version
        self.folder = Path(tempfile.mkdtemp(prefix="apiproxy-", dir=folder))
        files = {}
        for name, data in (("ca", cluster["certificate-authority-data"]), ("crt", user["client-certificate-data"]),
                           ("key", user["client-key-data"])):
            files[name] = self.folder / name
            files[name].write_bytes(base64.b64decode(data))
        self.tls = ssl.create_default_context(cafile=str(files["ca"]))
        self.tls.load_cert_chain(str(files["crt"]), str(files["key"]))
        self.writes: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def kubeconfig(self, context: str = "old-cluster") -> Path:
        path = self.folder / "kubeconfig"
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": context,
            "clusters": [{"name": context, "cluster": {"server": f"http://127.0.0.1:{self.port}"}}],
            "users": [{"name": context, "user": {}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        }))
        return path

    def __enter__(self) -> "VersionProxy":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _rewrite(self, body: bytes) -> bytes:
        info = json.loads(body)
        major, minor = self.git_version.removeprefix("v").split(".")[:2]
        info.update(gitVersion=self.git_version, major=major, minor=minor)
        return json.dumps(info).encode()

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if self.command not in ("GET", "HEAD", "OPTIONS"):
                    proxy.writes.append(f"{self.command} {self.path}")
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                upstream = http.client.HTTPSConnection(proxy.upstream, context=proxy.tls, timeout=60)
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    data = response.read()
                finally:
                    upstream.close()
                if self.command == "GET" and self.path.split("?")[0] == "/version" and response.status == 200:
                    data = proxy._rewrite(data)
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in HOP_HEADERS:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        return Handler
