"""Convert musicnn's four TensorFlow 1 checkpoints into Keras 3 models, each checked against its original graph.

One-off, offline once the wheel is on disk (musicnn is *not* a dependency: its pins are outdated)::

    .venv/bin/pip download --no-deps musicnn==0.1.0 -d /tmp/musicnn
    .venv/bin/python scripts/convert_musicnn.py /tmp/musicnn/musicnn-0.1.0-py3-none-any.whl [--checkpoint MSD_musicnn ...]

For each checkpoint (all four by default): read its variables (TensorFlow's checkpoint reader) and the
architecture actually trained, from the checkpoint's own graph (``.meta``: pooling sizes, padding,
batch-norm epsilon; the trained MSD_vgg pools differently from the package's ``models.vgg``, which
matches MTT_vgg); build the same network from plain Keras layers (no Lambda: the models load with
``safe_mode=True``) and copy the variables in; run the *original* graph (pruned to inference, its
variables frozen to constants, executed with ``tf.compat.v1``) and the Keras model on reference patches
and require the same outputs; then write ``model.keras`` + ``model.json`` + the ISC licence and a source
note to ``models/_pretrained/musicnn_<name>`` (atomically) and the reference pairs to
``tests/data/musicnn_<name>_reference.npz``, which ``tests/test_musicnn.py`` replays.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import re
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
from core.features.musicnn import (  # noqa: E402
    CHECKPOINTS,
    EMBEDDING_LAYER,
    HOP,
    N_FFT,
    N_MELS,
    PATCH_FRAMES,
    PRETRAINED_DIR,
    SAMPLE_RATE,
    model_dir,
    patches,
)
from core.models.registry import save_backbone  # noqa: E402

WHEEL_CHECKPOINTS = ("MSD_vgg", "MSD_musicnn", "MTT_vgg", "MTT_musicnn")
assert tuple(c.lower() for c in WHEEL_CHECKPOINTS) == CHECKPOINTS
REFERENCE_DIR = ROOT / "tests" / "data"
DATASETS = {
    "MSD": ("MSD_LABELS", "the Million Song Dataset's 50 most frequent Last.fm tags"),
    "MTT": ("MTT_LABELS", "MagnaTagATune's 50 most frequent tags"),
}
ORIGINAL_INPUT = "model/Placeholder:0"
ORIGINAL_IS_TRAINING = "model/Placeholder_2:0"
# The graph tensors we compare with: the tag layer's logits and the layer our models call "embedding".
ORIGINAL_OUTPUTS = {
    "vgg": {"logits": "model/dense/BiasAdd:0", "embedding": "model/Flatten/flatten/Reshape:0"},
    "musicnn": {"logits": "model/dense_1/BiasAdd:0", "embedding": "model/batch_normalization_10/batchnorm/add_1:0"},
}
TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}  # float32 re-association between TF1 kernels and Keras

VGG_CONVS = ("1CNN", "2CNN", "3CNN", "4CNN", "5CNN")
VGG_MODELS_PY_POOLS = ([[4, 1], [2, 2]], [[2, 2], [2, 2]], [[2, 2], [2, 2]], [[2, 2], [2, 2]], [[4, 4], [4, 4]])
# musicnn: our Keras layer -> the checkpoint's variable scope (tf.compat.v1.layers' automatic names, in
# models.build_musicnn's order; their kernel shapes are checked in musicnn_architecture).
MUSICNN_CONVS = {"timbral_74": "conv2d", "timbral_77": "conv2d_1", "temporal_128": "conv2d_2",
                 "temporal_64": "conv2d_3", "temporal_32": "conv2d_4",
                 "midend_1": "conv2d_5", "midend_2": "conv2d_6", "midend_3": "conv2d_7"}
MUSICNN_BNS = {"input_bn": "batch_normalization", "timbral_74_bn": "batch_normalization_1",
               "timbral_77_bn": "batch_normalization_2", "temporal_128_bn": "batch_normalization_3",
               "temporal_64_bn": "batch_normalization_4", "temporal_32_bn": "batch_normalization_5",
               "midend_1_bn": "batch_normalization_6", "midend_2_bn": "batch_normalization_7",
               "midend_3_bn": "batch_normalization_8", "pool_bn": "batch_normalization_9",
               EMBEDDING_LAYER: "batch_normalization_10"}


def unpack_wheel(wheel: Path, ckpt: str, dest: Path) -> tuple[str, list[str], str, str]:
    """Extract one checkpoint; return (checkpoint prefix, tag names, licence text, its experiment.result)."""
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if n.startswith(f"musicnn/{ckpt}/")]
        zf.extractall(dest, members=names)
        config = ast.parse(zf.read("musicnn/configuration.py").decode("utf-8"))
        licence = next(zf.read(n) for n in zf.namelist() if n.endswith(".dist-info/LICENSE.md")).decode("utf-8")
    labels = next(
        ast.literal_eval(node.value) for node in config.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == DATASETS[ckpt[:3]][0]
    )
    folder = dest / "musicnn" / ckpt
    # The checkpoint's prefix is the folder itself: files are named ".index", ".data-...", ".meta".
    return f"{folder}/", labels, licence, (folder / "experiment.result").read_text(encoding="utf-8")


def trained_graph(prefix: str, outputs: list[str]):
    """The inference part of the checkpoint's own graph, variables frozen to their trained values."""
    import tensorflow as tf
    from tensorflow.core.framework import graph_pb2, node_def_pb2
    from tensorflow.core.protobuf import meta_graph_pb2

    meta = meta_graph_pb2.MetaGraphDef()
    meta.ParseFromString(Path(f"{prefix}.meta").read_bytes())
    graph = tf.compat.v1.graph_util.extract_sub_graph(meta.graph_def, [t[:-2] for t in outputs])
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


