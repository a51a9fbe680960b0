"""Reading images and face data sets."""

from facenet.data.images import ImageInput, describe_source, load_image

__all__ = ["ImageInput", "load_image", "describe_source"]
