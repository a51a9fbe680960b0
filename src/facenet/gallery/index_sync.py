"""How a :class:`facenet.gallery.index.FaceIndex` catches up with writes it did not see (another
process, or a saved index file older than the gallery) without a rebuild: compare the store's
faces with the index's and explain the difference as faces appended (ids beyond every id the
index has held), faces removed (masked), and faces relabelled (renamed or merged subjects).

Anything else is not explained, and the caller rebuilds: a face id the index never held below
its last one, a removed face that is back, or a face whose embedding is not the one indexed (an
upgrade re-embedded it). Every embedding the index keeps is compared with the store's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facenet.gallery.index_state import IndexState, appended, vectors

#: Largest per-value difference between an indexed vector and the store's for "the same face"
#: (a float32 gallery stores what was enrolled, the index may hold it renormalised: ~1e-4).
TOLERANCE = 5e-3
#: Positions compared per step (a few temporary copies of this many vectors).
CHUNK = 65_536


@dataclass(frozen=True)
class Plan:
    """The store's faces as a change of the index: ``removed`` (positions now gone), ``add``
    (rows of the store's arrays to append, ascending ids), ``codes`` (N,) int32 the new subject
    code of every position, over ``names`` (the old names, then new ones)."""

    removed: np.ndarray
    add: np.ndarray
    codes: np.ndarray
    names: list[str]

    def describe(self, relabelled: int) -> str:
        return f"{len(self.add)} face(s) added, {len(self.removed)} removed, {relabelled} relabelled"


def plan(st: IndexState, ids: np.ndarray, emb: np.ndarray, subjects: list[str]) -> tuple[Plan | None, str]:
    """(the plan, what it does), or (None, why the difference cannot be followed). ids (M,) int64
    ascending, emb (M, D) float32, subjects: M names: the store's faces (``all_embeddings``)."""
    n = len(st.ids)
    pos = np.minimum(np.searchsorted(st.ids, ids), max(n - 1, 0))
    held = (st.ids[pos] == ids) if n else np.zeros(len(ids), bool)
    new = np.flatnonzero(~held)
    if len(new) and n and ids[new[0]] <= st.ids[-1]:
        return None, f"face {int(ids[new[0]])} is new to the index but not beyond its last face {int(st.ids[-1])}"
    live = st.live()
    if held.any() and not live[pos[held]].all():
        return None, "a face the index had as removed is in the gallery again"
    hpos, hrows = pos[held], np.flatnonzero(held)
    for a in range(0, len(hpos), CHUNK):  # every kept face: is it still the embedding indexed?
        p, r = hpos[a:a + CHUNK], hrows[a:a + CHUNK]
        got = vectors(st, int(p[0]), int(p[-1]) + 1)[p - p[0]]
        far = np.abs(got - emb[r]).max(axis=1) > TOLERANCE
        if far.any():
            return None, f"face {int(ids[r[np.argmax(far)]])} has another embedding than the one indexed (re-embedded)"
    keep = np.zeros(n, bool)
    keep[hpos] = True
    removed = np.flatnonzero(live & ~keep)
    names = list(st.names)
    code_of = dict(st.code_of)
    for s in dict.fromkeys(subjects):
        if s not in code_of:
            code_of[s] = len(names)
            names.append(s)
    codes = st.codes.copy()
    codes[hpos] = np.fromiter((code_of[subjects[i]] for i in hrows), np.int32, len(hrows))
    new_codes = np.fromiter((code_of[subjects[i]] for i in new), np.int32, len(new))
    relabelled = int(np.count_nonzero(codes[hpos] != st.codes[hpos]))
    out = Plan(removed, new, np.concatenate([codes, new_codes]), names)
    return out, out.describe(relabelled)


def apply(st: IndexState, plan: Plan, ids: np.ndarray, emb: np.ndarray, generation: int) -> IndexState:
    """``st`` changed by ``plan`` (made from the store's ``ids``, ``emb`` at ``generation``):
    positions removed masked, labels rewritten, new faces appended to the FAISS index (in place:
    the caller holds the write lock)."""
    n = len(st.ids)
    removed = ~st.live()
    removed[plan.removed] = True
    new = st.replace(codes=plan.codes[:n], names=plan.names, removed=removed, generation=generation)
    return appended(new, ids[plan.add], emb[plan.add], plan.codes[n:], generation) if len(plan.add) else new
