"""FacePipeline's API contracts: per-item errors, uncalibrated models, typed parts."""

from __future__ import annotations

import numpy as np
import pytest

from facenet import FacePipeline
from facenet.align import FaceCropper
from facenet.errors import InvalidImageError, UncalibratedError


def test_collect_keeps_good_results_and_lists_errors(pipeline, lfw_dir, tmp_path):
    a = lfw_dir / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg"
    b = lfw_dir / "Aaron_Peirsol" / "Aaron_Peirsol_0002.jpg"
    bad = tmp_path / "not_an_image.jpg"
    bad.write_text("hello")
    with pytest.raises(InvalidImageError):
        pipeline.represent([a, bad, b])
    r = pipeline.represent([a, bad, b, str(tmp_path / "missing.jpg")], on_error="collect")
    assert len(r) == 2 and r.index.tolist() == [0, 2]
    assert [e.index for e in r.errors] == [1, 3]
    assert r.errors[0].source.endswith("not_an_image.jpg") and r.errors[1].reason
    np.testing.assert_allclose(r.embeddings, pipeline.embed([a, b]), atol=1e-6)
    with pytest.raises(ValueError, match="'on_error' parameter of represent must be one of 'raise', 'collect'"):
        pipeline.represent([a], on_error="skip")


def test_all_inputs_bad_gives_empty_arrays(pipeline, tmp_path):
    bad = tmp_path / "x.jpg"
    bad.write_bytes(b"")
    r = pipeline.represent([bad], on_error="collect")
    assert r.embeddings.shape == (0, 128) and r.face_found.shape == (0,) and len(r.errors) == 1


def test_uncalibrated_model_refuses_to_verify(lfw_dir):
    a = lfw_dir / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg"
    pipe = FacePipeline(embedder="nns2")
    assert pipe.threshold is None
    with pytest.raises(UncalibratedError, match="'nns2' has no calibrated verification threshold"):
        pipe.verify(a, a)
    v = FacePipeline(embedder="nns2", threshold=0.5).verify(a, a)
    assert v.threshold == 0.5 and v.distance < 1e-5 and v.same


def test_pipeline_parts_are_typed(pipeline):
    assert isinstance(pipeline.cropper, FaceCropper)
    assert pipeline.cropper.size == (112, 112) and pipeline.cropper.retries
    assert pipeline.detector is pipeline.cropper.detector
    with pytest.raises(ValueError, match="'threshold' parameter of FacePipeline must be a float in \\(0, 4\\)"):
        FacePipeline(threshold=4.5)
