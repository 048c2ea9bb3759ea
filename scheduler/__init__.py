"""The worker process: APScheduler jobs over the inbox and the outbox. Runs only in ``kosodate worker``."""
