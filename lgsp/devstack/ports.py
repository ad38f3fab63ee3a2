"""Loopback ports: OS-chosen free ones, and a check that the ones we are about to use are free."""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass

from bus.errors import ConfigError


@dataclass(frozen=True)
class PortUse:
    """A port one component will listen on, and the setting it comes from (named in errors)."""

    port: int
    component: str
    setting: str

    def describe(self) -> str:
        flag = "--" + self.setting.removesuffix("_port").replace("_", "-") + "-port"
        return f"{self.component}, from setting {self.setting} (LGSP_DEV__{self.setting.upper()} or {flag})"


def free_port(host: str) -> int:
    """A port the OS reports free on ``host`` right now (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_in_use(host: str, port: int) -> bool:
    """Whether something listens on, or holds, ``host:port``.

    SO_REUSEADDR mirrors what the JVM sets on its server sockets: a port merely in TIME_WAIT counts as free.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def check_distinct(uses: Iterable[PortUse]) -> None:
    """ConfigError when two components would share a port."""
    seen: dict[int, PortUse] = {}
    for use in uses:
        if use.port in seen:
            raise ConfigError(
                f"port {use.port} would be used twice: by {seen[use.port].describe()} and by {use.describe()}"
            )
        seen[use.port] = use


def check_free(host: str, uses: Iterable[PortUse]) -> None:
    """ConfigError naming the port and its setting when any of ``uses`` is already taken."""
    for use in uses:
        if not 0 < use.port <= 65535:
            raise ConfigError(f"port {use.port} is out of range: {use.describe()}")
        if port_in_use(host, use.port):
            raise ConfigError(
                f"port {use.port} on {host} is already in use; needed by {use.describe()}. "
                "Stop whatever holds it, or choose another port (0 lets the OS pick one)"
            )
