"""`facenet models [--json] [--check]`"""

from __future__ import annotations

import argparse

from facenet.commands.common import emit_json, error


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list detectors and embedders (sizes, params, mult-adds, weights, licences)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--check", action="store_true", help="verify the SHA-256 of every weight file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from facenet.detect.registry import detector_config, list_detectors
    from facenet.errors import WeightsError
    from facenet.models.registry import list_models, model_config
    from facenet.weights import verified_path

    rows = []
    for name in list_detectors():
        c = detector_config(name)
        rows.append({"kind": "detector", "name": name, "description": c.description, "input_size": "any",
                     "embedding_size": None, "weights": [w.source for w in c.weights], "licence": c.licence, "_w": c.weights})
    for name in list_models():
        c = model_config(name)
        ws = ((c.weights,) if c.weights else ()) + tuple(w for w in getattr(c, "components", ()) if w != c.weights)
        rows.append({"kind": "embedder", "name": name, "description": c.description, "input_size": f"{c.input_size[0]}x{c.input_size[1]}",
                     "embedding_size": c.embedding_size, "threshold": c.threshold, "weights": [w.source for w in ws],
                     "licence": c.licence, "_w": ws, **_complexity(name, c.input_size)})
    bad = 0
    for r in rows:
        ws = r.pop("_w")
        if args.check:
            r["weights_ok"] = True
            for w in ws:
                try:
                    verified_path(w)
                except WeightsError as exc:
                    error(str(exc))
                    r["weights_ok"], bad = False, bad + 1
    if args.json:
        emit_json(rows)
    else:
        for r in rows:
            extra = ""
            if r["kind"] == "embedder":
                size = ("n/a" if r["params"] is None
                        else f"{r['params'] / 1e6:.2f}M params, {r['mult_adds'] / 1e9:.3f}G mult-adds")
                extra = f" -> {r['embedding_size']}-D, threshold {r['threshold']}, {size}"
            ok = "" if not args.check else ("  [weights ok]" if r["weights_ok"] else "  [WEIGHTS BAD]")
            print(f"{r['kind']:9s} {r['name']:13s} input {r['input_size']}{extra}{ok}")
            print(f"          {r['description']}")
            print(f"          weights: {'; '.join(r['weights']) or 'none shipped'} ({r['licence']})")
    return 1 if bad else 0


def _complexity(name: str, input_size: tuple[int, int]) -> dict[str, int | None]:
    """``params`` and ``mult_adds`` (batch 1, at the model's input size) of a PyTorch embedder,
    built untrained; None for models that only exist as ONNX weights (SFace)."""
    from facenet.models.complexity import count_mult_adds, count_parameters
    from facenet.models.registry import create_model

    try:
        module = getattr(create_model(name, pretrained=False), "module", None)
    except ValueError:  # pretrained-only (ONNX) model
        module = None
    if module is None:
        return {"params": None, "mult_adds": None}
    return {"params": count_parameters(module), "mult_adds": count_mult_adds(module, tuple(input_size))}
