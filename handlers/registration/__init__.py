"""Registration, consent to the policy, one's own details: the conversation (pure)."""
