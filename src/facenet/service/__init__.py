"""The HTTP service (issue 11): a FastAPI app and its web page over the pipeline, the gallery and clustering."""
