"""Training the embedding with the triplet loss and online mining."""

from facenet.train.config import TrainConfig

__all__ = ["TrainConfig", "train"]


def train(config: TrainConfig, resume=None, progress: bool = True):  # noqa: ANN001, ANN201 - lazy (torch-heavy)
    """Run a training job; see :func:`facenet.train.loop.train`."""
    from facenet.train.loop import train as _train

    return _train(config, resume=resume, progress=progress)
