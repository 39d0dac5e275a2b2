"""The Classify page's "Why <genre>?" through AppTest: a feature model shows its measured reasons; a model
reading an embedding shows no invented reasons, only a feature comparison labelled as description; the tag
model shows the tags behind its verdict (its own arithmetic) and the training songs closest to the upload."""

from __future__ import annotations

import numpy as np
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
    assert "The training songs closest to this one" in text  # evidence by example, from the card's index
    assert sum(" · **" in m.value for m in at.markdown) == 5  # five songs, each with its genre
    assert not at.error


@shipped("gtzan-musicnn-tags")
def test_the_closest_training_songs_play_when_their_audio_is_in_the_dataset_folder(tmp_path, monkeypatch):
    """Every training track of the card as a tiny WAV under the dataset folder: each closest song gets a player."""
    import json

    import soundfile as sf

    from core.models.registry import models_dir

    card = json.loads((models_dir() / "gtzan-musicnn-tags" / "model.json").read_text())
    tiny = tmp_path / "tiny.wav"
    sf.write(tiny, np.zeros(2205, dtype=np.float32), 22_050)
    for track_id in card["reliability"]["novelty"]["track_ids"]:
        (tmp_path / "data" / track_id).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / f"{track_id}.wav").write_bytes(tiny.read_bytes())
    monkeypatch.setenv("CPUNK_DATA_DIR", str(tmp_path / "data"))
    at, text = classified_with("gtzan-musicnn-tags", seed=13)
    assert len(at.get("audio")) == 1 + 5 and "cannot be played" not in text  # the upload's player and five more
