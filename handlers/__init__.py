"""Conversation flows and business rules. No Flask, no LINE SDK, no SQL text: pure steps plus effects."""
