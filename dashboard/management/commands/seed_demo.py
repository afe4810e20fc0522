"""Load the demo network: users for each role, then master data and a simulated month.

Safe to rerun: users are ensured every time; the network and its month are built once (a
`DemoNetworkSeeded` event marks them), because the event log and the ledger are append-only and a
second month on top of the first would no longer be a believable story. `--if-empty` (used by
bin/run) does nothing at all once the demo users exist.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from dashboard.demo import DemoConfig, Simulation, already_seeded
from scm import roles

DEMO_USERS = (
    ("admin", "admin", None, True),
    ("planner", "planner", roles.PLANNER, False),
    ("ops", "ops", roles.OPS, False),
)


class Command(BaseCommand):
    help = "Create demo users and a believable supply network driven through the real services."

    def add_arguments(self, parser):
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when demo data exists.")
        parser.add_argument("--skus", type=int, default=300, help="How many SKUs (default 300).")
        parser.add_argument("--days", type=int, default=30, help="Days of history to simulate (default 30).")
        parser.add_argument("--orders-per-day", type=int, default=10, help="Average sales orders a day (default 10).")
        parser.add_argument(
            "--prefix",
            default="",
            help="Prefix for every code and username (lets tests seed a shared database without collisions).",
        )
        parser.add_argument("--seed", type=int, default=7, help="Random seed; the same seed tells the same story.")

    def handle(self, *args, if_empty: bool = False, **options):
        prefix = options["prefix"]
        if if_empty and User.objects.filter(username=f"{prefix}planner").exists():
            self.stdout.write("demo data already loaded")
            return
        for name in ("skus", "days", "orders_per_day"):
            if options[name] < 1:
                raise CommandError(f"--{name.replace('_', '-')} must be at least 1.")
        self.ensure_users(prefix)
        if already_seeded(prefix):
            self.stdout.write("demo network already seeded; nothing more to do")
            return
        config = DemoConfig(
            skus=options["skus"],
            days=options["days"],
            orders_per_day=options["orders_per_day"],
            prefix=prefix,
            seed=options["seed"],
        )
        started = time.perf_counter()
        if connection.vendor == "sqlite":
            # Demo data on a laptop: no fsync per transaction (a crash mid-seed just means seeding again).
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA synchronous = OFF")
        dispatch = settings.EVENT_DISPATCH_ON_COMMIT
        # The simulation feeds the subscribers itself at each step of the day, in order.
        settings.EVENT_DISPATCH_ON_COMMIT = False
        try:
            report = Simulation(config, say=self.stdout.write).run()
        finally:
            settings.EVENT_DISPATCH_ON_COMMIT = dispatch
        for note in report.notes[:20]:
            self.stdout.write(f"note: {note}")
        totals = ", ".join(f"{key} {value}" for key, value in sorted(report.counts.items()))
        self.stdout.write(self.style.SUCCESS(f"demo network seeded in {time.perf_counter() - started:.1f} s: {totals}"))

    def ensure_users(self, prefix: str) -> None:
        for username, password, role, superuser in DEMO_USERS:
            name = f"{prefix}{username}"
            user, created = User.objects.get_or_create(
                username=name, defaults={"is_staff": True, "is_superuser": superuser}
            )
            if created:
                user.set_password(password)
                user.save()
            if role:
                user.groups.add(Group.objects.get(name=role))
            self.stdout.write(f"user {name} ({role or 'superuser'}){' created' if created else ''}")
