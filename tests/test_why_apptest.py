"""The Classify page's "Why <genre>?" through AppTest: a feature model shows its measured reasons; a model
reading an embedding shows no invented reasons, only a feature comparison labelled as description."""

from __future__ import annotations

import pytest
from test_classify_apptest import classify_page, shown_genre, upload, wav

from core.registry import list_models


def why_text(at) -> str:
    return "\n".join([c.value for c in at.caption] + [m.value for m in at.markdown])


@pytest.mark.skipif("gtzan-seed-mlp" not in {i.name for i in list_models()}, reason="shipped model missing")
def test_a_feature_model_shows_what_changed_its_verdict():
    at = classify_page()
    at.selectbox(key="classify_model").set_value("gtzan-seed-mlp").run()
    at = upload(at, ("song.wav", wav(seed=11)))
    text = why_text(at)
    assert "set, one at a time, to the average of the genres' training means" in text
    assert "Description, not the model's reasons" not in text
    assert "confidence in" in text and "falls from" in text
    assert not at.error


def test_an_embedding_model_has_its_comparison_labelled_as_description():
    at = upload(classify_page(), ("song.wav", wav(seed=12)))  # the default model reads musicnn embeddings
    text = why_text(at)
    assert "not the audio features below" in text and "Description, not the model's reasons" in text
    assert f"unusual for {shown_genre(at)}" not in text  # no listed feature argues against the verdict
