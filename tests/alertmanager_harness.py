"""Debian's Alertmanager for tests, on the project's own config, and a webhook receiver to see what it sends.

    receiver = WebhookReceiver()                      # HTTP on 127.0.0.1, records every notification
    config = render_alertmanager_config(tmp_path, receiver.url, wait="1s")
    with running_alertmanager(config, tmp_path) as am:  # its host:port goes into Prometheus's alerting config
        ...

:func:`render_alertmanager_config` copies ``deploy/alertmanager/alertmanager.yml`` changing only what a test
must: the receivers' webhook host (the path stays, so each receiver is still told apart) and the grouping
delays (seconds instead of minutes). Routes, matchers, receivers and inhibition rules stay as operators run
them. Clustering is off (``--cluster.listen-address=``): a single instance must not bind a gossip port.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml

from tests.prometheus_harness import REPO, free_port, require_binary, stop_process, wait_ready

CONFIG = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
_DELAYS = ("group_wait", "group_interval")


def render_alertmanager_config(dest: Path, webhook_url: str, *, wait: str = "1s") -> Path:
    """The project's config with every webhook sent to ``webhook_url`` (same paths) and every
    ``group_wait``/``group_interval`` set to ``wait``; written to ``dest/alertmanager.yml``."""
    config: dict[str, Any] = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    base = urlsplit(webhook_url)
    for receiver in config["receivers"]:
        for webhook in receiver.get("webhook_configs", []):
            webhook["url"] = (
                urlsplit(webhook["url"])._replace(scheme=base.scheme, netloc=base.netloc).geturl()
            )
    routes = [config["route"]]
    while routes:
        route = routes.pop()
        for key in _DELAYS:
            if key in route:
                route[key] = wait
        routes.extend(route.get("routes", []))
    path = dest / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Notification:
    """One alert of one webhook notification."""

    path: str
    alertname: str
    status: str
    labels: dict[str, str]


@dataclass
class WebhookReceiver:
    """An HTTP server on 127.0.0.1 (a free port) recording Alertmanager's webhook notifications; close it."""

    received: list[Notification] = field(default_factory=list)

    def __post_init__(self) -> None:
        lock = threading.Lock()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    received.extend(
                        Notification(self.path, a["labels"]["alertname"], a["status"], a["labels"])
                        for a in body["alerts"]
                    )
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None  # quiet: the test prints what it needs

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def alerts(self, alertname: str, status: str = "firing") -> list[Notification]:
        """The notifications received so far for ``alertname`` in ``status``."""
        return [n for n in list(self.received) if n.alertname == alertname and n.status == status]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@dataclass
class AlertmanagerServer:
    """A running Alertmanager: ``address`` (host:port, for Prometheus) and its v2 API."""

    address: str
    process: subprocess.Popen[bytes]
    log: Path

    def alerts(self) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``: every alert it holds, with ``status.state`` (active, suppressed) and
        ``status.inhibitedBy``."""
        response = httpx.get(f"http://{self.address}/api/v2/alerts", timeout=10)
        response.raise_for_status()
        return list(response.json())


@contextmanager
def running_alertmanager(
    config: Path, workdir: Path, start_timeout_s: float = 60.0
) -> Iterator[AlertmanagerServer]:
    """Debian's ``prometheus-alertmanager`` on a free loopback port with ``config``, ready when the block
    starts, stopped when it ends."""
    binary = require_binary("prometheus-alertmanager")
    address = f"127.0.0.1:{free_port()}"
    log = workdir / "alertmanager.log"
    args = [
        binary,
        f"--config.file={config}",
        f"--storage.path={workdir / 'alertmanager-data'}",
        f"--web.listen-address={address}",
        "--cluster.listen-address=",
        "--log.level=info",
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(args, stdout=sink, stderr=subprocess.STDOUT, cwd=workdir)
    try:
        wait_ready("alertmanager", f"http://{address}", process, log, start_timeout_s)
        yield AlertmanagerServer(address, process, log)
    finally:
        stop_process(process)
