"""Reports of lost or misused join details, loan requests, and staff's side in the chat (pure)."""
