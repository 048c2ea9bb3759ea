"""Staff's お知らせ: the parent's opt-out (pure)."""
