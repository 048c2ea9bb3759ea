"""The worker's nightly backup (BACKUP_DIR, BACKUP_KEEP days; off while BACKUP_DIR is unset): a consistent copy of
the database(s) through ``storage.backup`` into BACKUP_DIR, named by its time in Tokyo, and the copies older than
BACKUP_KEEP days removed. Only files this job named are ever removed."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from pathlib import Path

from storage import backup
from storage.clock import now, to_tokyo
from storage.db import is_sqlite, normalize_url

log = logging.getLogger(__name__)

RUN_AT = (4, 0)  # hour, minute in Asia/Tokyo: after the retention purge (03:30), before the day starts
STAMP = "%Y%m%d-%H%M"
NAMED = re.compile(r"^kosodate-(\d{8}-\d{4})(-inbox)?\.(sqlite3|dump)$")


class Nightly:
    """``run()`` writes one backup and prunes old ones; returns the path written."""

    def __init__(self, database_url: str, directory: str, keep_days: int):
        self.database_url = database_url
        self.directory = Path(directory)
        self.keep = timedelta(days=keep_days)

    def run(self) -> Path:
        moment = now()
        suffix = "sqlite3" if is_sqlite(normalize_url(self.database_url)) else "dump"
        path = self.directory / f"kosodate-{to_tokyo(moment).strftime(STAMP)}.{suffix}"
        backup.backup(self.database_url, path)
        removed = self.prune(moment)
        log.info("backup written (%s); %d old backup file(s) removed", path.name, removed)
        return path

    def prune(self, moment: datetime) -> int:
        oldest = to_tokyo(moment - self.keep).replace(tzinfo=None)
        removed = 0
        for file in self.directory.iterdir():
            named = NAMED.match(file.name)
            if named and datetime.strptime(named.group(1), STAMP) < oldest:
                file.unlink()
                removed += 1
        return removed