def _bn_epsilon(graph) -> float:
    """The one batch-norm epsilon of the graph (fused and, for musicnn's back-end, unfused batch norms)."""
    import tensorflow as tf

    eps = {n.attr["epsilon"].f for n in graph.node if n.op.startswith("FusedBatchNorm")}
    eps |= {float(tf.make_ndarray(n.attr["value"].tensor)) for n in graph.node if n.name.endswith("batchnorm/add/y")}
    if len(eps) != 1:
        raise SystemExit(f"unexpected graph: batch-norm epsilons {eps}")
    return round(float(eps.pop()), 6)


def vgg_architecture(graph) -> dict:
    """Layer settings read from the trained graph, in order: conv padding, pool sizes/strides, BN epsilon."""
    by_name = {n.name: n for n in graph.node}
    pools = [n for n in graph.node if n.op == "MaxPool"]
    convs = [by_name[f"model/{c}/Conv2D"] for c in VGG_CONVS]
    if len(pools) != len(VGG_CONVS):
        raise SystemExit(f"unexpected graph: {len(pools)} pools")
    if any(p.attr["padding"].s != b"VALID" for p in pools) or any(c.attr["padding"].s != b"SAME" for c in convs):
        raise SystemExit("unexpected padding in the trained graph")
    return {
        "pool_sizes": [list(p.attr["ksize"].list.i)[1:3] for p in pools],
        "pool_strides": [list(p.attr["strides"].list.i)[1:3] for p in pools],
        "bn_epsilon": _bn_epsilon(graph),
    }


