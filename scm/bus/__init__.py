"""The event bus: a relay that publishes the committed event log to NATS JetStream.

See docs/EVENT_BUS.md. Off unless NATS_URL is set; nothing else in the system depends on it.
"""
