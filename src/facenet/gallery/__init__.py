"""Recognition: a persistent gallery of enrolled people, and open-set identifiers over embeddings.

>>> from facenet.gallery import Gallery
>>> g = Gallery.open("people.gallery", model="sface")
"""

from facenet.gallery.gallery import Gallery
from facenet.gallery.identifiers import KNNIdentifier, SVMIdentifier
from facenet.gallery.results import UNKNOWN, Candidate, EnrolResult, Identification, ImageIdentification
from facenet.gallery.store import GalleryError, ModelIdentity, ModelMismatchError, SubjectExistsError, SubjectNotFoundError

__all__ = ["UNKNOWN", "Candidate", "EnrolResult", "Gallery", "GalleryError", "Identification", "ImageIdentification",
           "KNNIdentifier", "ModelIdentity", "ModelMismatchError", "SVMIdentifier", "SubjectExistsError",
           "SubjectNotFoundError"]