def musicnn_architecture(graph, reader) -> dict:
    """Check the trained graph is models.build_musicnn's network; return its sizes (kernels, filters, units).

    Timbral convs: time-padded by 3 then VALID, vertical (7 x part of the mel axis); temporal convs: SAME,
    horizontal (n x 1); every front-end conv is max-pooled over the whole remaining frequency axis;
    mid-end convs: time-padded by 3 then VALID over the full feature axis (a 1-D conv, 'same' in time).
    """
    import tensorflow as tf

    by_name = {n.name: n for n in graph.node}
    kernels = {k: reader.get_tensor(f"{v}/kernel").shape for k, v in MUSICNN_CONVS.items()}
    pool_after = {n.input[0].split("/")[1]: n for n in graph.node if n.op == "MaxPool"}  # keyed by BN scope
    problems = []
    for layer, scope in MUSICNN_CONVS.items():
        conv = by_name[f"model/{scope}/Conv2D"]
        source = by_name[conv.input[0].split(":")[0]]
        padded = source.op == "Pad"
        if padded and tf.make_ndarray(by_name[source.input[1]].attr["value"].tensor).tolist() != [[0, 0], [3, 3], [0, 0], [0, 0]]:
            problems.append(f"{scope}: padding other than 3 frames either side")
        expect = (True, b"VALID") if layer.startswith(("timbral", "midend")) else (False, b"SAME")
        if (padded, conv.attr["padding"].s) != expect:
            problems.append(f"{scope}: padding {conv.attr['padding'].s} (pre-padded: {padded})")
        if layer.startswith(("timbral", "temporal")):  # front-end: max over the conv's whole frequency output
            width = N_MELS - kernels[layer][1] + 1 if layer.startswith("timbral") else N_MELS
            pool = pool_after.get(MUSICNN_BNS[f"{layer}_bn"])
            if pool is None or list(pool.attr["ksize"].list.i) != [1, 1, width, 1]:
                problems.append(f"{scope}: not max-pooled over the whole frequency axis")
    if len(pool_after) != 5 or any(kernels[k][0] != 7 or kernels[k][1] >= N_MELS for k in ("timbral_74", "timbral_77")):
        problems.append("front-end is not two vertical 7 x n timbral convs and three pools")
    if any(kernels[k][1] != 1 for k in ("temporal_128", "temporal_64", "temporal_32")):
        problems.append("temporal kernels are not horizontal (n x 1)")
    if problems:
        raise SystemExit("trained graph differs from models.build_musicnn: " + "; ".join(problems))
    return {
        "timbral_kernels": [list(kernels[k][:2]) for k in ("timbral_74", "timbral_77")],
        "timbral_filters": int(kernels["timbral_74"][-1]),
        "temporal_kernels": [list(kernels[k][:2]) for k in ("temporal_128", "temporal_64", "temporal_32")],
        "temporal_filters": int(kernels["temporal_128"][-1]),
        "midend_kernel": int(kernels["midend_1"][0]),
        "midend_filters": int(kernels["midend_1"][-1]),
        "backend_units": int(reader.get_tensor("dense/kernel").shape[-1]),
        "bn_epsilon": _bn_epsilon(graph),
    }


def _bn(layers, name: str, scope: str, arch: dict, reader, weights: dict):
    weights[name] = [reader.get_tensor(f"{scope}/{v}") for v in ("gamma", "beta", "moving_mean", "moving_variance")]
    return layers.BatchNormalization(epsilon=arch["bn_epsilon"], name=name)


def build_vgg(arch: dict, reader, n_tags: int, name: str):
    """The VGG tagger in plain Keras layers (conv -> ReLU -> BN -> max-pool, x5), weights copied in."""
    import keras
    from keras import layers

    weights: dict[str, list] = {}
    bn_scopes = [f"batch_normalization{s}" for s in ("", "_1", "_2", "_3", "_4", "_5")]
    inputs = keras.Input((PATCH_FRAMES, N_MELS), name="log_mel")
    x = layers.Reshape((PATCH_FRAMES, N_MELS, 1), name="add_channel")(inputs)
    x = _bn(layers, bn_scopes[0], bn_scopes[0], arch, reader, weights)(x)
    for conv, bn_scope, size, stride in zip(VGG_CONVS, bn_scopes[1:], arch["pool_sizes"], arch["pool_strides"]):
        kernel = reader.get_tensor(f"{conv}/kernel")
        weights[f"conv{conv[0]}"] = [kernel, reader.get_tensor(f"{conv}/bias")]
        x = layers.Conv2D(kernel.shape[-1], kernel.shape[:2], padding="same", activation="relu", name=f"conv{conv[0]}")(x)
        x = _bn(layers, bn_scope, bn_scope, arch, reader, weights)(x)
        x = layers.MaxPooling2D(tuple(size), tuple(stride), padding="valid", name=f"pool{conv[0]}")(x)
    x = layers.Flatten(name=EMBEDDING_LAYER)(x)
    weights["logits"] = [reader.get_tensor("dense/kernel"), reader.get_tensor("dense/bias")]
    x = layers.Dense(n_tags, name="logits")(x)
    return _finish(keras.Model(inputs, layers.Activation("sigmoid", name="tags")(x), name=name), weights)


