"""Convert musicnn's TensorFlow 1 ``MSD_vgg`` checkpoint into a Keras 3 model, checked against the original.

One-off, offline once the wheel is on disk (musicnn is *not* a dependency: its pins are outdated)::

    .venv/bin/pip download --no-deps musicnn==0.1.0 -d /tmp/musicnn
    .venv/bin/python scripts/convert_musicnn.py /tmp/musicnn/musicnn-0.1.0-py3-none-any.whl

Steps: read the checkpoint's variables (TensorFlow's checkpoint reader) and the architecture actually
trained, from the checkpoint's own graph (``.meta``: pooling sizes, padding, batch-norm epsilon; for
MSD_vgg they differ from the package's ``models.vgg``, which matches MTT_vgg); build the same network
from plain Keras layers and copy the variables in; run the *original* graph (pruned to inference, its
variables frozen to constants, executed with ``tf.compat.v1``) and the Keras model on reference
patches and require the same outputs; then write ``model.keras`` + ``model.json`` + the ISC licence
and a source note to ``models/_pretrained/musicnn_msd_vgg`` (atomically) and the reference pairs to
``tests/data/musicnn_msd_vgg_reference.npz``, which ``tests/test_musicnn.py`` replays.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import sys
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.atomic import atomic_path, write_text  # noqa: E402
from core.musicnn import EMBEDDING_LAYER, HOP, MODEL_DIR, N_FFT, N_MELS, PATCH_FRAMES, SAMPLE_RATE, patches  # noqa: E402
from core.registry import save_model  # noqa: E402

CHECKPOINT = "MSD_vgg"
LABELS = "MSD_LABELS"
REFERENCE = ROOT / "tests" / "data" / "musicnn_msd_vgg_reference.npz"
CONV_NAMES = ("1CNN", "2CNN", "3CNN", "4CNN", "5CNN")
BN_NAMES = tuple(f"batch_normalization{s}" for s in ("", "_1", "_2", "_3", "_4", "_5"))
ORIGINAL_LOGITS = "model/dense/BiasAdd:0"
ORIGINAL_EMBEDDING = "model/Flatten/flatten/Reshape:0"
ORIGINAL_INPUT = "model/Placeholder:0"
ORIGINAL_IS_TRAINING = "model/Placeholder_2:0"
TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}  # float32 re-association between TF1 kernels and Keras


def unpack_wheel(wheel: Path, dest: Path) -> tuple[str, list[str], str]:
    """Extract the checkpoint files; return (checkpoint prefix, tag names, licence text)."""
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if n.startswith(f"musicnn/{CHECKPOINT}/")]
        zf.extractall(dest, members=names)
        config = ast.parse(zf.read("musicnn/configuration.py").decode("utf-8"))
        licence = next(zf.read(n) for n in zf.namelist() if n.endswith(".dist-info/LICENSE.md")).decode("utf-8")
    labels = next(
        ast.literal_eval(node.value) for node in config.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == LABELS
    )
    # The checkpoint's prefix is the folder itself: files are named ".index", ".data-...", ".meta".
    return f"{dest / 'musicnn' / CHECKPOINT}/", labels, licence


def trained_graph(prefix: str):
    """The inference part of the checkpoint's own graph, variables frozen to their trained values."""
    import tensorflow as tf
    from tensorflow.core.framework import graph_pb2, node_def_pb2
    from tensorflow.core.protobuf import meta_graph_pb2

    meta = meta_graph_pb2.MetaGraphDef()
    meta.ParseFromString(Path(f"{prefix}.meta").read_bytes())
    graph = tf.compat.v1.graph_util.extract_sub_graph(meta.graph_def, [ORIGINAL_LOGITS[:-2]])
    reader = tf.compat.v1.train.NewCheckpointReader(prefix)  # load_checkpoint wants a "checkpoint" file
    frozen = graph_pb2.GraphDef()
    for node in graph.node:
        if node.op in ("VariableV2", "Variable"):
            const = node_def_pb2.NodeDef(name=node.name, op="Const")
            const.attr["dtype"].CopyFrom(node.attr["dtype"])
            const.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(reader.get_tensor(node.name)))
            node = const
        else:
            node = node_def_pb2.NodeDef.FromString(node.SerializeToString())
            node.attr.pop("_output_shapes", None)  # TF 1.12 shape annotations newer TF rejects
        frozen.node.append(node)
    return frozen, reader


