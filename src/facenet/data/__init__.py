"""Reading images and face data sets."""

from facenet.data.images import ImageInput, load_image, describe_source

__all__ = ["ImageInput", "load_image", "describe_source"]
