"""Cluster-job routes: start a job on uploaded photos or a folder under a ``--photos`` root,
follow its progress, read its result and face thumbnails, and review it (name a cluster, which
enrols it; merge two; move a face out)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from facenet.service import review
from facenet.service.auth import require
from facenet.service.errors import ApiError

router = APIRouter(prefix="/api/v1/cluster/jobs", tags=["cluster"])

_START_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["images"], "properties": {
        "images": {"type": "array", "items": {"type": "string", "format": "binary"}}}}},
    "application/json": {"schema": {"type": "object", "required": ["folder"], "properties": {
        "folder": {"type": "string", "description": "a folder relative to a --photos root"}}}}}}}


class NameBody(BaseModel):
    name: str = Field(..., min_length=1, max_length=200)


class IntoBody(BaseModel):
    into: int


class SplitBody(BaseModel):
    min_size: int = Field(2, ge=1, le=10_000, description="the fewest faces either part may have")


@router.post("", status_code=202, openapi_extra=_START_BODY,
             summary="Start clustering uploaded photos (multipart 'images') or a folder under a --photos root (JSON)")
async def start_job(request: Request, key: Any = Depends(require("enrol"))) -> JSONResponse:
    svc = request.app.state.service
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(422, "validation_error", "the body is not valid JSON") from None
        if not isinstance(body, dict) or "folder" not in body:
            raise ApiError(422, "validation_error", "folder: field required")
        job = await run_in_threadpool(svc.jobs.submit_folder, body["folder"])
    elif ctype == "multipart/form-data":
        limit = svc.config.max_images
        try:
            form = await request.form(max_files=limit + 1, max_fields=limit + 16)
        except ApiError:
            raise
        except StarletteHTTPException as exc:
            if "files" in str(exc.detail).lower():
                raise ApiError(413, "too_many_images", f"more than {limit} photos sent; at most {limit} per job") from None
            raise ApiError(400, "bad_request", "the multipart body cannot be parsed") from None
        files = []
        for item in form.getlist("images"):
            if isinstance(item, str):
                raise ApiError(422, "validation_error", "images: expected files, got a text field")
            files.append((item.filename or "", await item.read()))
        await form.close()
        job = await run_in_threadpool(svc.jobs.submit_uploads, files)
    else:
        raise ApiError(415, "unsupported_media_type", "send multipart/form-data 'images' or JSON {\"folder\": ...}")
    return JSONResponse({"job_id": job.id, "state": job.state}, status_code=202)


@router.get("/{job_id}", summary="A job's state, progress and (when done) result")
def get_job(request: Request, job_id: str, key: Any = Depends(require("read"))) -> dict[str, Any]:
    return request.app.state.service.jobs.describe(job_id)


@router.get("/{job_id}/faces/{face_key}/thumbnail", summary="The thumbnail of one face of a job",
            response_class=Response, responses={200: {"content": {"image/jpeg": {}}}})
def job_thumbnail(request: Request, job_id: str, face_key: str, key: Any = Depends(require("read"))) -> Response:
    data = request.app.state.service.jobs.thumbnail(job_id, face_key)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


@router.post("/{job_id}/clusters/{cluster_id}/name", summary="Name a cluster: its faces are enrolled under that name")
def name_cluster(request: Request, job_id: str, cluster_id: int, body: NameBody,
                 key: Any = Depends(require("enrol"))) -> dict[str, Any]:
    return review.name_cluster(request.app.state.service, job_id, cluster_id, body.name)


@router.post("/{job_id}/clusters/{cluster_id}/merge", summary="Merge a cluster into another")
def merge_clusters(request: Request, job_id: str, cluster_id: int, body: IntoBody,
                   key: Any = Depends(require("enrol"))) -> dict[str, Any]:
    return review.merge_clusters(request.app.state.service, job_id, cluster_id, body.into)


@router.post("/{job_id}/clusters/{cluster_id}/split", summary="Split a cluster that holds two people into its two groups")
def split_cluster(request: Request, job_id: str, cluster_id: int, body: SplitBody | None = None,
                  key: Any = Depends(require("enrol"))) -> dict[str, Any]:
    return review.split_cluster(request.app.state.service, job_id, cluster_id, (body or SplitBody()).min_size)


@router.post("/{job_id}/faces/{face_key}/move-out", summary="Take a face out of its cluster")
def move_out(request: Request, job_id: str, face_key: str, key: Any = Depends(require("enrol"))) -> dict[str, Any]:
    return review.move_out(request.app.state.service, job_id, face_key)