def architecture(graph) -> dict:
    """Layer settings read from the trained graph, in order: conv padding, pool sizes/strides, BN epsilon."""
    by_name = {n.name: n for n in graph.node}
    pools = [n for n in graph.node if n.op == "MaxPool"]
    convs = [by_name[f"model/{c}/Conv2D"] for c in CONV_NAMES]
    eps = {n.attr["epsilon"].f for n in graph.node if n.op.startswith("FusedBatchNorm")}
    if len(pools) != len(CONV_NAMES) or len(eps) != 1:
        raise SystemExit(f"unexpected graph: {len(pools)} pools, epsilons {eps}")
    if any(p.attr["padding"].s != b"VALID" for p in pools) or any(c.attr["padding"].s != b"SAME" for c in convs):
        raise SystemExit("unexpected padding in the trained graph")
    return {
        "pool_sizes": [list(p.attr["ksize"].list.i)[1:3] for p in pools],
        "pool_strides": [list(p.attr["strides"].list.i)[1:3] for p in pools],
        "bn_epsilon": round(float(eps.pop()), 6),
    }


def build_keras(arch: dict, reader, n_tags: int):
    """The VGG tagger in plain Keras layers (conv -> ReLU -> BN -> max-pool, x5), weights copied in."""
    import keras
    from keras import layers

    def bn(name: str):
        layer = layers.BatchNormalization(epsilon=arch["bn_epsilon"], name=name)
        return layer, [reader.get_tensor(f"{name}/{v}") for v in ("gamma", "beta", "moving_mean", "moving_variance")]

    weights = {}
    inputs = keras.Input((PATCH_FRAMES, N_MELS), name="log_mel")
    x = layers.Reshape((PATCH_FRAMES, N_MELS, 1), name="add_channel")(inputs)
    layer, weights[BN_NAMES[0]] = bn(BN_NAMES[0])
    x = layer(x)
    for conv_name, bn_name, size, stride in zip(CONV_NAMES, BN_NAMES[1:], arch["pool_sizes"], arch["pool_strides"]):
        kernel = reader.get_tensor(f"{conv_name}/kernel")
        weights[f"conv{conv_name[0]}"] = [kernel, reader.get_tensor(f"{conv_name}/bias")]
        x = layers.Conv2D(kernel.shape[-1], kernel.shape[:2], padding="same", activation="relu",
                          name=f"conv{conv_name[0]}")(x)
        layer, weights[bn_name] = bn(bn_name)
        x = layer(x)
        x = layers.MaxPooling2D(tuple(size), tuple(stride), padding="valid", name=f"pool{conv_name[0]}")(x)
    x = layers.Flatten(name=EMBEDDING_LAYER)(x)
    weights["logits"] = [reader.get_tensor("dense/kernel"), reader.get_tensor("dense/bias")]
    x = layers.Dense(n_tags, name="logits")(x)
    outputs = layers.Activation("sigmoid", name="tags")(x)
    model = keras.Model(inputs, outputs, name="musicnn_msd_vgg")
    for name, values in weights.items():
        model.get_layer(name).set_weights(values)
    model.trainable = False
    return model


def reference_inputs() -> np.ndarray:
    """Four patches from synthetic audio (chord, drum-like clicks + noise, chirp, loud clipped square)."""
    rng = np.random.default_rng(0)
    t = np.arange(int(3.2 * SAMPLE_RATE)) / SAMPLE_RATE
    chord = sum(0.2 * np.sin(2 * np.pi * f * t * (1 + 0.003 * np.sin(2 * np.pi * 5 * t))) for f in (220, 277.2, 329.6))
    beats = np.zeros_like(t)
    beats[:: SAMPLE_RATE // 4] = 1.0
    drums = np.convolve(beats, np.exp(-np.arange(800) / 120) * rng.standard_normal(800), "same") * 0.5
    drums += 0.02 * rng.standard_normal(t.size)
    chirp = 0.5 * np.sin(2 * np.pi * (100 * t + 600 * t**2))
    square = np.sign(np.sin(2 * np.pi * 110 * t))  # full scale: mel power far above float16's range
    signals = [chord, drums, chirp, square]
    # float16-exact inputs so the stored (float16) patches are exactly what both networks saw
    return np.stack([patches(s.astype(np.float32), SAMPLE_RATE)[0] for s in signals]).astype(np.float16).astype(np.float32)


def run_original(graph, x: np.ndarray) -> dict[str, np.ndarray]:
    """Run the trained TF1 graph in inference mode (is_training=False) on patches ``x``."""
    import tensorflow as tf

    with tf.Graph().as_default() as g:
        tf.compat.v1.import_graph_def(graph, name="")
        logits, emb = g.get_tensor_by_name(ORIGINAL_LOGITS), g.get_tensor_by_name(ORIGINAL_EMBEDDING)
        probs = tf.sigmoid(logits)
        with tf.compat.v1.Session(graph=g) as sess:
            out = sess.run({"tags": probs, "embedding": emb, "logits": logits},
                           {ORIGINAL_INPUT: x, ORIGINAL_IS_TRAINING: False})
    return out


def compare(model, original: dict[str, np.ndarray], x: np.ndarray) -> dict[str, float]:
    """Max abs differences of the Keras model's outputs to the original's; exits if out of tolerance."""
    import keras

    emb_model = keras.Model(model.inputs, [model.get_layer(EMBEDDING_LAYER).output, model.output])
    emb, probs = (np.asarray(a) for a in emb_model.predict(x, verbose=0))
    diffs = {"embedding": float(np.abs(emb - original["embedding"]).max()),
             "tags": float(np.abs(probs - original["tags"]).max())}
    ok = np.allclose(emb, original["embedding"], **TOLERANCE) and np.allclose(probs, original["tags"], **TOLERANCE)
    print(f"max |keras - original|: {diffs}  (embedding scale {np.abs(original['embedding']).max():.3g})")
    if not ok:
        raise SystemExit(f"Keras model does not reproduce the original within {TOLERANCE}")
    return diffs


def write_folder(model, out: Path, meta: dict, licence: str, source_note: str) -> None:
    """Save model.keras + model.json (atomic folder swap, via the registry), then LICENSE and SOURCE.md."""
    save_model(out.name, model, meta, root=out.parent, overwrite=True)
    write_text(out / "LICENSE", licence.rstrip() + "\n")
    write_text(out / "SOURCE.md", source_note)


def write_reference(x: np.ndarray, original: dict[str, np.ndarray], path: Path) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, patches=x.astype(np.float16), **{k: v.astype(np.float32) for k, v in original.items()})


