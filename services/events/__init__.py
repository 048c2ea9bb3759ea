"""Events: facts for the flows, the operations the chat and the console share, their notices."""