def build_musicnn(arch: dict, reader, n_tags: int, name: str):
    """musicnn (Pons et al.) in plain Keras layers, weights copied in.

    Front-end: batch-normed log-mel -> vertical 'timbral' convs (7 x 38, 7 x 67 mel bands) and horizontal
    'temporal' convs (128/64/32 frames x 1), each ReLU -> BN -> max over frequency, concatenated per frame.
    Mid-end: three 1-D convs over time (ReLU -> BN), the second and third with residual connections; the
    front-end and all three outputs are concatenated. Back-end: max and mean over time (interleaved per
    feature, as the original flattens them), BN, dense ReLU, BN ("embedding", the penultimate layer), tags.
    """
    import keras
    from keras import layers

    weights: dict[str, list] = {}

    def conv2d(layer: str, x, **kwargs):
        scope = MUSICNN_CONVS[layer]
        kernel, bias = reader.get_tensor(f"{scope}/kernel"), reader.get_tensor(f"{scope}/bias")
        weights[layer] = [kernel, bias]
        x = layers.Conv2D(kernel.shape[-1], kernel.shape[:2], activation="relu", name=layer, **kwargs)(x)
        x = _bn(layers, f"{layer}_bn", MUSICNN_BNS[f"{layer}_bn"], arch, reader, weights)(x)
        x = layers.MaxPooling2D((1, x.shape[2]), name=f"{layer}_freq_max")(x)
        return layers.Reshape((PATCH_FRAMES, kernel.shape[-1]), name=f"{layer}_frames")(x)

    def conv1d(layer: str, x):
        scope = MUSICNN_CONVS[layer]
        kernel, bias = reader.get_tensor(f"{scope}/kernel"), reader.get_tensor(f"{scope}/bias")
        weights[layer] = [kernel[:, :, 0, :], bias]  # (7, features, 1, filters): a 1-D conv over time
        x = layers.Conv1D(kernel.shape[-1], kernel.shape[0], padding="same", activation="relu", name=layer)(x)
        return _bn(layers, f"{layer}_bn", MUSICNN_BNS[f"{layer}_bn"], arch, reader, weights)(x)

    inputs = keras.Input((PATCH_FRAMES, N_MELS), name="log_mel")
    x = layers.Reshape((PATCH_FRAMES, N_MELS, 1), name="add_channel")(inputs)
    x = _bn(layers, "input_bn", MUSICNN_BNS["input_bn"], arch, reader, weights)(x)
    padded = layers.ZeroPadding2D(((3, 3), (0, 0)), name="time_pad")(x)
    frontend = [conv2d(layer, padded, padding="valid") for layer in ("timbral_74", "timbral_77")]
    frontend += [conv2d(layer, x, padding="same") for layer in ("temporal_128", "temporal_64", "temporal_32")]
    front = layers.Concatenate(name="frontend")(frontend)
    mid1 = conv1d("midend_1", front)
    mid2 = layers.Add(name="midend_2_residual")([conv1d("midend_2", mid1), mid1])
    mid3 = layers.Add(name="midend_3_residual")([conv1d("midend_3", mid2), mid2])
    features = layers.Concatenate(name="midend")([front, mid1, mid2, mid3])
    n_features = features.shape[-1]
    pooled = [layers.Reshape((n_features, 1), name=f"{kind}_pool_column")(pool(name=f"{kind}_pool")(features))
              for kind, pool in (("max", layers.GlobalMaxPooling1D), ("mean", layers.GlobalAveragePooling1D))]
    x = layers.Flatten(name="max_mean_pool")(layers.Concatenate(name="max_mean")(pooled))
    x = _bn(layers, "pool_bn", MUSICNN_BNS["pool_bn"], arch, reader, weights)(x)
    weights["penultimate"] = [reader.get_tensor("dense/kernel"), reader.get_tensor("dense/bias")]
    x = layers.Dense(arch["backend_units"], activation="relu", name="penultimate")(x)
    x = _bn(layers, EMBEDDING_LAYER, MUSICNN_BNS[EMBEDDING_LAYER], arch, reader, weights)(x)
    weights["logits"] = [reader.get_tensor("dense_1/kernel"), reader.get_tensor("dense_1/bias")]
    x = layers.Dense(n_tags, name="logits")(x)
    return _finish(keras.Model(inputs, layers.Activation("sigmoid", name="tags")(x), name=name), weights)


def _finish(model, weights: dict):
    for layer, values in weights.items():
        model.get_layer(layer).set_weights(values)
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


