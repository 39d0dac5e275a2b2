#!/usr/bin/env bash
# Re-measure every number quoted in the README (about 20 minutes on the 2-core machine; run it idle).
# Each benchmark writes its JSON under bench/results/ and prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
data="${1:-../shared/data}"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
$py -m bench.features --data "$data"                 # fast vs reference extractor, decode, 10-min memory
$py -m bench.extract --data "$data" --workers 2       # whole-dataset throughput, 2 workers
$py -m bench.models speed                             # seed MLP, 120 epochs on ~10k slice rows
$py -m bench.models classify                          # warm classify of a 30-s clip, per model
$py -m bench.classify_latency --repeats 5             # Classify page in Chromium, warm and cold
$py -m bench.lean                                     # Keras vs the inference export: server memory, first upload, 4-min song, core predict
$py -m bench.explore_render                           # Explore page in Chromium, 10k and 100k rows
$py -m bench.train_overhead --epochs 30 --repeats 3   # Train page live updates vs CLI
$py -m bench.pretrained                               # musicnn networks, ms per 3-s patch
$py -m bench.realworld --data "$data"                 # every model on the real-world check + GTZAN CV
$py -m bench.analysis_limit --data "$data"            # verdicts with the 32-window limit vs every window
$py -m bench.dask_predict --songs 24 --rounds 2       # core predict: Dask 1 and 2 workers vs the local pool
$py -m bench.honesty --data "$data" --cache /tmp/cpunk-patches  # calibrated confidence, sure-but-wrong, novelty, not music
# Not here: bench.whole_songs, bench.classify_latency --baseline and bench.hops --baseline need a checkout of
# the commit before (see README "Whole songs" and "Layout"); bench.augmentation retrains the default recipe per augmentation (long).
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
