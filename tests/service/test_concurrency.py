"""Concurrent enrol and identify on one gallery, through the app from several threads: every
acknowledged enrolment is there afterwards, nothing fails, and identification sees a
consistent gallery (a face is never named after a person who is not enrolled)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_helpers import PEOPLE, upload  # noqa: E402

pytestmark = pytest.mark.data


def test_concurrent_enrol_and_identify_lose_nothing(make_api, photo):
    from facenet import FacePipeline

    a = make_api(factory=FacePipeline, workers=2, queue=64)
    jobs = [(p, i) for p in PEOPLE for i in (1, 2)]  # 12 enrolments, 6 people
    acked: list[tuple[str, int]] = []
    failures: list[str] = []
    seen_names: set[str] = set()
    done = threading.Event()
    lock = threading.Lock()

    def enrol(chunk):
        for person, i in chunk:
            r = a.post(f"/api/v1/subjects/{person}/faces", scope="enrol", files=upload(photo(person, i)))
            with lock:
                if r.status_code == 201:
                    acked.append((person, r.json()["face_id"]))
                else:
                    failures.append(f"enrol {person} {i}: {r.status_code} {r.text}")

    def identify(person):
        while not done.is_set():
            r = a.post("/api/v1/identify", files=upload(photo(person, 3)))
            with lock:
                if r.status_code != 200:
                    failures.append(f"identify: {r.status_code} {r.text}")
                else:
                    seen_names.update(f["name"] for f in r.json()["faces"] if f["name"])

    enrolers = [threading.Thread(target=enrol, args=(jobs[k::3],)) for k in range(3)]
    identifiers = [threading.Thread(target=identify, args=(p,)) for p in PEOPLE[:3]]
    for t in enrolers + identifiers:
        t.start()
    for t in enrolers:
        t.join(120)
    done.set()
    for t in identifiers:
        t.join(60)

    assert failures == []
    assert len(acked) == len(jobs)
    assert seen_names <= set(PEOPLE)
    subjects = {s["name"]: {f["id"] for f in s["faces"]} for s in a.get("/api/v1/subjects").json()}
    for person, face_id in acked:
        assert face_id in subjects[person]
    assert sum(len(v) for v in subjects.values()) == len(jobs)
    # after the writes, the index answers for everyone enrolled
    for person in PEOPLE:
        r = a.post("/api/v1/identify", files=upload(photo(person, 3))).json()
        assert r["faces"][0]["name"] == person
