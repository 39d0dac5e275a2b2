"""Inference cost of the pre-trained musicnn VGG per 30-s clip on this CPU: decode, patches, network.

    .venv/bin/python bench/vgg.py [--clips 10] [--repeats 3] [--threads 2]

Clips: the first of each genre in ``../shared/data/gtzan_flac`` (30 s each). Times each stage after
one warm-up clip; writes ``bench/results/vgg.json`` (median and max over clips x repeats).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "gtzan_flac"
OUT = ROOT / "bench" / "results" / "vgg.json"


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.machine())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="TensorFlow intra-op threads")
    args = parser.parse_args(argv)
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(args.threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(ROOT))

    import numpy as np
    import tensorflow as tf

    from core.atomic import write_json
    from core.audio import load_audio
    from core.features import musicnn

    clips = [sorted((DATA / g).glob("*.flac"))[0] for g in sorted(p.name for p in DATA.iterdir() if p.is_dir())]
    clips = clips[: args.clips]
    if not clips:
        raise SystemExit(f"no clips under {DATA}")

    t0 = time.perf_counter()
    model = musicnn.load_embedding()
    load_s = time.perf_counter() - t0
    model.predict_on_batch(musicnn.patches(load_audio(clips[0]).y, 22_050))  # warm-up (graph tracing)

    stages: dict[str, list[float]] = {"decode": [], "patches": [], "network": [], "total": []}
    n_patches = []
    for _ in range(args.repeats):
        for clip in clips:
            t0 = time.perf_counter()
            audio = load_audio(clip)
            t1 = time.perf_counter()
            x = musicnn.patches(audio.y, audio.sr)
            t2 = time.perf_counter()
            emb = np.asarray(model.predict_on_batch(x))
            t3 = time.perf_counter()
            assert emb.shape == (len(x), 256)
            for key, value in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
                stages[key].append(value)
            n_patches.append(len(x))

    result = {
        "benchmark": "musicnn MSD_vgg embedding, per 30-s clip (decode + 16-kHz log-mel patches + network)",
        "command": " ".join(["python bench/vgg.py", *(argv if argv is not None else sys.argv[1:])]),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2),
                    "tf_intra_op_threads": args.threads, "tensorflow": tf.__version__, "gpu": False},
        "clips": [c.name for c in clips], "repeats": args.repeats, "patches_per_clip": statistics.median(n_patches),
        "model_load_s": round(load_s, 3),
        "seconds_per_clip": {k: {"median": round(statistics.median(v), 4), "max": round(max(v), 4)}
                             for k, v in stages.items()},
    }
    write_json(OUT, result)
    print(json.dumps(result["seconds_per_clip"]), f"model load {load_s:.2f} s ->", OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
