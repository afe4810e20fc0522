"""Supplier profiles in the API: read the current version and its history; ops save a new version.

    GET   /api/v1/supplier-profiles/?supplier=ACME                  current version of each profile
    GET   /api/v1/supplier-profiles/ACME/856/                        the current version (404 before the first)
    PUT   /api/v1/supplier-profiles/ACME/856/   {settings, note, expected_version}   replace → new version
    PATCH /api/v1/supplier-profiles/ACME/856/   {settings: {date_formats: ...}, ...} change some fields
    GET   /api/v1/supplier-profiles/ACME/856/versions/[3/]           history, one version

Who may: every API role reads (a supplier-bound token only its own supplier's profiles); only ops
write, and never through a token bound to a supplier (a supplier must not loosen how its own
documents are checked). A save that changes nothing answers 200 with the current version; a new
version answers 201. `expected_version` guards against two editors (409 `profile_version_conflict`).
Document types: 856, 855, 810, 846 (DESADV, ORDRSP, INVOIC, INVRPT name the same profiles).

Bulk reprocess after a profile change (ops only, never a supplier-bound token):

    POST /api/v1/reprocess-runs/   {supplier, reason_code}   202 with the run (progress, attempts)
    GET  /api/v1/reprocess-runs/7/                            the run: done/total, counts, outcome per message
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory.api.views import errors
from scm.api.pagination import CursorPagination
from scm.api.parsers import JSONParser
from scm.api.permissions import OWN, RolePermission
from scm.api.supplier_scope import bound_supplier_code, scope_to_bound_supplier
from scm.errors import NotFound
from scm.roles import INTEGRATION, PLANNER
from suppliers.profiles import selectors
from suppliers.profiles.models import ReprocessAttempt, ReprocessRun, SupplierProfileVersion
from suppliers.profiles.reading import profile_document_type
from suppliers.profiles.settings import FIELDS
from suppliers.services import reprocessing
from suppliers.services.profiles import supplier_profile_update

READ = (PLANNER, INTEGRATION)
#: Reads for every role; writes for ops only (RolePermission adds ops to every grant).
PROFILE_GRANTS = {"get": READ, "put": (), "patch": ()}
#: A supplier-bound token reads its own supplier's profiles and runs (the views scope them), never writes.
OWN_READS = {"get": OWN}


class ProfileNotFound(NotFound):
    code = "profile_not_found"

    def __init__(self, supplier: str, document_type: str, version: int | None = None) -> None:
        which = f"version {version} of the" if version else "the"
        super().__init__(
            f"Supplier {supplier!r} has no {which} {document_type} profile yet (it is read with the defaults).",
            supplier=supplier,
            document_type=document_type,
        )


class UnknownDocumentType(NotFound):
    code = "profile_not_found"

    def __init__(self, code: str) -> None:
        super().__init__(
            f"{code!r} is not a document type with a profile (856, 855, 810, 846, or DESADV, ORDRSP, INVOIC, INVRPT).",
            document_type=code,
        )


def _document_type(code: str) -> str:
    """The profile document type a URL names; an unknown one is a resource that does not exist (404)."""
    found = profile_document_type(code) if len(code) <= 16 else None
    if found is None:
        raise UnknownDocumentType(code[:16])
    return found


class ProfileVersionSerializer(serializers.ModelSerializer):
    supplier = serializers.CharField(source="supplier.code")

    class Meta:
        model = SupplierProfileVersion
        fields = [
            "supplier",
            "document_type",
            "version",
            "settings",
            "changed_fields",
            "note",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class ProfileWriteSerializer(serializers.Serializer):
    settings = serializers.DictField(help_text=f"Profile fields: {', '.join(FIELDS)} (docs/SUPPLIERS.md).")
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    expected_version = serializers.IntegerField(
        min_value=0, required=False, help_text="The version you read (0: none yet); 409 if it moved on."
    )


class ProfileQuerySerializer(serializers.Serializer):
    supplier = serializers.CharField(max_length=64, required=False)


def _versions(request) -> QuerySet[SupplierProfileVersion]:
    return scope_to_bound_supplier(SupplierProfileVersion.objects.select_related("supplier"), request.user)


def _current(request, supplier: str, document_type: str) -> SupplierProfileVersion | None:
    return _versions(request).filter(supplier__code=supplier, document_type=document_type).order_by("-version").first()


def _refuse_bound(request) -> None:
    code = bound_supplier_code(request.user)
    if code is not None:
        raise PermissionDenied(f"This token is bound to supplier {code}; supplier profiles are changed by ops only.")


@extend_schema(
    summary="Current supplier profiles",
    parameters=[OpenApiParameter("supplier", str, description="Only this supplier's profiles.")],
    responses={200: ProfileVersionSerializer(many=True)},
)
class SupplierProfileListView(generics.ListAPIView):
    permission_classes = [RolePermission]
    role_grants = PROFILE_GRANTS
    supplier_grants = OWN_READS
    serializer_class = ProfileVersionSerializer
    pagination_class = CursorPagination
    ordering = "-pk"

    def get_queryset(self) -> QuerySet[SupplierProfileVersion]:
        query = ProfileQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        current = selectors.current_profiles(supplier=query.validated_data.get("supplier"))
        return scope_to_bound_supplier(current, self.request.user)


# What a PUT or PATCH of a profile answers (both write a new version).
WRITE_RESPONSES = {
    200: ProfileVersionSerializer,
    201: ProfileVersionSerializer,
    **errors(
        e400="A field the profile cannot mean (`invalid_profile`, naming the field).",
        e403="Not ops, or a token bound to a supplier.",
        e404="No such supplier or document type.",
        e409="`expected_version` is not the current version (`profile_version_conflict`).",
    ),
}


class SupplierProfileDetailView(APIView):
    permission_classes = [RolePermission]
    role_grants = PROFILE_GRANTS
    supplier_grants = OWN_READS
    parser_classes = [JSONParser]

    @extend_schema(
        summary="Read a supplier profile (current version)",
        responses={200: ProfileVersionSerializer, **errors(e404="No such profile yet (`profile_not_found`).")},
    )
    def get(self, request, supplier: str, document_type: str):
        document_type = _document_type(document_type)
        current = _current(request, supplier, document_type)
        if current is None:
            raise ProfileNotFound(supplier, document_type)
        return Response(ProfileVersionSerializer(current).data)

    @extend_schema(
        summary="Replace a supplier profile (a new version)",
        request=ProfileWriteSerializer,
        responses=WRITE_RESPONSES,
    )
    def put(self, request, supplier: str, document_type: str):
        return self._save(request, supplier, document_type, merge=False)

    @extend_schema(
        summary="Change some fields of a supplier profile (a new version)",
        description="Fields given in `settings` replace those of the current version; the others stay.",
        request=ProfileWriteSerializer,
        responses=WRITE_RESPONSES,
    )
    def patch(self, request, supplier: str, document_type: str):
        return self._save(request, supplier, document_type, merge=True)

    def _save(self, request, supplier: str, document_type: str, *, merge: bool) -> Response:
        _refuse_bound(request)
        document_type = _document_type(document_type)
        data = ProfileWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        settings = dict(data.validated_data["settings"])
        if merge:
            current = _current(request, supplier, document_type)
            settings = {**(current.settings if current else {}), **settings}
        version, created = supplier_profile_update(
            supplier=supplier,
            document_type=document_type,
            settings=settings,
            note=data.validated_data["note"],
            expected_version=data.validated_data.get("expected_version"),
            actor=f"user:{request.user.get_username()}",
        )
        return Response(
            ProfileVersionSerializer(version).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class SupplierProfileVersionsView(APIView):
    permission_classes = [RolePermission]
    role_grants = PROFILE_GRANTS
    supplier_grants = OWN_READS

    @extend_schema(
        summary="A supplier profile's versions, newest first",
        responses={
            200: ProfileVersionSerializer(many=True),
            **errors(e404="No such document type, or no profile of this supplier (`profile_not_found`)."),
        },
    )
    def get(self, request, supplier: str, document_type: str):
        document_type = _document_type(document_type)
        rows = list(
            _versions(request).filter(supplier__code=supplier, document_type=document_type).order_by("-version")[:500]
        )
        if not rows:  # none yet, or another supplier's (a bound token learns nothing about who else trades)
            raise ProfileNotFound(supplier, document_type)
        return Response(ProfileVersionSerializer(rows, many=True).data)


class SupplierProfileVersionView(APIView):
    permission_classes = [RolePermission]
    role_grants = PROFILE_GRANTS
    supplier_grants = OWN_READS

    @extend_schema(
        summary="One version of a supplier profile",
        responses={200: ProfileVersionSerializer, **errors(e404="No such version (`profile_not_found`).")},
    )
    def get(self, request, supplier: str, document_type: str, version: int):
        document_type = _document_type(document_type)
        found = (
            _versions(request).filter(supplier__code=supplier, document_type=document_type, version=version).first()
            if 0 < version < 2**31
            else None
        )
        if found is None:
            raise ProfileNotFound(supplier, document_type, version)
        return Response(ProfileVersionSerializer(found).data)


# --- Bulk reprocess ------------------------------------------------------------------------------


class ReprocessRunInputSerializer(serializers.Serializer):
    supplier = serializers.CharField(max_length=64)
    reason_code = serializers.CharField(max_length=64, help_text="The quarantine reason code, e.g. x12_invalid_date.")


class ReprocessAttemptSerializer(serializers.ModelSerializer):
    message = serializers.IntegerField(source="message_id")

    class Meta:
        model = ReprocessAttempt
        fields = ["message", "outcome", "profile_versions", "errors", "attempted_at"]
        read_only_fields = fields


class ReprocessRunSerializer(serializers.ModelSerializer):
    supplier = serializers.CharField(source="supplier.code")
    attempts = ReprocessAttemptSerializer(many=True)

    class Meta:
        model = ReprocessRun
        fields = [
            "id",
            "supplier",
            "reason_code",
            "status",
            "total",
            "done",
            "counts",
            "requested_by",
            "started_at",
            "finished_at",
            "attempts",
        ]
        read_only_fields = fields


def _run(request, run_id: int) -> ReprocessRun:
    rows = scope_to_bound_supplier(
        ReprocessRun.objects.select_related("supplier").prefetch_related("attempts"), request.user
    )
    found = rows.filter(pk=run_id).first() if 0 < run_id < 2**63 else None
    if found is None:
        raise ReprocessRunNotFound(run_id)
    return found


class ReprocessRunNotFound(NotFound):
    code = "reprocess_run_not_found"

    def __init__(self, run_id: int) -> None:
        super().__init__(f"No reprocess run {run_id}.", id=run_id)


class ReprocessRunListView(APIView):
    permission_classes = [RolePermission]
    role_grants = {"post": ()}  # ops only
    supplier_grants = {}
    parser_classes = [JSONParser]

    @extend_schema(
        summary="Reprocess all of a supplier's messages quarantined with one reason",
        description="Selects the supplier's QUARANTINED messages whose errors include `reason_code` (oldest first) "
        "and reprocesses each in its own transaction, recording one attempt per message. Answers 202 with the "
        "run; follow `/reprocess-runs/{id}/` for progress and the outcome per message. A message never applies "
        "twice, also when two runs overlap.",
        request=ReprocessRunInputSerializer,
        responses={
            202: ReprocessRunSerializer,
            **errors(
                e400="No reason code given.",
                e403="Not ops, or a token bound to a supplier.",
                e404="No such supplier (`supplier_not_found`).",
            ),
        },
    )
    def post(self, request):
        _refuse_bound(request)
        data = ReprocessRunInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = reprocessing.reprocess_run_start(
            supplier=data.validated_data["supplier"],
            reason_code=data.validated_data["reason_code"],
            actor=f"user:{request.user.get_username()}",
        )
        reprocessing.reprocess_run_enqueue(run_id=run.pk)
        return Response(
            ReprocessRunSerializer(_run(request, run.pk)).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": f"/api/v1/reprocess-runs/{run.pk}/"},
        )


class ReprocessRunDetailView(APIView):
    permission_classes = [RolePermission]
    role_grants = PROFILE_GRANTS
    supplier_grants = OWN_READS

    @extend_schema(
        summary="A bulk reprocess run: progress and the outcome per message",
        responses={200: ReprocessRunSerializer, **errors(e404="No such run (`reprocess_run_not_found`).")},
    )
    def get(self, request, run_id: int):
        return Response(ReprocessRunSerializer(_run(request, run_id)).data)
