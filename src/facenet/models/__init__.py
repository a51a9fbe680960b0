"""Embedding models: a registry of networks, each carrying its own preprocessing config."""

from facenet.models.base import Embedder
from facenet.models.config import ModelConfig
from facenet.models.registry import create_model, list_models, model_config

__all__ = ["Embedder", "ModelConfig", "create_model", "list_models", "model_config"]
