"""Gallery routes: subjects (list, create, rename, merge, delete), their faces (add from a
photo, remove) and the faces' thumbnails."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from facenet.service.auth import require
from facenet.service.errors import ApiError
from facenet.service.uploads import decode_upload

router = APIRouter(prefix="/api/v1", tags=["gallery"])


class NameBody(BaseModel):
    name: str = Field(..., min_length=1, max_length=200)


class IntoBody(BaseModel):
    into: str = Field(..., min_length=1, max_length=200)


def parse_box(text: str | None) -> tuple[float, float, float, float] | None:
    """'x1,y1,x2,y2' -> 4 floats (ApiError 422 otherwise)."""
    if text is None or not text.strip():
        return None
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        vals = ()
    if len(vals) != 4 or not all(v == v and abs(v) < 1e7 for v in vals) or vals[2] <= vals[0] or vals[3] <= vals[1]:
        raise ApiError(422, "validation_error", f"box: expected 'x1,y1,x2,y2' with x2 > x1 and y2 > y1. Got {text[:60]!r}")
    return vals  # type: ignore[return-value]


@router.get("/subjects", summary="Every enrolled person with their faces")
def list_subjects(request: Request, key: Any = Depends(require("read"))) -> list[dict[str, Any]]:
    return request.app.state.service.subjects()


@router.post("/subjects", status_code=201, summary="Create a person with no faces yet (409 if the name is taken)")
def create_subject(request: Request, body: NameBody, key: Any = Depends(require("enrol"))) -> dict[str, Any]:
    return request.app.state.service.create_subject(body.name)


@router.patch("/subjects/{name}", summary="Rename a person (404 unknown, 409 new name taken)")
def rename_subject(request: Request, name: str, body: NameBody, key: Any = Depends(require("enrol"))) -> dict[str, Any]:
    return request.app.state.service.rename(name, body.name)


@router.post("/subjects/{name}/merge", summary="Move every face of a person to another and delete the first")
def merge_subject(request: Request, name: str, body: IntoBody, key: Any = Depends(require("enrol"))) -> dict[str, Any]:
    return request.app.state.service.merge(name, body.into)


@router.delete("/subjects/{name}", summary="Delete a person and their faces (admin)")
def delete_subject(request: Request, name: str, key: Any = Depends(require("admin"))) -> dict[str, Any]:
    return request.app.state.service.remove(name)


@router.post("/subjects/{name}/faces", status_code=201,
             summary="Enrol one face of a photo for a person (created when missing): 'face' index, or 'box', "
                     "or the photo's only face")
async def add_face(request: Request, name: str, image: UploadFile = File(...), face: int | None = Form(None, ge=0),
                   box: str | None = Form(None), key: Any = Depends(require("enrol"))) -> JSONResponse:
    from facenet.gallery.store import check_subject_name

    svc = request.app.state.service
    try:
        name = check_subject_name(name, "name", "enrol")
    except ValueError as exc:
        raise ApiError(422, "validation_error", str(exc)) from None
    b = parse_box(box)
    data = await image.read()
    sha = hashlib.sha256(data).hexdigest()
    source = (image.filename or "upload")[:200]

    def work(p: Any) -> dict[str, Any]:
        return svc.enrol_face(p, name, decode_upload(data, svc.config.max_pixels, "image"), sha, face, b, source)

    return JSONResponse(await svc.pool.run(work), status_code=201)


@router.delete("/subjects/{name}/faces/{face_id}", summary="Remove one face of a person")
def remove_face(request: Request, name: str, face_id: int, key: Any = Depends(require("enrol"))) -> dict[str, Any]:
    return request.app.state.service.remove_face(name, face_id)


@router.get("/faces/{face_id}/thumbnail", summary="The 112x112 JPEG crop kept for an enrolled face",
            response_class=Response, responses={200: {"content": {"image/jpeg": {}}}})
async def thumbnail(request: Request, face_id: int, key: Any = Depends(require("read"))) -> Response:
    data = await run_in_threadpool(request.app.state.service.thumbnail, face_id)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})
