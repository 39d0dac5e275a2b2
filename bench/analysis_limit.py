"""What the analysis limit costs in verdicts: ``python -m bench.analysis_limit [--model NAME] [--clips 8]``.

The verdict of a long song reads at most 32 of its 3-s windows, spread evenly
(:class:`core.audio.AnalysisLimit`). This bench joins ``--clips`` GTZAN clips of one genre into one long
recording (8 clips = 4 minutes; disjoint groups, FLAC copies first, every genre) and classifies each
twice through :func:`core.predict.classify` from the same decoded audio: with the default limit and with
every window (``max_windows=None``). It reports how often the two verdicts agree, the largest change in
any genre's probability, and the share right under each. The model has seen these clips in training,
so the accuracies are not a test of the model; the agreement is what the limit changes. Writes
``bench/results/analysis_limit.json``.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]


def long_songs(data: Path, clips: int) -> list[tuple[str, bytes]]:
    """(genre, WAV bytes) of disjoint groups of ``clips`` clips of one genre, joined end to end."""
    from core.audio import load_audio
    from core.models.transfer_data import collect_tracks

    tracks = collect_tracks([data / "gtzan_flac", data / "gtzan"])
    by_genre: dict[str, list] = {}
    for track in tracks:
        by_genre.setdefault(track.label, []).append(track)
    songs = []
    for genre, group in sorted(by_genre.items()):
        for first in range(0, len(group) - clips + 1, clips):
            parts = [load_audio(t.path) for t in group[first : first + clips]]
            buffer = io.BytesIO()
            sf.write(buffer, np.concatenate([a.y for a in parts]), parts[0].sr, format="WAV")
            songs.append((genre, buffer.getvalue()))
    return songs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--model", default=None, help="default: the registry's default model")
    parser.add_argument("--clips", type=int, default=8, help="clips per long recording (8 x 30 s = 4 min)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "analysis_limit.json")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from core.atomic import write_json
    from core.audio import AnalysisLimit, load_audio
    from core.models import registry
    from core.predict import classify

    model = registry.load_model(args.model or registry.default_name())
    load_before = os.getloadavg()[0]
    rows = []
    for genre, wav in long_songs(args.data, args.clips):
        audio = load_audio(wav)
        limited, every = classify(audio, model), classify(audio, model, limit=AnalysisLimit(max_windows=None))
        rows.append({"label": genre, "seconds": round(audio.duration_s, 1), "windows": every.windows,
                     "read_limited": len(limited.segment_starts), "limited": limited.genre, "every": every.genre,
                     "max_probability_change": float(np.abs(limited.probabilities - every.probabilities).max())})
        print(f"  {genre}: {limited.genre} / {every.genre}", file=sys.stderr)
    agree = sum(r["limited"] == r["every"] for r in rows)
    result = {
        "benchmark": "verdicts with the analysis limit vs every window, long recordings of joined GTZAN clips",
        "command": "python -m bench.analysis_limit" + (f" --model {args.model}" if args.model else "")
        + (f" --clips {args.clips}" if args.clips != 8 else ""),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "model": model.name,
        "limit_windows": AnalysisLimit().max_windows, "songs": len(rows), "agree": agree,
        "max_probability_change": max((r["max_probability_change"] for r in rows), default=None),
        "median_probability_change": float(np.median([r["max_probability_change"] for r in rows])) if rows else None,
        "right_limited": sum(r["limited"] == r["label"] for r in rows),
        "right_every": sum(r["every"] == r["label"] for r in rows),
        "load_average_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "rows": rows,
    }
    write_json(args.out, result)
    print(f"{model.name}: {agree} of {len(rows)} verdicts agree (limit {result['limit_windows']} windows vs all); "
          f"largest probability change {result['max_probability_change']:.3f}, median "
          f"{result['median_probability_change']:.3f}; right {result['right_limited']} vs {result['right_every']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
