"""Drop `scm_reserve`: reservations have one implementation, `inventory.services.reserve_many`, on every
backend (the function was a second copy of the rule, used only by `reserve`, which allocation never
called). Reversing recreates the function exactly as 0003 made it."""

from importlib import import_module

from django.db import migrations

reserve_function = import_module("inventory.migrations.0003_reserve_function")


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0004_drop_indexes_covered_by_composites"),
    ]

    operations = [migrations.RunPython(reserve_function.drop, reserve_function.create)]
