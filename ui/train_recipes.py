"""The Train page's architectures on audio (every one ``python -m core train`` trains on audio) and each one's
settings: its form draws them and returns them as the command's options (:class:`Recipe`).

The defaults are the command's (:class:`core.models.network_train.NetworkRecipe`, :class:`core.models.train.TrainConfig`
and the builders' :func:`core.models.builders.tunable_defaults`); epochs are capped by ``max_epochs`` (public mode's
limit)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import streamlit as st

from core.models.builders import tunable_defaults
from core.models.network_train import ARCHITECTURES as NETWORKS
from core.models.network_train import NetworkRecipe
from core.models.train import TrainConfig

ARCHITECTURES = ("musicnn_linear", *NETWORKS)
NAMES = {"musicnn_linear": "musicnn_linear: pre-trained MSD_musicnn tags + calibrated linear layer (the default "
                           "model's recipe)",
         "seed_mlp": "seed_mlp: the seed project's MLP on 3-s slice features",
         "mel_cnn": "mel_cnn: a small CNN on log-mel spectrograms, trained from scratch",
         "vgg_transfer": "vgg_transfer: a head on pre-trained musicnn VGG embeddings",
         "ensemble": "ensemble: seed_mlp, mel_cnn and vgg_transfer, trained one after the other and averaged"}
BATCH_SIZES = [16, 32, 64, 128, 256, 512]
BUILDERS = {"seed_mlp": "seed_mlp", "mel_cnn": "mel_cnn", "vgg_transfer": "vgg_head"}  # whose settings --model-config sets
EPOCHS = {"seed_mlp": ("--epochs", TrainConfig().epochs, "MLP epochs"),
          "mel_cnn": ("--cnn-epochs", NetworkRecipe().cnn_epochs, "CNN epochs"),
          "vgg_transfer": ("--head-epochs", NetworkRecipe().head_epochs, "Head epochs")}
SEED_HELP = "The same seed, audio and settings give the same model."


@dataclass(frozen=True)
class Recipe:
    """An architecture's settings: the command's options, what the run's caption says, and the most epochs of
    one network (0: the default's recipe, which has none)."""

    args: list[str]
    said: str
    epochs: int


def recipe_form(architecture: str, max_epochs: int) -> Recipe:
    """Draw ``architecture``'s settings in a row of columns; the :class:`Recipe` they make."""
    return linear_form() if architecture == "musicnn_linear" else network_form(architecture, max_epochs)


def linear_form() -> Recipe:
    """The default model's recipe: held-out folds, augmented copies, the not-music check, the seed."""
    columns = st.columns(4)
    evaluate = columns[0].toggle("Held-out folds", value=True, key="train_audio_evaluate",
                                 help="Measure the recipe on held-out tracks (5 folds, grouped by track), choose the "
                                      "regularisation on them and calibrate the confidence (--evaluate track).")
    augment = columns[1].number_input("Augmented copies", 0, 4, 0, key="train_audio_augment",
                                      help="Copies of each track with loudness, compression, EQ, MP3 and crops (--augment).")
    detector = columns[2].toggle("Not-music check", value=False, key="train_audio_music",
                                 help="Also fit the check that says \"this doesn't sound like music\" (a few CPU "
                                      "minutes: generated speech, noise, tones; --music-detector).")
    seed = columns[3].number_input("Seed", 0, 2**31 - 1, 42, key="train_audio_seed", help=SEED_HELP)
    args = ["--seed", str(int(seed))] + (["--evaluate", "track"] if evaluate else ["--c", "1"]) + \
        (["--augment", str(int(augment))] if augment else []) + (["--music-detector"] if detector else [])
    said = ", ".join(filter(None, ["held-out folds" if evaluate else "C 1, no folds",
                                   f"{int(augment)} augmented copies" if augment else "",
                                   "not-music check" if detector else "", f"seed {int(seed)}"]))
    return Recipe(args, said, 0)


def network_form(architecture: str, max_epochs: int) -> Recipe:
    """A network's epochs (the ensemble: each member's), its batch size (seed_mlp), crops per track (mel_cnn),
    learning rate and dropout (one network), the seed."""
    members = tuple(EPOCHS) if architecture == "ensemble" else (architecture,)
    single = len(members) == 1
    tunable = tunable_defaults(BUILDERS[architecture]) if single else {}
    crops = "mel_cnn" in members
    columns = iter(st.columns(len(members) + (architecture == "seed_mlp") + crops + len(tunable) + 1))
    args, said, most = ["--audio"] if architecture == "seed_mlp" else [], [], 0
    for member in members:
        flag, default, label = EPOCHS[member]
        epochs = int(next(columns).number_input("Epochs" if single else label, 1, max_epochs, min(default, max_epochs),
                                                key=f"train_audio_{member}_epochs",
                                                help=f"Passes over the training data ({flag})."))
        args += [flag, str(epochs)]
        said.append(f"{epochs} epochs" if single else f"{member} {epochs} epochs")
        most = max(most, epochs)
    if architecture == "seed_mlp":
        batch = next(columns).selectbox("Batch size", BATCH_SIZES, index=BATCH_SIZES.index(TrainConfig().batch_size),
                                        key="train_audio_batch", help="--batch-size")
        args += ["--batch-size", str(batch)]
        said.append(f"batch {batch}")
    if crops:
        n = next(columns).number_input("Crops per track", 1, 16, NetworkRecipe().cnn_crops, key="train_audio_cnn_crops",
                                       help="Random 3-s crops of each track's spectrogram per epoch (--cnn-crops).")
        args += ["--cnn-crops", str(int(n))]
        said.append(f"{int(n)} crops per track")
    config = tunable_inputs(tunable, columns, f"train_audio_{architecture}")
    if config:
        args += ["--model-config", json.dumps(config)]
        said += [f"{k.replace('_', ' ')} {v:g}" for k, v in config.items()]
    seed = int(next(columns).number_input("Seed", 0, 2**31 - 1, 42, key="train_audio_seed", help=SEED_HELP))
    return Recipe(["--seed", str(seed), *args], ", ".join([*said, f"seed {seed}"]), most)


def tunable_inputs(tunable: dict[str, Any], columns: Iterator[Any], key: str) -> dict[str, float]:
    """A network builder's settings in ``tunable`` (learning rate, dropout; its values the defaults) as widgets,
    each in the next of ``columns``, keyed ``{key}_lr`` and ``{key}_dropout``: the builder's ``model_config``."""
    config = {}
    if "learning_rate" in tunable:
        config["learning_rate"] = next(columns).number_input(
            "Learning rate", 1e-5, 1.0, float(tunable["learning_rate"]), step=1e-4, format="%.4f", key=f"{key}_lr")
    if "dropout" in tunable:
        config["dropout"] = next(columns).slider("Dropout", 0.0, 0.8, float(tunable["dropout"]), 0.05,
                                                 key=f"{key}_dropout")
    return config