SOURCE_NOTE = """# musicnn MSD_vgg, converted to Keras 3

- Origin: `musicnn` 0.1.0 on PyPI (wheel sha256 `{wheel_sha}`), folder `musicnn/{ckpt}/`: a TensorFlow
  1.12 checkpoint of the VGG-like baseline tagger by Jordi Pons (Music Technology Group, Universitat
  Pompeu Fabra), trained on the Million Song Dataset's 50 most frequent Last.fm tags (the package's
  `experiment.result`: ROC-AUC 0.877, PR-AUC 0.282). Paper: Pons & Serra, "musicnn: pre-trained
  convolutional neural networks for music audio tagging", ISMIR 2019 LBD. Code: github.com/jordipons/musicnn.
- Licence: ISC, see `LICENSE` (the package's `LICENSE.md`, kept with the weights as it requires).
- Conversion: `scripts/convert_musicnn.py` (ours) read the variables with TensorFlow's checkpoint reader and
  the architecture from the checkpoint's own graph, rebuilt it with plain Keras layers and checked it
  against the original graph run with `tf.compat.v1`: max |diff| {diffs} on 4 patches
  (`tests/data/musicnn_msd_vgg_reference.npz`, replayed by `tests/test_musicnn.py`).
- Note: the trained MSD_vgg pools (4,1)/(4,1) then (1,4)/(1,4) in its first two blocks; the package's
  `models.vgg` (shared with MTT_vgg) says (4,1)/(2,2) then (2,2)/(2,2), which loads without error (same
  variable shapes) but is not the trained network. We follow the trained graph.
- Input: `core.musicnn.patches` (16 kHz, 96 mel bands, n_fft 512, hop 256, log10(10000 x + 1), 187 frames).
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="musicnn-0.1.0-py3-none-any.whl (pip download --no-deps musicnn==0.1.0)")
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    parser.add_argument("--reference", type=Path, default=REFERENCE)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        prefix, labels, licence = unpack_wheel(args.wheel, Path(tmp))
        graph, reader = trained_graph(prefix)
        arch = architecture(graph)
        print("trained architecture:", arch)
        model = build_keras(arch, reader, len(labels))
        x = reference_inputs()
        original = run_original(graph, x)
    diffs = compare(model, original, x)
    meta = {
        "name": "musicnn_msd_vgg",
        "source": f"musicnn 0.1.0 (PyPI), {CHECKPOINT} checkpoint, ISC licence",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "input": {"sample_rate": SAMPLE_RATE, "n_fft": N_FFT, "hop_length": HOP, "n_mels": N_MELS,
                  "frames": PATCH_FRAMES, "compression": "log10(10000 * mel_power + 1)"},
        "architecture": arch,
        "embedding_layer": EMBEDDING_LAYER,
        "tags": labels,
        "check_vs_original": {"max_abs_diff": diffs, "tolerance": TOLERANCE, "n_patches": len(x)},
    }
    wheel_sha = hashlib.sha256(args.wheel.read_bytes()).hexdigest()
    note = SOURCE_NOTE.format(wheel_sha=wheel_sha, ckpt=CHECKPOINT, diffs=json.dumps(diffs))
    meta["wheel_sha256"] = wheel_sha
    write_folder(model, args.out, meta, licence, note)
    write_reference(x, original, args.reference)
    size = sum(f.stat().st_size for f in args.out.iterdir())
    print(f"wrote {args.out} ({size / 1e6:.2f} MB) and {args.reference}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
