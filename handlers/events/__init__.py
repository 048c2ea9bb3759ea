"""Events: the list, applying, one's applications, reminders' texts, feedback (pure)."""
