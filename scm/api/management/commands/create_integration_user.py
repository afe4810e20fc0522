"""Create an API client account and print its token (only the token, so scripts can capture it)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from scm.api.services import ROLES, InvalidApiClient, integration_user_create
from scm.roles import INTEGRATION


class Command(BaseCommand):
    help = (
        "Create or update an API client user with one role (default: integration), optionally bound to a "
        "supplier code, and print its API token on stdout."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--supplier", default="", help="Bind the account to this supplier code.")
        parser.add_argument("--role", default=INTEGRATION, choices=ROLES)

    def handle(self, *args, username: str, supplier: str, role: str, **options):
        try:
            client = integration_user_create(username=username, role=role, supplier_code=supplier)
        except InvalidApiClient as exc:
            raise CommandError(exc.message) from exc
        binding = f", bound to supplier {client.supplier_code}" if client.supplier_code else ""
        action = "Created" if client.created else "Updated"
        self.stderr.write(f"{action} {client.role} user {client.username!r}{binding}.")
        self.stdout.write(client.token)
