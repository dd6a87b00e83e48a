"""What the simulator remembers about each request, for tests to read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass
class RequestRecord:
    """One request as received and answered (no headers: the key must not be kept)."""

    at: datetime
    method: str
    path: str
    query: str
    body: Any
    endpoint: str
    authorized: bool = False
    status: int | None = None
    code: int | None = None
    fault: str | None = None
    task_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "body": self.body,
            "endpoint": self.endpoint,
            "authorized": self.authorized,
            "status": self.status,
            "code": self.code,
            "fault": self.fault,
            "task_id": self.task_id,
        }
