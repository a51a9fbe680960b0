"""Clustering (issue 10): group every face of a photo collection by person, on embeddings alone."""

from facenet.cluster.methods import METHODS, ClusterResult, TooLargeError, cluster_embeddings
from facenet.cluster.metrics import bcubed_prf, clustering_scores, nmi, pairwise_prf
from facenet.cluster.threshold import default_threshold

__all__ = ["METHODS", "ClusterResult", "TooLargeError", "bcubed_prf", "cluster_embeddings", "clustering_scores",
           "default_threshold", "nmi", "pairwise_prf"]
