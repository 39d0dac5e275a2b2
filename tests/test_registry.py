"""The model registry: round trip, default, delete, atomic saves, refusal of other schemas and unsafe models."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import numpy as np
import pytest
from model_helpers import synthetic_table

from core.keras_env import keras
from core.models import registry
from core.models.model_card import ModelCard, model_card
from core.models.registry import RegistryError, SchemaMismatchError
from core.models.train import TrainConfig, train


@pytest.fixture(scope="module")
def trained():
    config = TrainConfig(epochs=2, batch_size=16, validation_fraction=0, model_config={"units": (16,)})
    model, history = train(config, synthetic_table(n_tracks=3, n_slices=2))
    return model, model_card(model, config, history, sources=("synthetic",), command="")


def test_save_load_round_trip(tmp_path, trained) -> None:
    model, meta = trained
    info = registry.save_model("tiny", model, meta, tmp_path)
    assert sorted(p.name for p in info.path.iterdir()) == ["model.json", "model.keras", "model.onnx"]
    loaded = registry.load_model("tiny", tmp_path)
    x = np.random.default_rng(0).normal(0, 10, (5, len(meta.feature_schema.columns))).astype(np.float32)
    np.testing.assert_allclose(np.asarray(loaded.model(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-6)
    assert loaded.network.runtime == "openvino"  # the export, checked against Keras at save time
    np.testing.assert_allclose(loaded.network.run([x])[-1], np.asarray(model(x)), atol=1e-5)
    assert loaded.classes == ("blues", "classical", "metal") and loaded.schema.id == "seed@1"
    card = ModelCard.from_json(json.loads((info.path / "model.json").read_text()))
    assert card.inference is not None and card.inference["max_abs_diff_probabilities"] <= 1e-5
    assert card.to_json() == replace(meta, name="tiny", inference=card.inference).to_json() and card == loaded.info.card
    assert card.dataset.fingerprint.startswith("sha256:") and card.dataset.rows == 18
    assert set(card.feature_stats.genres) == {"blues", "classical", "metal"}
    stat = card.feature_stats.genres["metal"][card.feature_schema.columns[0]]
    assert stat.q25 <= stat.median <= stat.q75 and stat.std >= 0
    assert [m.name for m in registry.list_models(tmp_path)] == ["tiny"]


def test_models_dir_comes_from_the_environment(tmp_path, monkeypatch, trained) -> None:
    monkeypatch.setenv(registry.MODELS_ENV, str(tmp_path / "elsewhere"))
    registry.save_model("env", trained[0], trained[1])
    assert (tmp_path / "elsewhere" / "env" / "model.keras").is_file()


def test_default(tmp_path, trained) -> None:
    for name in ("a", "b"):
        registry.save_model(name, *trained, root=tmp_path)
    assert registry.default_name(tmp_path) is None
    with pytest.raises(RegistryError, match="no default"):
        registry.load_model(None, tmp_path)
    registry.set_default("a", tmp_path)
    assert registry.load_model(None, tmp_path).name == "a"
    with pytest.raises(RegistryError, match="No model named 'c'.*available: a, b"):
        registry.load_model("c", tmp_path)
    with pytest.raises(RegistryError, match="No model named"):
        registry.set_default("c", tmp_path)


def test_names_and_overwrite(tmp_path, trained) -> None:
    for bad in ("", "../x", "a/b", ".hidden", "x" * 65):
        with pytest.raises(RegistryError, match="Invalid model name"):
            registry.save_model(bad, *trained, root=tmp_path)
    registry.save_model("m", *trained, root=tmp_path)
    with pytest.raises(RegistryError, match="already exists"):
        registry.save_model("m", *trained, root=tmp_path)
    registry.save_model("m", trained[0], replace(trained[1], notes="second"), root=tmp_path, overwrite=True)
    assert registry.model_info("m", tmp_path).card.notes == "second"


def test_a_failed_save_leaves_nothing_behind(tmp_path, trained) -> None:
    model, meta = trained
    broken = replace(meta, realworld={"top1": float("nan")})  # JSON refuses NaN after model.keras is written
    with pytest.raises(ValueError):
        registry.save_model("new", model, broken, tmp_path)
    assert list(tmp_path.iterdir()) == []
    registry.save_model("old", model, replace(meta, notes="intact"), tmp_path)
    with pytest.raises(ValueError):
        registry.save_model("old", model, broken, tmp_path, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["old"]
    assert registry.load_model("old", tmp_path).info.card.notes == "intact"


def test_other_schema_is_refused(tmp_path, trained) -> None:
    info = registry.save_model("old-schema", *trained, root=tmp_path)
    card = json.loads((info.path / "model.json").read_text())
    card["feature_schema"]["id"] = "seed@0"
    (info.path / "model.json").write_text(json.dumps(card))
    with pytest.raises(SchemaMismatchError, match=r"'seed@0' is not the running version \(seed@1\)"):
        registry.load_model("old-schema", tmp_path)
    card["feature_schema"] = {**card["feature_schema"], "id": "seed@1", "columns": card["feature_schema"]["columns"][:-1]}
    (info.path / "model.json").write_text(json.dumps(card))
    with pytest.raises(SchemaMismatchError, match="other feature columns"):
        registry.load_model("old-schema", tmp_path)


def test_models_with_code_are_not_loaded(tmp_path, trained) -> None:
    unsafe = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(lambda x: x * 2)])
    folder = tmp_path / "unsafe"
    folder.mkdir()
    unsafe.save(folder / "model.keras")
    (folder / "model.json").write_text(json.dumps(trained[1].to_json()))
    with pytest.raises(RegistryError, match="could not be loaded"):
        registry.load_model("unsafe", tmp_path)


def test_the_shipped_default_model_loads() -> None:
    name = registry.default_name()
    assert name is not None, "models/default.json must name a shipped model"
    loaded = registry.load_model()
    assert loaded.name == name and len(loaded.classes) == 10


def test_reads_never_write_and_recover_puts_back_a_model_a_killed_overwrite_moved_aside(tmp_path, trained) -> None:
    registry.save_model("m", *trained, root=tmp_path)
    registry.set_default("m", tmp_path)
    os.replace(tmp_path / "m", tmp_path / ".old-m-0123abcd")  # killed between the overwrite's two renames
    (tmp_path / ".tmp-999999999-m-x").mkdir()  # the temporary of a process that has ended
    before = sorted(p.name for p in tmp_path.iterdir())
    assert registry.list_models(tmp_path) == [] and registry.default_name(tmp_path) is None
    with pytest.raises(RegistryError, match="No model named 'm'"):
        registry.model_info("m", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert registry.recover(tmp_path) == ["m"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["default.json", "m"]
    assert registry.default_name(tmp_path) == "m"


def test_a_model_whose_export_fails_its_check_is_saved_without_one_and_runs_through_keras(tmp_path, trained,
                                                                                          monkeypatch) -> None:
    from core.models import inference

    monkeypatch.setattr(inference, "TOLERANCE", -1.0)  # no export can pass: the check refuses it
    info = registry.save_model("unexported", *trained, root=tmp_path)
    assert not (info.path / "model.onnx").exists()
    assert info.card.inference["runtime"] == "keras" and "differ from Keras's" in info.card.inference["note"]
    loaded = registry.load_model("unexported", tmp_path)
    assert loaded.network.runtime == "keras" and "has no inference export" in loaded.note
    x = np.zeros((2, len(trained[1].feature_schema.columns)), np.float32)
    np.testing.assert_allclose(loaded.network.run([x])[-1], np.asarray(trained[0](x)), atol=1e-6)
