"""The seed MLP exactly as the seed project built it, and the builder registry."""

from __future__ import annotations

import numpy as np
import pytest

from core.keras_env import keras
from core.models.builders import BUILDERS, build_model, register_builder


def test_seed_mlp_matches_the_seed_architecture() -> None:
    x = np.random.default_rng(0).normal(5.0, 3.0, (64, 87)).astype(np.float32)
    model = build_model("seed_mlp", x, 10)
    kinds = [(type(layer).__name__, getattr(layer, "units", None), getattr(layer, "rate", None))
             for layer in model.layers]
    assert isinstance(model, keras.Sequential)
    assert kinds == [("Normalization", None, None),
                     ("Dense", 512, None), ("Dropout", None, 0.2),
                     ("Dense", 256, None), ("Dropout", None, 0.2),
                     ("Dense", 128, None), ("Dropout", None, 0.2),
                     ("Dense", 64, None), ("Dropout", None, 0.2),
                     ("Dense", 10, None)]
    activations = [layer.activation.__name__ for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert activations == ["relu"] * 4 + ["softmax"]
    assert model.input_shape == (None, 87)


def test_scaling_lives_inside_the_model() -> None:
    x = np.random.default_rng(1).normal([1e3, -2.0, 0.01], [200.0, 1.0, 0.001], (500, 3)).astype(np.float32)
    model = build_model("seed_mlp", x, 2)
    scaled = np.asarray(model.layers[0](x))
    np.testing.assert_allclose(scaled.mean(axis=0), 0.0, atol=1e-3)
    np.testing.assert_allclose(scaled.std(axis=0), 1.0, atol=1e-2)
    probs = np.asarray(model(x[:5]))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_builders_plug_in_by_name() -> None:
    @register_builder("test_linear")
    def linear(x_train, n_classes, *, learning_rate=0.1):
        model = keras.Sequential([keras.Input((x_train.shape[1],)), keras.layers.Dense(n_classes, activation="softmax")])
        model.compile("sgd", "sparse_categorical_crossentropy")
        return model

    try:
        model = build_model("test_linear", np.zeros((4, 7), np.float32), 3)
        assert model.output_shape == (None, 3)
    finally:
        BUILDERS.pop("test_linear")
    with pytest.raises(KeyError, match="Unknown architecture 'nope'.*seed_mlp"):
        build_model("nope", np.zeros((4, 7), np.float32), 3)


def test_builders_declare_their_inputs_and_the_train_page_lists_only_feature_models() -> None:
    from core.models.builders import architectures, table_architectures

    known = architectures()  # imports the network modules itself: no dependence on import order
    assert known["seed_mlp"].inputs == ("features",) and known["mel_cnn"].inputs == ("log_mel",)
    assert known["vgg_head"].inputs == ("embedding",)
    assert table_architectures() == ("seed_mlp",)


def test_class_weights_are_scikit_learns_balanced_weights() -> None:
    from core.models.train import class_weights

    assert class_weights(np.array([0, 0, 0, 2])) == {0: pytest.approx(4 / 6), 2: pytest.approx(2.0)}
