"""Inference cost per 3-s patch of each converted musicnn network on this CPU, one thread and default threads.

    .venv/bin/python -m bench.pretrained [--batch 64] [--repeats 5] [--threads 1 0]

For each thread setting (0 = TensorFlow's default, all cores) a fresh process (TensorFlow fixes its thread
pools at start-up) loads each network of :data:`core.features.musicnn.CHECKPOINTS`, runs one warm-up batch, then
times ``--repeats`` batches of ``--batch`` patches through the whole tagger (``predict_on_batch``; the
embedding model is the same network less its last dense layer). Patches come from synthetic audio through
:func:`core.features.musicnn.patches` (the cost does not depend on the values). Writes ``bench/results/pretrained.json``: median and min
wall-clock milliseconds per patch, the median CPU milliseconds per patch (all threads of the process; less
sensitive than wall time to other jobs on a busy machine), model load seconds, parameter counts, and
the machine's load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "pretrained.json"


def measure(batch: int, repeats: int, threads: int) -> dict:
    """Time every checkpoint in this process with ``threads`` intra-op threads (0: TensorFlow's default)."""
    import numpy as np
    import tensorflow as tf

    from core.features import musicnn

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)

    rng = np.random.default_rng(0)
    t = np.arange(int(3.0 * batch * musicnn.SAMPLE_RATE)) / musicnn.SAMPLE_RATE
    y = (0.3 * np.sin(2 * np.pi * 220 * t * (1 + 0.01 * np.sin(t))) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    x = musicnn.patches(y, musicnn.SAMPLE_RATE)[:batch]
    assert len(x) == batch
    results = {}
    for name in musicnn.CHECKPOINTS:
        t0 = time.perf_counter()
        model = musicnn.load_tagger(name)
        load_s = time.perf_counter() - t0
        model.predict_on_batch(x)  # warm-up: graph tracing
        times, cpu = [], []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            model.predict_on_batch(x)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        row = {"ms_per_patch": {"median": round(1000 * statistics.median(times) / batch, 2),
                                "min": round(1000 * min(times) / batch, 2)},
               "cpu_ms_per_patch": round(1000 * statistics.median(cpu) / batch, 2),
               "load_s": round(load_s, 2), "parameters": model.count_params(),
               "embedding_size": int(model.get_layer(musicnn.EMBEDDING_LAYER).output.shape[-1])}
        results[name] = row
        print(name, json.dumps(row), file=sys.stderr)
    return {"intra_op_threads": threads or "default", "checkpoints": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 0], help="intra-op threads; 0 = default")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.worker:
        print(json.dumps(measure(args.batch, args.repeats, args.threads[0])))
        return 0

    from bench.vgg import cpu_model
    from core.atomic import write_json

    load_before = os.getloadavg()
    runs = {}
    for threads in args.threads:
        cmd = [sys.executable, "-m", "bench.pretrained", "--worker", "--threads", str(threads),
               "--batch", str(args.batch), "--repeats", str(args.repeats)]
        out = subprocess.run(cmd, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, cwd=ROOT, check=True,
                             stdout=subprocess.PIPE, text=True).stdout
        runs["default" if threads == 0 else f"{threads}_thread"] = json.loads(out.strip().splitlines()[-1])
    import tensorflow as tf

    result = {
        "benchmark": f"musicnn networks, milliseconds per 3-s patch (batches of {args.batch}, predict_on_batch)",
        "command": " ".join(["python -m bench.pretrained", *(argv if argv is not None else sys.argv[1:])]),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "tensorflow": tf.__version__, "gpu": False,
                    "load_average_1min": {"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2)}},
        "batch": args.batch, "repeats": args.repeats, "runs": runs,
    }
    write_json(OUT, result)
    print(json.dumps(result["runs"], indent=1), "->", OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
