"""Processing and delivery: the lanes that turn stored webhook events into replies, and the LINE gateway."""
