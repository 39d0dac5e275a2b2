"""A registered model's network as something that runs: its ONNX export (``model.onnx``) on OpenVINO, or Keras.

Classifying needs only the forward pass of a few small networks, so a saved model also carries an
*inference export*: :func:`export` (called by :func:`core.models.registry.save_model`) converts the Keras
network with ``tf2onnx`` and keeps the file only when OpenVINO's outputs equal Keras's on probe inputs
(:data:`TOLERANCE` on the probabilities); the card's ``inference`` records the check, or why there is no
export. :func:`load_network` runs the export without importing TensorFlow (a process that classifies with
it holds a few hundred MB instead of 1.5 GB); a model without one runs through Keras, with a :attr:`Network.note`
saying so. ``CPUNK_INFERENCE=keras`` runs every model through Keras (to compare the two).

Both kinds of :class:`Network` take one array per model input (:mod:`core.models.model_inputs`) and return
the network's outputs, the genre probabilities last. A tag-reading model (:mod:`core.models.tag_evidence`)
runs as its two-output copy, the tag logits per window first, and carries its :class:`LinearHead`
(in the export: the ONNX metadata ``linear_head``). OpenVINO (its CPU plugin reads the ONNX file itself) runs
in float32, as the check did: on a CPU with bfloat16 units it would otherwise compute in bfloat16, faster but
with tag logits off by ~0.04. Each network has one infer request, used one call at a time (ten sessions
classifying at once queue for the network, not for memory: two cores gain nothing from ten concurrent calls);
the activations' memory is handed back after each recording (:meth:`Network.release`); its threads are not
pinned to cores (the machine is shared); and glibc is told to hand large freed blocks back to the system
(:func:`release_freed_memory`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from core.models.tag_evidence import LinearHead, explaining_model, explains_with_tags
from core.threads import THREADS

if TYPE_CHECKING:
    from core.models.model_card import ModelCard

EXPORT_FILE = "model.onnx"
RUNTIME_ENV = "CPUNK_INFERENCE"  # "keras": ignore the exports
TOLERANCE = 1e-5  # largest difference of a probability, export vs Keras, on the probe inputs
OPSET = 17
HEAD_KEY = "linear_head"
METADATA_KEY = ("framework",)  # where OpenVINO's ONNX reader keeps the file's metadata (rt_info)
# float32 (as checked; not bfloat16), one stream, threads free to move; INFERENCE_NUM_THREADS from set_threads
OPENVINO_CONFIG = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY", "ENABLE_CPU_PINNING": "NO"}
PROBE_ROWS = 16
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
# plausible value ranges of the patch inputs: log-mel dB (core.features.spectrograms), musicnn log10(10000 mel + 1)
PATCH_RANGES = {"log_mel": (-80.0, 0.0), "musicnn": (0.0, 4.0)}

_threads = THREADS


class ExportError(RuntimeError):
    """A network that could not be exported, or whose export does not equal it; the message says which."""


class Network(Protocol):
    """A runnable network: one float32 array per input in, its outputs out (the probabilities last)."""

    runtime: str  # "openvino" or "keras"
    head: LinearHead | None  # a tag-reading model's linear layer (its reasons), else None
    note: str  # why it runs through Keras, or ""

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]: ...

    def release(self) -> None:
        """Hand back the memory the last calls' activations held (called after a recording's last batch)."""


def set_threads(threads: int) -> None:
    """Threads for the networks this process loads from now on (and TensorFlow's, if it is loaded)."""
    global _threads
    _threads = threads
    if "core.keras_env" in sys.modules:
        sys.modules["core.keras_env"].set_threads(threads)


def load_keras(path: Path) -> Any:
    """The Keras model in ``path`` (``safe_mode``: no arbitrary code), without its optimizer."""
    from core.keras_env import keras
    from core.keras_env import set_threads as keras_threads

    keras_threads(_threads)
    return keras.models.load_model(path, safe_mode=True, compile=False)


def inference_model(model: Any, card: ModelCard) -> Any:
    """The Keras network classification runs: a tag-reading model's two-output copy, else ``model``."""
    return explaining_model(model) if explains_with_tags(card) else model


class KerasNetwork:
    """A Keras model run batch by batch (``predict_on_batch``: one compiled call)."""

    runtime = "keras"

    def __init__(self, model: Any, card: ModelCard, note: str = "") -> None:
        self.model = model
        self.network = inference_model(model, card)
        self.head = LinearHead.of(model) if explains_with_tags(card) else None
        self.note = note

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        found = self.network.predict_on_batch(inputs[0] if len(inputs) == 1 else inputs)
        return [np.asarray(f) for f in found] if isinstance(found, (list, tuple)) else [np.asarray(found)]

    def release(self) -> None:
        """Nothing to do: TensorFlow keeps its own allocator."""


class OpenVinoNetwork:
    """An ONNX export run by OpenVINO on the CPU: float32 throughout (:data:`OPENVINO_CONFIG`), :func:`set_threads`
    threads, one infer request used one call at a time."""

    runtime = "openvino"
    note = ""

    def __init__(self, model: bytes | Path) -> None:
        core = _openvino_core()
        release_freed_memory()
        network = core.read_model(model if isinstance(model, bytes) else str(model))
        head = network.get_rt_info([*METADATA_KEY, HEAD_KEY]).astype(str) if network.has_rt_info(
            [*METADATA_KEY, HEAD_KEY]) else ""
        self.head = LinearHead.from_json(head) if head else None
        self.compiled = core.compile_model(network, "CPU", {**OPENVINO_CONFIG, "INFERENCE_NUM_THREADS": str(_threads)})
        self.outputs = list(self.compiled.outputs)
        self.lock = threading.Lock()
        self.request = self.compiled.create_infer_request()

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        feed = [np.ascontiguousarray(x, dtype=np.float32) for x in inputs]
        with self.lock:
            found = self.request.infer(feed)  # copies the outputs (share_outputs=False)
            return [found[o] for o in self.outputs]

    def release(self) -> None:
        """Free the activations' memory, which OpenVINO otherwise keeps for the next call (~80 MB for 8 musicnn
        windows); once per recording, not per call (re-allocating it every batch costs ~20% more CPU)."""
        with self.lock:
            self.compiled.release_memory()


@functools.cache
def _openvino_core() -> Any:
    """The process's one OpenVINO ``Core`` (its CPU plugin is loaded once)."""
    import openvino as ov

    return ov.Core()


def release_freed_memory() -> None:
    """Make glibc serve allocations of 128 kB and more from ``mmap``, so that they return to the system when
    freed. By default glibc raises that bar after each large free, and a batch's activations then stay in the
    process's heap (~170 MB more resident after a 4-minute song). A no-op without glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, 128 * 1024)
    except (OSError, AttributeError):  # not glibc
        pass


def keras_only() -> bool:
    """Whether ``CPUNK_INFERENCE=keras`` asks to run every model through Keras."""
    return os.environ.get(RUNTIME_ENV, "").strip().lower() == "keras"


def check_intact(path: Path) -> None:
    """Raise :class:`zipfile.BadZipFile` unless ``path`` is a whole Keras file (a zip whose members all pass
    their CRC check), without loading Keras."""
    with zipfile.ZipFile(path) as archive:
        damaged = archive.testzip()
    if damaged is not None:
        raise zipfile.BadZipFile(f"{damaged} in {path.name} is damaged")


def load_network(folder: Path, keras_file: str, card: ModelCard) -> Network:
    """The network of the model in ``folder``: its export when there is one (and :func:`keras_only` is off),
    else its Keras file, with a note saying why. Raises what the loaders raise for a damaged file."""
    if (folder / EXPORT_FILE).is_file() and not keras_only():
        check_intact(folder / keras_file)  # a damaged model folder is refused even where its export could run
        return OpenVinoNetwork(folder / EXPORT_FILE)
    note = ("runs through Keras, as asked (CPUNK_INFERENCE=keras)" if keras_only() else
            f"has no inference export ({EXPORT_FILE}), so it runs through Keras: slower to start and heavier; "
            "`python scripts/export_models.py` writes one")
    return KerasNetwork(load_keras(folder / keras_file), card, note)


@dataclass(frozen=True)
class Export:
    """A checked export: the ONNX file's bytes and the card's ``inference`` record."""

    data: bytes
    record: dict[str, Any]


def probe_inputs(network: Any, card: ModelCard, rows: int = PROBE_ROWS, seed: int = 0) -> list[np.ndarray]:
    """Inputs to compare the export with Keras on, in the ranges the model reads: feature rows drawn around
    the card's per-genre means (within their spread), patches uniform over :data:`PATCH_RANGES`."""
    rng = np.random.default_rng(seed)
    out = []
    for kind, tensor in zip(card.inputs, network.inputs):
        shape = (rows, *tensor.shape[1:])
        stats = card.feature_stats.genres if card.feature_stats else {}
        if kind == "features" and stats:
            columns = card.feature_schema.columns
            means = np.array([[s[c].mean for c in columns] for s in stats.values()])
            spread = np.array([[s[c].std for c in columns] for s in stats.values()]).mean(axis=0)
            x = means[rng.integers(len(means), size=rows)] + rng.normal(size=shape) * spread
        elif kind in PATCH_RANGES:
            x = rng.uniform(*PATCH_RANGES[kind], size=shape)
        else:
            x = rng.normal(size=shape)
        out.append(x.astype(np.float32))
    return out


def export(model: Any, card: ModelCard) -> Export:
    """Convert ``model`` (Keras) for inference and check it: OpenVINO's probabilities must equal Keras's
    within :data:`TOLERANCE` on :func:`probe_inputs`. Raises :class:`ExportError` saying what failed."""
    try:
        import onnx
        import tf2onnx
    except ImportError as exc:
        raise ExportError(f"the converter is not installed ({exc.name}; see requirements.txt)") from exc

    from core.keras_env import keras, tf

    try:  # the converter (and a model it cannot read) raises many types
        network = inference_model(model, card)
        inputs = [keras.Input(shape=t.shape[1:], name=f"input_{i}") for i, t in enumerate(network.inputs)]
        # a functional copy (the converter cannot read a Sequential model's outputs), sharing the layers
        functional = keras.Model(inputs, network(inputs if len(inputs) > 1 else inputs[0]))
        signature = [tf.TensorSpec((None, *t.shape[1:]), tf.float32, name=t.name) for t in inputs]
        proto, _ = tf2onnx.convert.from_keras(functional, input_signature=signature, opset=OPSET)
    except Exception as exc:
        raise ExportError(f"the ONNX converter failed ({type(exc).__name__}: {str(exc)[:200]})") from exc
    if explains_with_tags(card):
        onnx.helper.set_model_props(proto, {HEAD_KEY: LinearHead.of(model).to_json()})
    data = proto.SerializeToString()
    probe = probe_inputs(network, card)
    want = KerasNetwork(model, card).run(probe)
    try:
        got = OpenVinoNetwork(data).run(probe)
    except Exception as exc:  # OpenVINO raises its own types for a graph it cannot read or run
        raise ExportError(f"OpenVINO cannot run the export ({type(exc).__name__}: {str(exc)[:200]})") from exc
    diffs = [float(np.abs(np.asarray(w, np.float64) - np.asarray(g, np.float64)).max()) for w, g in zip(want, got)]
    if not diffs[-1] <= TOLERANCE:  # also refuses NaN
        raise ExportError(f"its probabilities differ from Keras's by up to {diffs[-1]:.2g} (allowed {TOLERANCE:g})")
    record: dict[str, Any] = {
        "file": EXPORT_FILE, "runtime": "openvino", "converter": f"tf2onnx {tf2onnx.__version__}", "opset": OPSET,
        "check": f"{PROBE_ROWS} probe inputs (probe_inputs, seed 0): OpenVINO (float32) vs Keras",
        "max_abs_diff_probabilities": diffs[-1]}
    if len(diffs) > 1:
        record["max_abs_diff_tag_logits"] = diffs[0]
    return Export(data, record)


def not_exported(reason: str) -> dict[str, Any]:
    """The card's ``inference`` record of a model saved without an export."""
    return {"runtime": "keras", "note": f"No inference export: {reason}; the model runs through Keras."}
