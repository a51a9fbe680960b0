"""Clustering (issue 10): group every face of a photo collection by person, on embeddings alone."""
