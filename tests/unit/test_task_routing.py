"""Every task of ours has a queue chosen for it, and every periodic task is guarded against piling up
(scm/queues.py, scm/periodic.py). A new task that nobody routed fails here, not in production."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings

from scm import queues
from scm.celery import app
from scm.periodic import PeriodicTask, interval_seconds

ROOT = Path(settings.BASE_DIR)


def our_packages() -> tuple[str, ...]:
    """Top-level packages of the installed apps that live in this repository."""
    return tuple(
        sorted(
            {config.name.split(".")[0] + "." for config in apps.get_app_configs() if ROOT in Path(config.path).parents}
        )
    )


def our_tasks() -> list[str]:
    app.loader.import_default_modules()
    return sorted(name for name in app.tasks if name.startswith(our_packages()))


def test_our_tasks_are_found():
    assert {"orders.", "scm.", "shipments.", "suppliers.", "partners."} <= set(our_packages())
    assert len(our_tasks()) >= 19  # the count today; fewer means discovery broke, not that tasks left


@pytest.mark.parametrize("name", our_tasks())
def test_every_task_of_ours_is_routed_to_a_known_queue(name):
    assert name in queues.TASK_QUEUES, f"{name} has no queue: add it to scm.queues.TASK_QUEUES"
    assert queues.TASK_QUEUES[name] in queues.ALL
    # The route Celery itself computes when the task is sent.
    assert app.amqp.router.route({}, name)["queue"].name == queues.TASK_QUEUES[name]


def test_every_route_names_a_registered_task():
    assert sorted(queues.TASK_QUEUES) == our_tasks()


def test_the_routes_settings_come_from_scm_queues():
    assert settings.CELERY_TASK_ROUTES == queues.task_routes()
    # A worker without -Q serves every declared queue. (Compared with the settings, not with
    # app.amqp.queues, which also gains any queue a test has sent a task to by name.)
    assert set(settings.CELERY_TASK_QUEUES) == set(queues.ALL)
    assert set(queues.ALL) <= set(app.amqp.queues)
    assert settings.CELERY_TASK_DEFAULT_QUEUE != queues.WORKFLOW


def test_the_workflow_and_slow_partner_io_never_share_a_worker_group():
    served = [queue for group in queues.WORKER_GROUPS.values() for queue in group]
    assert sorted(served) == sorted(queues.ALL)  # each queue served by exactly one group
    for group in queues.WORKER_GROUPS.values():
        if queues.WORKFLOW in group:
            assert queues.WEBHOOKS not in group and queues.PARTNERS not in group


@pytest.mark.parametrize("entry", sorted(settings.CELERY_BEAT_SCHEDULE))
def test_every_beat_entry_is_routed_expires_before_its_next_tick_and_runs_alone(entry):
    schedule = settings.CELERY_BEAT_SCHEDULE[entry]
    name = schedule["task"]
    assert name in queues.TASK_QUEUES
    assert 0 < schedule["options"]["expires"] < interval_seconds(schedule["schedule"])
    app.loader.import_default_modules()
    assert isinstance(app.tasks[name], PeriodicTask), f"{name} runs periodically: give it base=PeriodicTask"


def _procfile(name: str) -> dict[str, str]:
    lines = (ROOT / name).read_text().splitlines()
    return dict(line.split(":", 1) for line in lines if line.strip() and not line.startswith("#"))


def _queues_of(command: str) -> set[str]:
    match = re.search(r"-Q\s+(\S+)", command)
    return set(match.group(1).split(",")) if match else set()


def test_the_production_procfile_runs_one_worker_per_group_and_beat_alone():
    processes = _procfile("Procfile")
    for group, group_queues in queues.WORKER_GROUPS.items():
        assert group in processes, f"Procfile has no {group}"
        assert _queues_of(processes[group]) == set(group_queues)
        assert "--beat" not in processes[group] and " -B" not in processes[group]
    assert "celery -A scm beat" in processes["beat"]


def test_the_single_machine_procfile_serves_every_queue_and_keeps_partner_io_out_of_the_workflow():
    workers = {name: _queues_of(command) for name, command in _procfile("Procfile.single").items() if "-Q" in command}
    assert sorted(q for served in workers.values() for q in served) == sorted(queues.ALL)
    workflow = next(served for served in workers.values() if queues.WORKFLOW in served)
    assert not workflow & {queues.WEBHOOKS, queues.PARTNERS}
    assert sum("--beat" in command for command in _procfile("Procfile.single").values()) == 1
