"""The settings of a gallery's FAISS index (:class:`IndexOptions`): which kind at which size, the
HNSW graph's links and beam widths. :mod:`facenet.gallery.index` builds and searches with them."""

from __future__ import annotations

from dataclasses import dataclass

from facenet.validation import check_option, check_scalar


@dataclass(frozen=True)
class IndexOptions:
    """exact_threshold: faces from which HNSW replaces exact search. m: HNSW links per node.
    ef_construction / ef_search: HNSW beam widths (ef_search is per search, so it may change
    without a rebuild; m and ef_construction make the graph, so a change rebuilds the saved
    index once). ef_search None (the default): by the gallery's size, :meth:`ef_for`.
    threads: OpenMP threads per search call. hnsw_codes: what the graph is walked with, "sq8"
    (8-bit codes, re-scored exactly) or "float32" (IndexHNSWFlat, the previous kind).
    max_removed_share: removed faces are masked at search time (no rebuild) until they are more
    than this share of the index's positions; then the index is rebuilt from the gallery.

    A saved index made with other m / ef_construction / kind is still used as it is (it answers
    correctly, with the graph it has); ``facenet gallery G reindex`` rebuilds it with these.

    The defaults come from bench/gallery_scale.py (bench/gallery_scale_RESULTS.md), chosen on
    its TUNING queries (LFW-structured faces, half strangers) and reported on separate ones:
    M=48 / efConstruction 200 against the previous 32 / 40 (at efSearch 512 and 1M faces,
    recall@1 0.966 instead of 0.815); the automatic efSearch is the smallest that reached
    recall@1 0.99 there, 256 at 100,000 faces and 1,024 at 1,000,000.
    """

    exact_threshold: int = 50_000
    m: int = 48
    ef_construction: int = 200
    ef_search: int | None = None
    threads: int = 1
    hnsw_codes: str = "sq8"
    max_removed_share: float = 0.1

    def __post_init__(self) -> None:
        for name, lo in (("exact_threshold", 0), ("m", 4), ("ef_construction", 1), ("threads", 1)):
            check_scalar(getattr(self, name), name, int, min_val=lo, owner="IndexOptions")
        if self.ef_search is not None:
            check_scalar(self.ef_search, "ef_search", int, min_val=1, owner="IndexOptions")
        check_option(self.hnsw_codes, "hnsw_codes", ("sq8", "float32"), owner="IndexOptions")
        check_scalar(self.max_removed_share, "max_removed_share", float, min_val=0.0, max_val=1.0, include="right",
                     owner="IndexOptions")

    def ef_for(self, n: int) -> int:
        """The efSearch for a gallery of ``n`` faces: ef_search when set, else 256 at 100,000
        faces growing as n^0.6 (1,024 at 1,000,000: the two sizes it was tuned at), 64 to 4,096."""
        if self.ef_search is not None:
            return self.ef_search
        return int(min(4096, max(64, round(256 * (max(n, 1) / 100_000) ** 0.602))))

    def kind_for(self, n: int, quantize: str = "none") -> str:
        """"exact" below exact_threshold faces, else "hnsw8" for an 8-bit gallery (quantize
        "int8"), "hnsw_sq8" for a float32 one; "hnsw" for both with hnsw_codes "float32"."""
        if n < self.exact_threshold:
            return "exact"
        if self.hnsw_codes == "float32":
            return "hnsw"
        return "hnsw8" if quantize == "int8" else "hnsw_sq8"

    def current(self, kind: str, n: int, quantize: str, m: int | None, ef_construction: int | None) -> bool:
        """Whether an index of ``kind`` with graph settings ``m`` / ``ef_construction`` over ``n``
        faces is what these options would build now."""
        if kind != self.kind_for(n, quantize):
            return False
        return kind == "exact" or (m, ef_construction) == (self.m, self.ef_construction)
