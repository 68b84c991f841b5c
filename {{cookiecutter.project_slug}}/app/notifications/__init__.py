"""Notifications: accepting them into the outbox, delivering them from it (the worker)."""
