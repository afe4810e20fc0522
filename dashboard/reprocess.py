"""Dashboard pages for bulk reprocess (thin views over suppliers.services.reprocessing and
suppliers.profiles.selectors): ops start a run for one supplier and reason code, watch its progress
and the outcome per message, stop it and resume it. Everyone with a dashboard role may watch."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from dashboard.access import dashboard_view, is_ops, ops_only
from scm.errors import DomainError
from suppliers.profiles import selectors as profile_selectors
from suppliers.profiles.models import ReprocessRunStatus
from suppliers.services import reprocessing


@require_POST
@ops_only
def reprocess_start(request: HttpRequest) -> HttpResponse:
    supplier, reason = request.POST.get("supplier", ""), request.POST.get("reason_code", "")
    try:
        run = reprocessing.reprocess_run_start(
            supplier=supplier, reason_code=reason, actor=f"user:{request.user.get_username()}"
        )
    except DomainError as exc:
        messages.error(request, f"Not reprocessed: {exc.message}")
        return redirect("dashboard:exceptions")
    reprocessing.reprocess_run_enqueue(run_id=run.pk)
    messages.info(request, f"Reprocessing {run.total} message(s) of {supplier} quarantined with {reason}.")
    return redirect("dashboard:reprocess_run", run_id=run.pk)


@require_GET
@dashboard_view
def reprocess_run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = profile_selectors.reprocess_run(run_id=run_id)
    if run is None:
        raise Http404(f"No reprocess run {run_id}.")
    return render(
        request,
        "dashboard/reprocess_run.html",
        {
            "run": run,
            "attempts": list(run.attempts.all()),
            "running": run.status == ReprocessRunStatus.RUNNING,
            "is_ops": is_ops(request.user),
            "nav": "exceptions",
        },
    )


@require_POST
@ops_only
def reprocess_run_stop(request: HttpRequest, run_id: int) -> HttpResponse:
    reprocessing.reprocess_run_stop(run_id=run_id)
    messages.info(request, f"Run {run_id} stops after the message it is on.")
    return redirect("dashboard:reprocess_run", run_id=run_id)


@require_POST
@ops_only
def reprocess_run_resume(request: HttpRequest, run_id: int) -> HttpResponse:
    if profile_selectors.reprocess_run(run_id=run_id) is None:
        raise Http404(f"No reprocess run {run_id}.")
    reprocessing.reprocess_run_enqueue(run_id=run_id)
    messages.info(request, f"Run {run_id} resumed.")
    return redirect("dashboard:reprocess_run", run_id=run_id)
