"""Persistence: typed SQLAlchemy models, the unit-of-work session scope, and named queries.

Repository functions take a ``Session`` first and never commit: the caller owns the transaction.
"""
