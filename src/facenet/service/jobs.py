"""Cluster jobs (placeholder until facenet.cluster.run lands)."""

from __future__ import annotations

from typing import Any, Callable


class JobManager:
    def __init__(self, service: Any, factory: Callable[[], Any]) -> None:
        self.service, self.factory = service, factory

    def close(self) -> None:
        pass
