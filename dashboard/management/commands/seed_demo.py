"""Load the demo network: users for each role, then master data and a simulated month."""

from __future__ import annotations

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand

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

    def handle(self, *args, if_empty: bool = False, **options):
        if if_empty and User.objects.filter(username="planner").exists():
            self.stdout.write("demo data already loaded")
            return
        for username, password, role, superuser in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username, defaults={"is_staff": True, "is_superuser": superuser}
            )
            if created:
                user.set_password(password)
                user.save()
            if role:
                user.groups.add(Group.objects.get(name=role))
            self.stdout.write(f"user {username} ({role or 'superuser'})")