def run_original(graph, outputs: dict[str, str], x: np.ndarray) -> dict[str, np.ndarray]:
    """Run the trained TF1 graph in inference mode (is_training=False) on patches ``x``."""
    import tensorflow as tf

    with tf.Graph().as_default() as g:
        tf.compat.v1.import_graph_def(graph, name="")
        fetch = {k: g.get_tensor_by_name(v) for k, v in outputs.items()}
        fetch["tags"] = tf.sigmoid(fetch["logits"])
        with tf.compat.v1.Session(graph=g) as sess:
            return sess.run(fetch, {ORIGINAL_INPUT: x, ORIGINAL_IS_TRAINING: False})


def compare(model, original: dict[str, np.ndarray], x: np.ndarray) -> dict[str, float]:
    """Max abs differences of the Keras model's outputs to the original's; exits if out of tolerance."""
    import keras

    emb_model = keras.Model(model.inputs, [model.get_layer(EMBEDDING_LAYER).output, model.output])
    emb, probs = (np.asarray(a) for a in emb_model.predict(x, verbose=0))
    diffs = {"embedding": float(np.abs(emb - original["embedding"]).max()),
             "tags": float(np.abs(probs - original["tags"]).max())}
    ok = np.allclose(emb, original["embedding"], **TOLERANCE) and np.allclose(probs, original["tags"], **TOLERANCE)
    print(f"  max |keras - original|: {diffs}  (embedding scale {np.abs(original['embedding']).max():.3g})")
    if not ok:
        raise SystemExit(f"Keras model does not reproduce the original within {TOLERANCE}")
    return diffs


def write_folder(model, out: Path, meta: dict, licence: str, source_note: str) -> None:
    """Save model.keras + model.json (atomic folder swap, via the registry), then LICENSE and SOURCE.md."""
    save_backbone(out, model, meta)
    write_text(out / "LICENSE", licence.rstrip() + "\n")
    write_text(out / "SOURCE.md", source_note)


def write_reference(x: np.ndarray, original: dict[str, np.ndarray], path: Path) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, patches=x.astype(np.float16), **{k: v.astype(np.float32) for k, v in original.items()})


def scores(result: str) -> dict[str, float]:
    """ROC-AUC and PR-AUC from a checkpoint's ``experiment.result`` (both layouts the package uses)."""
    values = [float(v) for v in re.findall(r"AUC: ([0-9.]+)", result)]
    return {"roc_auc": round(values[0], 3), "pr_auc": round(values[1], 3)}


ARCHITECTURE_NOTES = {
    "vgg": "the VGG-like baseline tagger (five 3x3 conv blocks, 128 filters each); our `embedding` is its "
           "flattened last pooling layer ({size}-d), which the tag layer reads",
    "musicnn": "musicnn, the musically motivated CNN (timbral + temporal front-end, residual 1-D conv mid-end, "
               "max+mean pooled dense back-end); our `embedding` is its {size}-d penultimate layer (after "
               "batch norm), which the tag layer reads",
}

SOURCE_NOTE = """# musicnn {ckpt}, converted to Keras 3

- Origin: `musicnn` 0.1.0 on PyPI (wheel sha256 `{wheel_sha}`), folder `musicnn/{ckpt}/`:
  a TensorFlow 1.12 checkpoint by Jordi Pons (Music Technology Group, Universitat Pompeu Fabra), trained on
  {dataset} (the package's `experiment.result`: ROC-AUC {roc_auc}, PR-AUC {pr_auc}). Paper: Pons & Serra,
  "musicnn: pre-trained convolutional neural networks for music audio tagging", ISMIR 2019 LBD.
  Code: github.com/jordipons/musicnn.
- Network: {arch_note}.
- Licence: ISC, see `LICENSE` (the package's `LICENSE.md`, kept with the weights as it requires).
- Conversion: `scripts/convert_musicnn.py` (ours) read the variables with TensorFlow's checkpoint reader and
  the architecture from the checkpoint's own graph, rebuilt it with plain Keras layers and checked it
  against the original graph run with `tf.compat.v1`: max |diff| {diffs} on 4 patches
  (`tests/data/musicnn_{name}_reference.npz`, replayed by `tests/test_musicnn.py`).
{graph_note}- Input: `core.features.musicnn.patches` (16 kHz, 96 mel bands, n_fft 512, hop 256, log10(10000 x + 1), 187 frames).
"""


