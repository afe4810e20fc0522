from django.apps import AppConfig
from django.db.models.signals import post_migrate

# Ops work in the Django admin; these apps' models are theirs to read, and to change where the
# model admin allows it (the admins themselves route every write through the domain services).
OPS_ADMIN_APPS = ("inventory", "orders", "shipments", "suppliers", "events", "webhooks", "outbound")


def grant_ops_admin_permissions(sender=None, using="default", **kwargs) -> None:
    """Give the ops group view, add and change permissions on the domain apps' models (never delete).

    Runs after every migrate, so models added later are covered; idempotent.
    """
    from django.contrib.auth.models import Group, Permission

    group = Group.objects.using(using).filter(name="ops").first()
    if group is None:
        return
    wanted = Permission.objects.using(using).filter(
        content_type__app_label__in=OPS_ADMIN_APPS, codename__regex=r"^(view|add|change)_"
    )
    group.permissions.add(*wanted)


class DashboardConfig(AppConfig):
    name = "dashboard"

    def ready(self) -> None:
        post_migrate.connect(grant_ops_admin_permissions, dispatch_uid="dashboard.grant_ops_admin_permissions")
