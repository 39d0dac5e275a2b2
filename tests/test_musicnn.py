"""The converted musicnn networks: each reproduces its original TF1 graph; input patches; tags."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pytest

from core.audio import SAMPLE_RATE, load_audio
from core.features import musicnn

DATA = Path(__file__).parent / "data"
EMBEDDING_SIZES = {"msd_vgg": 256, "msd_musicnn": 200, "mtt_vgg": 256, "mtt_musicnn": 200}


def tone(seconds: float, sr: int, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


@pytest.mark.parametrize("name", musicnn.CHECKPOINTS)
def test_converted_checkpoint_reproduces_original_tf1_graph(name):
    """Outputs of the original graph (run with tf.compat.v1 by scripts/convert_musicnn.py) on 4 patches."""
    with np.load(DATA / f"musicnn_{name}_reference.npz", allow_pickle=False) as ref:
        x, tags, embedding = ref["patches"].astype(np.float32), ref["tags"], ref["embedding"]
    got_tags = np.asarray(musicnn.load_tagger(name)(x, training=False))
    got_emb = np.asarray(musicnn.load_embedding(name)(x, training=False))
    assert got_emb.shape == (4, EMBEDDING_SIZES[name]) and got_tags.shape == (4, 50)
    np.testing.assert_allclose(got_tags, tags, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_emb, embedding, rtol=1e-4, atol=1e-4)  # embedding values reach ~8
    assert tags.std(axis=0).max() > 0.05, "reference patches should not all give the same tags"


def test_embedding_model_is_frozen():
    model = musicnn.load_embedding()
    assert model.input_shape == (None, musicnn.PATCH_FRAMES, musicnn.N_MELS)
    assert model.output_shape == (None, 256)
    assert model.trainable_weights == [] and len(model.non_trainable_weights) > 0
    model.trainable = True  # a fresh copy: fine-tuning one does not unfreeze the next
    assert musicnn.load_embedding().trainable_weights == []


def test_tag_names_follow_the_training_set():
    assert len(musicnn.tag_names("msd_musicnn")) == 50 and "Hip-Hop" in musicnn.tag_names("msd_musicnn")
    assert musicnn.tag_names("msd_vgg") == musicnn.tag_names("msd_musicnn")
    assert {"classical", "rock", "metal", "country"} <= set(musicnn.tag_names("mtt_musicnn"))
    assert musicnn.tag_names("mtt_vgg") == musicnn.tag_names("mtt_musicnn")


def test_unknown_checkpoint_names_the_choices():
    with pytest.raises(ValueError, match="msd_musicnn"):
        musicnn.load_embedding("msd_big")


def test_missing_model_folder_says_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="convert_musicnn"):
        musicnn.load_tagger("mtt_musicnn", root=tmp_path)


def test_patches_follow_musicnn_recipe():
    """Same numbers as musicnn's extractor (16 kHz, n_fft 512, hop 256, 96 mels, float16, log10(10^4 x + 1))."""
    y = tone(4.0, musicnn.SAMPLE_RATE) + 0.05 * np.random.default_rng(0).standard_normal(64_000).astype(np.float32)
    mel = librosa.feature.melspectrogram(y=y, sr=16_000, hop_length=256, n_fft=512, n_mels=96, pad_mode="reflect").T
    expected = np.log10(10_000 * mel.astype(np.float16).astype(np.float32) + 1)[:187]
    got = musicnn.patches(y, musicnn.SAMPLE_RATE)
    assert got.shape == (1, 187, 96) and got.dtype == np.float32
    np.testing.assert_allclose(got[0], expected, atol=2e-3)  # float16 rounding of the original


def test_patches_from_core_audio_rate():
    y = tone(30.0, SAMPLE_RATE)
    assert musicnn.patches(y, SAMPLE_RATE).shape == (10, 187, 96)  # back to back, like the extractor
    n_frames = 1 + 30 * musicnn.SAMPLE_RATE // musicnn.HOP  # 1876
    assert musicnn.patches(y, SAMPLE_RATE, hop_frames=94).shape == (1 + (n_frames - 187) // 94, 187, 96)
    with pytest.raises(ValueError, match="hop_frames"):
        musicnn.patches(y, SAMPLE_RATE, hop_frames=0)


def test_short_clip_is_repeat_padded_to_one_patch():
    x = musicnn.patches(tone(1.2, SAMPLE_RATE), SAMPLE_RATE)
    n_frames = 1 + int(1.2 * musicnn.SAMPLE_RATE) // musicnn.HOP
    assert x.shape == (1, 187, 96)
    np.testing.assert_array_equal(x[0, n_frames : 2 * n_frames], x[0, :n_frames])


def test_full_scale_audio_stays_finite():
    """The original's float16 step overflows to inf on loud audio; ours must not."""
    y = np.sign(tone(3.5, SAMPLE_RATE)).astype(np.float32)
    assert np.isfinite(musicnn.patches(y, SAMPLE_RATE)).all()


def ranked_tags(y: np.ndarray, sr: int, name: str = "msd_vgg") -> list[tuple[str, float]]:
    """The tagger's tag probabilities for a recording (mean over its patches), highest first."""
    probs = np.asarray(musicnn.load_tagger(name).predict(musicnn.patches(y, sr), batch_size=16, verbose=0)).mean(axis=0)
    return sorted(zip(musicnn.tag_names(name), probs.tolist()), key=lambda kv: kv[1], reverse=True)


def test_tags_are_the_50_msd_tags():
    names, probs = zip(*ranked_tags(tone(3.5, SAMPLE_RATE), SAMPLE_RATE))
    assert len(names) == 50 and {"rock", "jazz", "Hip-Hop", "instrumental"} <= set(names)
    assert all(0.0 <= p <= 1.0 for p in probs)


@pytest.mark.parametrize(
    "clip, expected_top, top_n",
    [
        ("classical/classical.00000.flac", "instrumental", 1),  # MSD's 50 tags have no 'classical'
        ("jazz/jazz.00000.flac", "jazz", 1),
        ("metal/metal.00000.flac", "heavy metal", 5),
        ("hiphop/hiphop.00001.flac", "Hip-Hop", 1),
    ],
)
def test_tags_make_sense_on_real_music(shared_data, clip, expected_top, top_n):
    audio = load_audio(shared_data / "gtzan_flac" / clip)
    top = [name for name, _ in ranked_tags(audio.y, audio.sr)[:top_n]]
    assert expected_top in top
