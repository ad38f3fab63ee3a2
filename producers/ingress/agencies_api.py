"""``GET /v1/agencies/{code}``: what the agency catalog knows about a code, as ``lgsp agencies show`` says.

No key is needed: the catalog is public. A code the catalog does not list is a 404 problem that still says
what its shape tells (level, parent, province), and a malformed one a 422 naming the expected form.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from bus.agencies import load_catalog
from bus.agency_lookup import describe
from bus.errors import ValidationError
from producers.ingress.problems import FieldError, ProblemError, ProblemKind

agencies_router = APIRouter()


@agencies_router.get(
    "/v1/agencies/{code}",
    summary="Look an agency code up in the catalog",
    description="Name, kind, level, province, parent, and whom a key of this agency may publish for. "
    "404 for a well-formed code the catalog does not list, 422 for a malformed one.",
    tags=["agencies"],
)
async def get_agency(code: str) -> dict[str, Any]:
    try:
        info = describe(code, load_catalog())
    except ValidationError as exc:
        raise ProblemError(
            ProblemKind.INVALID_EVENT,
            f"{code!r} is not a QĐ 20/2020 agency code, e.g. 000.00.00.H41 or 000.00.03.H29",
            errors=[FieldError("code", exc.rule or "agency_code.shape", str(exc))],
        ) from exc
    if not info.known:
        raise ProblemError(
            ProblemKind.NOT_FOUND,
            f"agency {code} is not in the catalog (lgsp agencies search TEXT finds codes by name)",
            extra={"agency": info.to_json()},
        )
    return info.to_json()
