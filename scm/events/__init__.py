"""The append-only event log shared by every app (the project's shared kernel).

Write with `scm.events.store.append`, read with the readers in the same module, follow the log
with `scm.events.subscriptions`.
"""
