"""What the worker says about itself: one heartbeat row per worker role, for the health check and the metrics."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.clock import now
from storage.models.base import Base
from storage.types import UTCDateTime


class WorkerHeartbeat(Base):
    """Upserted on every heartbeat tick of a worker process. ``name`` is the role ("worker", or
    "worker:outbox-deliver" for a process running only some jobs), so restarts and new hosts reuse the row: the
    table stays as small as the Procfile. A dead worker shows as an old ``last_tick_at`` (bot/pages.py, /healthz)."""

    __tablename__ = "worker_heartbeats"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    # The worker's jobs, comma-separated ("inbox-sweep,outbox-deliver,…").
    jobs: Mapped[str] = mapped_column(String(400))
    # Where it runs, for the operator: the host name and process id (no personal data).
    host: Mapped[str] = mapped_column(String(100))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_tick_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
