"""What ``lgsp dev status`` reports: each component as ready / starting / not running / failed."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any


class State(StrEnum):
    READY = "ready"
    STARTING = "starting"  # the process runs but does not answer yet
    NOT_RUNNING = "not running"  # never started, or stopped by `down`
    FAILED = "failed"  # started by `up`, then died


@dataclass(frozen=True)
class ComponentStatus:
    """One process of the stack; ``detail`` says why it failed (exit status, last error line of its log)."""

    name: str
    state: State
    endpoint: str
    pid: int | None
    log_file: Path
    detail: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state.value,
            "endpoint": self.endpoint,
            "pid": self.pid,
            "log_file": str(self.log_file),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class StackStatus:
    """The whole stack: its components and the endpoints clients use."""

    state_dir: Path
    components: tuple[ComponentStatus, ...]
    bootstrap_servers: str | None
    registry_url: str | None

    @property
    def ready(self) -> bool:
        return bool(self.components) and all(c.state is State.READY for c in self.components)

    def component(self, name: str) -> ComponentStatus:
        for status in self.components:
            if status.name == name:
                return status
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "state_dir": str(self.state_dir),
            "bootstrap_servers": self.bootstrap_servers,
            "registry_url": self.registry_url,
            "components": [c.to_json() for c in self.components],
        }
