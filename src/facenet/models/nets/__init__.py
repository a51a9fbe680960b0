"""PyTorch face-embedding architectures, one per module.

Each network maps (N, 3, H, W) float32, already standardised, to (N, embedding_size)
L2-normalised embeddings, and takes ``(embedding_size: int = 128, dropout: float = 0.0)``.
Import the module you need (``facenet.models.nets.inception``,
``facenet.models.nets.mobilefacenet``, ...); this package imports none of them, so importing it
costs nothing and does not depend on which nets are present.
"""
