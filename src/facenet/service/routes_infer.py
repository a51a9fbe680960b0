"""Inference routes: models, detect, embed, verify, identify. Uploads are decoded and run on
the bounded inference pool, never on the event loop."""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile

from facenet.service.auth import require
from facenet.service.errors import ApiError
from facenet.service.uploads import decode_upload

router = APIRouter(prefix="/api/v1", tags=["inference"])


def _r(v: Any, nd: int = 2) -> Any:
    return np.round(np.asarray(v, np.float64), nd).tolist()


async def read_upload(upload: UploadFile) -> bytes:
    """The bytes of an uploaded part (already limited by the body-size middleware)."""
    return await upload.read()


@router.get("/models", summary="The pipeline in use and the models available")
def models(request: Request, key: Any = Depends(require("read"))) -> dict[str, Any]:
    from facenet.detect.registry import list_detectors
    from facenet.models.registry import list_models, model_config

    svc = request.app.state.service
    ident = svc.identity
    with svc.lock:
        threshold, source = svc.gallery.threshold()
    embedders = []
    for name in list_models():
        try:
            c = model_config(name)
        except Exception:  # noqa: BLE001 - a broken user-registered model must not break the listing
            continue
        embedders.append({"name": name, "description": c.description, "embedding_size": c.embedding_size,
                          "input_size": list(c.input_size), "threshold": c.threshold, "licence": c.licence})
    return {"pipeline": {"detector": svc.config.detector, "embedder": ident.model, "identity": ident.to_dict(),
                         "verification_threshold": svc.pipeline.threshold,
                         "identification_threshold": threshold, "identification_threshold_source": source},
            "detectors": list_detectors(), "embedders": embedders}


@router.post("/detect", summary="Every face in a photo: box, score, five landmarks")
async def detect(request: Request, image: UploadFile = File(...), key: Any = Depends(require("read"))) -> dict[str, Any]:
    svc = request.app.state.service
    data = await read_upload(image)

    def work(p: Any) -> dict[str, Any]:
        img = decode_upload(data, svc.config.max_pixels, "image")
        det = p.detect_rgb(img)
        return {"width": int(img.shape[1]), "height": int(img.shape[0]),
                "faces": [{"box": _r(det.boxes[i]), "score": round(float(det.scores[i]), 4), "landmarks": _r(det.landmarks[i])}
                          for i in range(len(det))]}

    return await svc.pool.run(work)


@router.post("/embed", summary="Every face in a photo: box and unit-norm embedding")
async def embed(request: Request, image: UploadFile = File(...), key: Any = Depends(require("read"))) -> dict[str, Any]:
    svc = request.app.state.service
    data = await read_upload(image)

    def work(p: Any) -> dict[str, Any]:
        img = decode_upload(data, svc.config.max_pixels, "image")
        faces = p.crop_all(img)
        emb = p.embed_faces(faces.crops)
        return {"model": svc.identity.to_dict(), "width": int(img.shape[1]), "height": int(img.shape[0]),
                "faces": [{"box": _r(faces.detections.boxes[i]), "embedding": [float(x) for x in emb[i]]}
                          for i in range(len(emb))]}

    return await svc.pool.run(work)


@router.post("/verify", summary="Same person? The distance between two photos' main faces, against the threshold")
async def verify(request: Request, image_a: UploadFile = File(...), image_b: UploadFile = File(...),
                 key: Any = Depends(require("read"))) -> dict[str, Any]:
    from facenet.distance import squared_l2

    svc = request.app.state.service
    data_a, data_b = await read_upload(image_a), await read_upload(image_b)

    def work(p: Any) -> dict[str, Any]:
        a = decode_upload(data_a, svc.config.max_pixels, "image_a")
        b = decode_upload(data_b, svc.config.max_pixels, "image_b")
        threshold = p.require_threshold()
        info = p.represent([a, b])
        for i, name in enumerate(("image_a", "image_b")):
            if not info.face_found[i]:
                raise ApiError(422, "no_face", f"no face found in '{name}'")
        d = float(squared_l2(info.embeddings[0], info.embeddings[1])[0])
        return {"distance": round(d, 6), "threshold": round(float(threshold), 6), "same": bool(d < threshold),
                "face_a": {"box": _r(info.boxes[0])}, "face_b": {"box": _r(info.boxes[1])}}

    return await svc.pool.run(work)


@router.post("/identify", summary="Who is it? Every face: box, name (null = unknown), distance, top-k")
async def identify(request: Request, image: UploadFile = File(...), k: int = Form(5, ge=1, le=100),
                   key: Any = Depends(require("read"))) -> dict[str, Any]:
    svc = request.app.state.service
    data = await read_upload(image)

    def work(p: Any) -> dict[str, Any]:
        return svc.identify(p, decode_upload(data, svc.config.max_pixels, "image"), k)

    return await svc.pool.run(work)
