"""Cluster-job routes (wired to facenet.cluster once its runner lands)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["cluster"])
