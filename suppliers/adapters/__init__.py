"""Adapters: where the suppliers app talks to the outside (X12 today; JSON and CSV feeds beside it).

Adapters stay thin: bytes in, canonical dataclasses out, or one precise parse error. They hold no
business rules and never touch the database; the services decide what a parsed message means.
"""
