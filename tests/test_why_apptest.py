"""The Classify page's "Why <genre>?" through AppTest: a feature model shows its measured reasons; a model
reading an embedding shows no invented reasons, only a feature comparison labelled as description; the tag
model shows the tags behind its verdict (its own arithmetic)."""

from __future__ import annotations

import pytest
from test_classify_apptest import classify_page, shown_genre, upload, wav

from core.models.registry import list_models


def shipped(name: str):
    return pytest.mark.skipif(name not in {i.name for i in list_models()}, reason="shipped model missing")


def classified_with(model: str, seed: int):
    """The Classify page after uploading a generated song with ``model``, and its captions and markdown."""
    at = classify_page()
    at.selectbox(key="classify_model").set_value(model).run()
    at = upload(at, ("song.wav", wav(seed=seed)))
    return at, "\n".join([c.value for c in at.caption] + [m.value for m in at.markdown])


@shipped("gtzan-seed-mlp")
def test_a_feature_model_shows_what_changed_its_verdict():
    at, text = classified_with("gtzan-seed-mlp", seed=11)
    assert "set, one at a time, to the average of the genres' training means" in text
    assert "Description, not the model's reasons" not in text
    assert "confidence in" in text and "falls from" in text
    assert not at.error


@shipped("clips100-vgg-transfer")
def test_an_embedding_model_has_its_comparison_labelled_as_description():
    at, text = classified_with("clips100-vgg-transfer", seed=12)
    assert "not the audio features below" in text and "Description, not the model's reasons" in text
    assert f"unusual for {shown_genre(at)}" not in text  # no listed feature argues against the verdict


@shipped("gtzan-musicnn-tags")
def test_the_tag_model_shows_the_tags_behind_its_verdict():
    at, text = classified_with("gtzan-musicnn-tags", seed=13)
    assert "50 tags a network trained on ~200,000 real songs hears" in text
    assert "towards" in text and "over" in text  # the tags in words: '+0.42 towards Rock over Pop'
    assert any("Description, not the model's reasons" in e.label for e in at.expander)
    assert not at.error
