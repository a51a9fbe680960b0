"""The markdown table and the shipped/previous ratios of bench/gallery_scale.py's results."""

from __future__ import annotations

from typing import Any


def ratios(entry: dict[str, Any]) -> dict[str, float]:
    """shipped / previous, each at its own default efSearch on the REPORT queries (timed interleaved)."""
    a, b = ({r["config"]: r for r in entry["search"]["report"][:2]}[c] for c in ("shipped", "previous"))
    r = {k: round(a[k] / b[k], 3) for k in ("median_ms", "p99_ms", "recall_at_1_face", "decision_agreement") if b[k]}
    r["faiss_file"] = round(entry["shipped"]["build"]["faiss_file_mb"] / entry["previous"]["build"]["faiss_file_mb"], 3)
    r["rss_search"] = round(entry["shipped"]["memory"]["rss_search_process_mb"] / entry["previous"]["memory"]["rss_search_process_mb"], 3)
    return r


def table(out: dict[str, Any], storages: list[str], names: list[str]) -> str:
    lines = [f"\n{out['n']:,} faces, {out['people']:,} people; load average {out['load_at_start']} -> {out['load_at_end']} "
             f"on {out['cpus']} CPUs; REPORT queries, one thread, the settings timed interleaved\n",
             "| storage | index | M / efC | build s | efSearch | median ms | p99 ms | recall@1 (mated / strangers) | "
             "decisions agree | .faiss MB | peak RSS build / search MB |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in storages:
        for r in out[s]["search"]["report"]:
            c = r["config"]
            b, mem, o = out[s][c]["build"], out[s][c]["memory"], out[s][c]["build"]["options"]
            tag = "" if r["ef_search"] == out[s]["search"].get("ef_search_default", {}).get(c, o["ef_search"]) else " (tuned)"
            lines.append(f"| {'float32' if s == 'none' else s} | {c}: {b['kind']} | {o['m']} / {o['ef_construction']} | "
                         f"{b.get('seconds_read_store_build_save', '-')} | {r['ef_search']}{tag} | {r['median_ms']} | "
                         f"{r['p99_ms']} | {r['recall_at_1_face']} ({r['recall_at_1_face_mated']} / "
                         f"{r['recall_at_1_face_strangers']}) | {r['decision_agreement']} | {b['faiss_file_mb']} | "
                         f"{b.get('rss_peak_mb', '-')} / {mem['rss_search_process_mb']} |")
        imp = out[s].get("import", {})
        lines.append(f"\n[{s}] import {imp.get('faces_per_s', '-')} faces/s; .gallery {out[s]['gallery_file_mb']} MB; "
                     f"ratios shipped/previous {out[s].get('ratios_shipped_over_previous')}\n")
    return "\n".join(lines)
