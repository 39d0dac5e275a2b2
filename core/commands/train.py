"""``python -m core train SOURCES... --name NAME``: train a model and save it in the registry.

One command, two paths: feature tables (:mod:`core.commands.train_table`) and audio folders
(:mod:`core.commands.train_audio`, the architectures of its ``ARCHITECTURES``). Both share
:mod:`core.commands.train_common`."""

from __future__ import annotations

import argparse
import os

from core.commands.train_audio import ARCHITECTURES as AUDIO_ARCHITECTURES
from core.commands.train_audio import run_audio
from core.commands.train_common import exit_with_parent
from core.commands.train_table import run_table

NONMUSIC_PER_KIND = 6  # --music-detector: 6 clips of each of the battery's 29 kinds (174 clips; a few CPU minutes, cached)

DESCRIPTION = """\
Train a model on one or more feature tables (a Parquet store or file from `python -m core extract`,
or a published GTZAN CSV) and save it as models/<NAME>/ (model.keras + model.json).

--level slice trains on the 3-s slice rows (a track's verdict is then the mean of its segments);
--level track trains on the whole-track rows. Tables given together must share a feature schema.
About --validation of the tracks (grouped by track) are held out to pick the best epoch; use 0 to
train on every row for the full number of epochs. Ctrl-C stops early and keeps the best epoch.

--holdout PROTOCOL first holds out a fifth of the rows (seed) or tracks (track) as a test set, trains on
the rest, scores the test set and the saved models that can read it, and stores all of it in model.json
(what the Train page runs, as this command in a process of its own). --out FOLDER writes the model folder
there instead of into the registry; --report-jsonl FILE appends one JSON line per finished epoch.

--architecture musicnn_linear trains on audio instead: the arguments are dataset folders (one
sub-folder per genre, or manifests); a track found in several folders is taken from the first, so list
lossless copies first. Every track is cut into 3-s patches, clean and --augment augmented copies
(loudness, compression, EQ, MP3, stereo fold-down, random crops), which frozen pre-trained musicnn
taggers (--backbones) describe; a calibrated logistic regression (--c) is trained on them.
The default recipe reads the 50 tag logits of musicnn's MSD_musicnn (tags learned from real songs).
--evaluate track first measures the recipe with 5 track-grouped folds (and calibrates on them);
--music-detector fits the check that says "this doesn't sound like music" on the tag logits of the
training tracks against a generated battery of non-music (speech, noise, tones, hum, clicks, applause,
room tone, animals, effects; core.data.nonmusic, seeded by --seed) and stores it in model.json.
--check FOLDER scores the final model on a labelled folder (FOLDER/MANIFEST.tsv) and stores the result
in model.json: a check only, never used for training or tuning.

--architecture mel_cnn, vgg_transfer or ensemble (or --audio with seed_mlp) trains on audio folders too:
every track is decoded once into seed features, a log-mel spectrogram and musicnn VGG embeddings of its
3-s patches (kept under --cache). seed_mlp trains on the feature rows (--epochs, --validation as above),
mel_cnn on random crops of the spectrograms (--cnn-epochs, --cnn-crops), vgg_transfer a head on the
embeddings (--head-epochs); ensemble trains the three and averages them. --model-config sets the builder of
the network trained (the ensemble: its seed_mlp's). A file that cannot be read is skipped with its reason;
the run goes on. Every architecture on audio takes --genres; Ctrl-C stops it at the next track, setting or
batch and keeps nothing, and --report-jsonl gets its stages (tracks decoded, settings tried, epochs)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train a model on feature tables and save it",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("features", nargs="+", metavar="FEATURES", help="feature store, .parquet or GTZAN CSV")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--name", help="model name (folder under the models directory)")
    where.add_argument("--out", metavar="FOLDER", help="write the model folder here, outside the registry")
    p.add_argument("--level", choices=("slice", "track"), default="slice", help="rows to train on (default: %(default)s)")
    p.add_argument("--architecture", default="seed_mlp", help="model builder (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=120, help="default: %(default)s")
    p.add_argument("--batch-size", type=int, default=128, help="default: %(default)s")
    p.add_argument("--validation", type=float, default=0.2, metavar="FRACTION",
                   help="share of tracks held out to pick the best epoch (default: %(default)s)")
    p.add_argument("--no-balance", action="store_true", help="do not weight genres by inverse frequency")
    p.add_argument("--seed", type=int, default=42, help="random seed (default: %(default)s)")
    p.add_argument("--segment-seconds", type=float, default=None,
                   help="window length classify uses for segments (default: 3 s)")
    p.add_argument("--evaluate", choices=("track", "seed"), default=None,
                   help="first measure the recipe with this protocol (5 folds for track) and store the "
                        "result in model.json's metrics")
    p.add_argument("--holdout", choices=("seed", "track"), default=None,
                   help="hold out a test set under this protocol, score it and compare the saved models")
    p.add_argument("--genres", default=None, help="comma-separated genres to train on (default: all in the table)")
    p.add_argument("--model-config", default="{}", metavar="JSON",
                   help='builder settings, e.g. \'{"learning_rate": 0.001, "dropout": 0.2}\'')
    p.add_argument("--report-jsonl", metavar="FILE", default=None, help="append each finished epoch as a JSON line")
    p.add_argument("--stop-with-parent", action="store_true",
                   help="exit when the process that started this one ends (for training jobs)")
    p.add_argument("--default", action="store_true", help="make it the default model")
    p.add_argument("--overwrite", action="store_true", help="replace an existing model of that name")
    p.add_argument("--notes", default="", help="free text stored in model.json")
    p.add_argument("--source", default=None, help="what model.json names as the training data (default: the paths)")
    p.add_argument("--audio", action="store_true",
                   help="the arguments are audio folders (implied by mel_cnn, vgg_transfer, ensemble, musicnn_linear)")
    audio = p.add_argument_group("audio folders (--workers, --cache, --limit-tracks: every architecture on audio)")
    audio.add_argument("--backbones", nargs="+", default=["msd_musicnn"], help="pre-trained networks (default: %(default)s)")
    audio.add_argument("--outputs", nargs="+", default=["logits"], choices=("embedding", "logits"),
                       help="their outputs the head reads (default: %(default)s)")
    audio.add_argument("--augment", type=int, default=0, metavar="N", help="augmented copies per track (default: %(default)s)")
    audio.add_argument("--c", type=float, nargs="+", default=None, metavar="C",
                       help="inverse L2 strengths of the head; with --evaluate track the one with the lowest "
                            "balanced log-loss on held-out tracks is kept (default: 0.03 0.1 0.3 1 3 10 30)")
    audio.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes decoding audio (default: all cores)")
    audio.add_argument("--cache", default=None, metavar="DIR", help="keep patch features here to skip them next time")
    audio.add_argument("--limit-tracks", type=int, default=None, metavar="N",
                       help="only the first N tracks of each genre (quick trials)")
    audio.add_argument("--music-detector", type=int, nargs="?", const=NONMUSIC_PER_KIND, default=0, metavar="N",
                       help="also fit the detector that says \"this doesn't sound like music\" (tag logits only): "
                            f"the training tracks against N generated non-music clips of each kind (default N: "
                            f"{NONMUSIC_PER_KIND}); speech needs espeak-ng")
    audio.add_argument("--cnn-epochs", type=int, default=12, help="mel_cnn and ensemble: epochs (default: %(default)s)")
    audio.add_argument("--cnn-crops", type=int, default=2, metavar="N",
                       help="mel_cnn and ensemble: random crops per track and epoch (default: %(default)s)")
    audio.add_argument("--head-epochs", type=int, default=60,
                       help="vgg_transfer and ensemble: epochs of the head (default: %(default)s)")
    audio.add_argument("--check", default=None, metavar="FOLDER",
                       help="score the model on a labelled folder (FOLDER/MANIFEST.tsv) and store it in model.json")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train on audio with ``--audio`` or for the architectures of :data:`AUDIO_ARCHITECTURES`, else on feature
    tables."""
    if args.stop_with_parent:
        exit_with_parent()
    return run_audio(args) if args.audio or args.architecture in AUDIO_ARCHITECTURES else run_table(args)