def graph_note(ckpt: str, arch: dict) -> str:
    """For VGG checkpoints: whether the trained pooling is the one in the package's ``models.vgg``."""
    if "pool_sizes" not in arch:
        return "- The trained graph is the package's `models.build_musicnn` (its paddings, pools and kernel shapes checked).\n"
    trained = [list(p) for p in zip(arch["pool_sizes"], arch["pool_strides"])]
    if trained == [list(p) for p in VGG_MODELS_PY_POOLS]:
        return "- The trained graph pools as the package's `models.vgg` says (checked).\n"

    def pools(spec) -> str:
        return ", ".join(f"{tuple(size)}/{tuple(stride)}" for size, stride in spec)

    return (f"- Note: the trained {ckpt} pools (size/stride per block) {pools(trained)}; the package's\n"
            f"  `models.vgg` (shared by both VGG checkpoints) says {pools(VGG_MODELS_PY_POOLS)}, which loads\n"
            "  without error (same variable shapes) but is not the trained network. We follow the trained graph.\n")


def convert(wheel: Path, wheel_sha: str, ckpt: str, out_root: Path, reference_dir: Path) -> None:
    name = ckpt.lower()
    family = "vgg" if name.endswith("_vgg") else "musicnn"
    outputs = ORIGINAL_OUTPUTS[family]
    with tempfile.TemporaryDirectory() as tmp:
        prefix, labels, licence, result = unpack_wheel(wheel, ckpt, Path(tmp))
        graph, reader = trained_graph(prefix, list(outputs.values()))
        arch = vgg_architecture(graph) if family == "vgg" else musicnn_architecture(graph, reader)
        print(f"{ckpt}: trained architecture {arch}")
        build = build_vgg if family == "vgg" else build_musicnn
        model = build(arch, reader, len(labels), f"musicnn_{name}")
        x = reference_inputs()
        original = run_original(graph, outputs, x)
    diffs = compare(model, original, x)
    size = int(model.get_layer(EMBEDDING_LAYER).output.shape[-1])
    meta = {
        "name": f"musicnn_{name}",
        "source": f"musicnn 0.1.0 (PyPI), {ckpt} checkpoint, ISC licence",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "input": {"sample_rate": SAMPLE_RATE, "n_fft": N_FFT, "hop_length": HOP, "n_mels": N_MELS,
                  "frames": PATCH_FRAMES, "compression": "log10(10000 * mel_power + 1)"},
        "architecture": arch,
        "embedding_layer": EMBEDDING_LAYER,
        "embedding_size": size,
        "tags": labels,
        "original_scores": scores(result),
        "check_vs_original": {"max_abs_diff": diffs, "tolerance": TOLERANCE, "n_patches": len(x)},
        "wheel_sha256": wheel_sha,
    }
    note = SOURCE_NOTE.format(
        ckpt=ckpt, name=name, wheel_sha=wheel_sha, arch_note=ARCHITECTURE_NOTES[family].format(size=size),
        dataset=DATASETS[ckpt[:3]][1], diffs=json.dumps(diffs), graph_note=graph_note(ckpt, arch), **scores(result),
    )
    out = model_dir(name, out_root)
    reference = reference_dir / f"musicnn_{name}_reference.npz"
    write_folder(model, out, meta, licence, note)
    write_reference(x, original, reference)
    print(f"  wrote {out} ({sum(f.stat().st_size for f in out.iterdir()) / 1e6:.2f} MB) and {reference}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="musicnn-0.1.0-py3-none-any.whl (pip download --no-deps musicnn==0.1.0)")
    parser.add_argument("--checkpoint", action="append", choices=WHEEL_CHECKPOINTS,
                        help="convert only this checkpoint (repeatable; default: all four)")
    parser.add_argument("--out", type=Path, default=PRETRAINED_DIR, help="folder that receives musicnn_<name>/")
    parser.add_argument("--reference-dir", type=Path, default=REFERENCE_DIR)
    args = parser.parse_args(argv)
    wheel_sha = hashlib.sha256(args.wheel.read_bytes()).hexdigest()
    for ckpt in args.checkpoint or WHEEL_CHECKPOINTS:
        convert(args.wheel, wheel_sha, ckpt, args.out, args.reference_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
