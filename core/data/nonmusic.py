"""A seeded battery of sounds that are not music: what the music detector learns "not music" from.

:func:`battery` returns :class:`Clip` s of ten *families* (:data:`FAMILIES`), each with several kinds:

- ``speech``: espeak-ng voices and voice variants in several languages, speeds and pitches (a monologue, a
  conversation, slow reading, a telephone), some in a room with noise;
- ``noise``: white, pink, brown noise; ``tone``: pure tones, sweeps, DTMF-like pairs, beeps;
- ``hum``: mains hum at 50/60 Hz with harmonics (and buzz); ``clicks``: ticks, clocks, random clicks;
- ``applause``: dense random clap bursts; ``room``: low-level filtered noise (room tone, fan);
- ``animals``: bird-like FM whistles, purr-like pulsed rumble, quack/bark-like harmonic bursts;
- ``effects``: chirps, engine rumble, wind, rain; ``silence``: near-silence with a little hiss.

Every clip lasts 5-30 s at a loudness drawn from -50..-10 dBFS RMS, and some pass through the room,
noise and microphone EQ augmentations of :mod:`core.data.augment` (as a phone or a laptop records).
The same seed gives the same audio. Speech needs the ``espeak-ng`` program (Debian package
``espeak-ng``); only asking for speech fails without it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import signal
from scipy.io import wavfile

from core.data.augment import augment

SAMPLE_RATE = 16_000
VERSION = 2  # raise when the generators change: cached battery features are named by it
FAMILIES = ("speech", "noise", "tone", "hum", "clicks", "applause", "room", "animals", "effects", "silence")
VOICES = ("en-us", "en-gb", "en-gb-scotland", "de", "fr", "es", "it", "nl", "pt", "pl", "sv", "hi")
# espeak-ng voice variants (male, female, Klatt-synthesised, rough, old): most speech is not one synthetic voice
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2", "klatt3",
            "klatt4", "klatt6", "croak", "grandma", "grandpa", "steph", "john", "paul", "michael", "linda", "robert")
TEXTS = {
    "en": ("The quick brown fox jumps over the lazy dog.", "Good morning, and welcome to the weekly meeting.",
           "Please remember to bring your notes and a pen.", "It was raining in the city when the train arrived.",
           "We will now take a few questions from the audience.", "Turn left at the next corner and keep going."),
    "de": ("Guten Morgen, wie geht es Ihnen heute?", "Der Zug nach Berlin hat zehn Minuten Verspätung.",
           "Bitte schalten Sie Ihre Telefone aus."),
    "fr": ("Bonjour à tous et bienvenue dans cette présentation.", "Le train pour Paris partira dans dix minutes.",
           "Nous allons maintenant répondre à vos questions."),
    "es": ("Buenos días, hoy vamos a hablar del clima.", "El tren llegará a la estación en cinco minutos.",
           "Por favor, apague su teléfono móvil."),
    "it": ("Buongiorno a tutti, oggi parliamo di storia.", "Il treno per Roma è in ritardo di dieci minuti."),
    "nl": ("Goedemorgen, welkom bij deze vergadering.", "De trein naar Amsterdam vertrekt over tien minuten."),
    "pt": ("Bom dia a todos, hoje vamos falar de ciência.", "O comboio para Lisboa chega em cinco minutos."),
    "pl": ("Dzień dobry, witamy na dzisiejszym spotkaniu.", "Pociąg do Warszawy ma dziesięć minut opóźnienia."),
    "sv": ("God morgon och välkommen till mötet.", "Tåget till Stockholm är tio minuter försenat."),
    "hi": ("नमस्ते, आज हम मौसम के बारे में बात करेंगे।", "ट्रेन दस मिनट देर से आएगी।"),
}


@dataclass(frozen=True)
class Clip:
    """One generated sound: its family and kind (what it imitates), mono float32 audio and rate."""

    name: str
    family: str
    kind: str
    y: np.ndarray
    sr: int

    @property
    def seconds(self) -> float:
        return len(self.y) / self.sr


class SpeechUnavailable(OSError):
    """espeak-ng is not installed."""


def speak(text: str, voice: str = "en-us", speed: int = 160, pitch: int = 50, sr: int = SAMPLE_RATE) -> np.ndarray:
    """``text`` spoken by espeak-ng (``voice``, words per minute, pitch 0-99) as mono float32 at ``sr``."""
    program = shutil.which("espeak-ng")
    if program is None:
        raise SpeechUnavailable("Generated speech needs espeak-ng: install the Debian package espeak-ng "
                                "(apt-get install espeak-ng).")
    with tempfile.TemporaryDirectory() as folder:  # --stdout's WAV header gives no length
        path = os.path.join(folder, "speech.wav")
        subprocess.run([program, "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", path, text],
                       capture_output=True, check=True, timeout=60)
        rate, y = wavfile.read(path)
    y = y.astype(np.float32) / 32768.0 if y.dtype == np.int16 else y.astype(np.float32)
    g = np.gcd(int(rate), sr)
    return signal.resample_poly(y, sr // g, int(rate) // g).astype(np.float32)


def _colored(n: int, rng: np.random.Generator, exponent: float) -> np.ndarray:
    """Noise with power falling as 1/f**exponent (0 white, 1 pink, 2 brown), unit RMS."""
    spectrum = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    spectrum /= np.maximum(np.arange(n // 2 + 1), 1) ** (exponent / 2)
    y = np.fft.irfft(spectrum, n)
    return y / (np.std(y) + 1e-12)


def _bandpass(y: np.ndarray, sr: int, low: float, high: float, order: int = 4) -> np.ndarray:
    high = min(high, 0.45 * sr)
    return signal.sosfilt(signal.butter(order, [low, high], "bandpass", fs=sr, output="sos"), y)


def _lowpass(y: np.ndarray, sr: int, cutoff: float, order: int = 4) -> np.ndarray:
    return signal.sosfilt(signal.butter(order, min(cutoff, 0.45 * sr), "lowpass", fs=sr, output="sos"), y)


def _envelope(n: int, sr: int, rng: np.random.Generator, rate_hz: float, depth: float) -> np.ndarray:
    """A slow random gain (0..1 scaled by ``depth``) changing at about ``rate_hz``."""
    points = max(2, int(n / sr * rate_hz) + 2)
    return 1 - depth + depth * np.interp(np.arange(n), np.linspace(0, n, points), rng.uniform(0, 1, points))


def _events(n: int, sr: int, rng: np.random.Generator, per_second: float, make: Callable[[], np.ndarray]) -> np.ndarray:
    """Sounds from ``make`` at Poisson-random times, ``per_second`` on average."""
    y = np.zeros(n)
    for start in rng.integers(0, n, rng.poisson(per_second * n / sr)):
        event = make()[: n - start]
        y[start:start + len(event)] += event
    return y


def _decaying(sr: int, rng: np.random.Generator, seconds: float, low: float, high: float) -> np.ndarray:
    m = max(1, int(seconds * sr))
    burst = _bandpass(rng.standard_normal(m + 64), sr, low, high)[64:]
    return burst * np.exp(-np.arange(m) / (0.25 * m))


def _fm(n: int, sr: int, freq: np.ndarray) -> np.ndarray:
    """A sine whose instantaneous frequency follows ``freq`` (Hz per sample)."""
    return np.sin(2 * np.pi * np.cumsum(np.broadcast_to(freq, (n,))) / sr)


def _voice(rng: np.random.Generator, voices: tuple[str, ...] = VOICES) -> str:
    voice = str(rng.choice(voices))
    return voice if rng.random() < 0.2 else f"{voice}+{rng.choice(VARIANTS)}"


def _speech(kind: str, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    voice = _voice(rng)
    texts = TEXTS.get(voice.split("-")[0].split("+")[0], TEXTS["en"])
    slow = kind == "reading"
    speed, pitch = int(rng.integers(90, 150) if slow else rng.integers(110, 230)), int(rng.integers(15, 90))
    parts: list[np.ndarray] = []
    while sum(map(len, parts)) < n:  # each sentence with its own pitch and pace, as people speak
        parts += [speak(str(rng.choice(texts)), voice, speed + int(rng.integers(-20, 21)),
                        int(np.clip(pitch + rng.integers(-15, 16), 0, 99)), sr),
                  np.zeros(int(rng.uniform(0.3, 1.5) * sr if slow else rng.uniform(0.1, 0.8) * sr))]
    y = np.concatenate(parts)[:n].astype(np.float64)
    if kind == "conversation":  # a second voice answering
        other = speak(str(rng.choice(TEXTS["en"])), _voice(rng, VOICES[:3]), speed, (pitch + 40) % 99, sr)
        start = int(rng.integers(0, max(1, n - len(other))))
        y[start:start + len(other)] += other[: n - start]
    if kind == "phone":  # a telephone or a small loudspeaker: 300-3400 Hz
        y = _bandpass(y, sr, 300, 3400)
    return y


def _tone(kind: str, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / sr
    if kind == "pure":
        return np.sin(2 * np.pi * rng.uniform(60, 6000) * t)
    if kind == "sweep":
        f0, f1 = rng.uniform(40, 500), rng.uniform(1000, 7000)
        return signal.chirp(t, f0, t[-1], f1, method=str(rng.choice(["linear", "logarithmic"])))
    if kind == "dtmf":
        low, high = (697, 770, 852, 941), (1209, 1336, 1477)
        y, beep, step = np.zeros(n), int(rng.uniform(0.08, 0.3) * sr), int(rng.uniform(0.15, 0.6) * sr)
        for start in range(0, n - beep, beep + step):
            tt = t[:beep]
            y[start:start + beep] = np.sin(2 * np.pi * rng.choice(low) * tt) + np.sin(2 * np.pi * rng.choice(high) * tt)
        return y
    # beeps: one tone switched on and off (alarm, reversing truck, test signal)
    period, duty = rng.uniform(0.2, 2.0), rng.uniform(0.2, 0.7)
    return np.sin(2 * np.pi * rng.uniform(400, 4000) * t) * ((t % period) < duty * period)


def _hum(kind: str, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / sr
    mains = 50.0 if rng.random() < 0.5 else 60.0
    harmonics = range(1, 8) if kind == "mains" else range(1, 40)
    y = sum(rng.uniform(0.1, 1.0) / k ** (1.0 if kind == "mains" else 0.5) * np.sin(2 * np.pi * mains * k * t + rng.uniform(0, 6.3))
            for k in harmonics)
    return np.asarray(y) + 0.05 * _colored(n, rng, 1.0)


def _clicks(kind: str, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    def click() -> np.ndarray:
        return _decaying(sr, rng, rng.uniform(0.002, 0.02), 1000, 7000)

    if kind == "random":
        return _events(n, sr, rng, rng.uniform(0.5, 8.0), click)
    y = np.zeros(n)
    period = rng.uniform(0.5, 1.0) if kind == "clock" else rng.uniform(0.05, 0.3)  # clock / ticking meter
    for i, start in enumerate(np.arange(0, n, int(period * sr))):
        event = click() * (1.0 if kind != "clock" or i % 2 else 0.6)
        y[start:start + len(event)] += event[: n - start]
    return y + 0.01 * _colored(n, rng, 1.0)


def _applause(kind: str, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    rate = rng.uniform(20, 60) if kind == "small" else rng.uniform(150, 500)

    def clap() -> np.ndarray:
        return _decaying(sr, rng, rng.uniform(0.01, 0.05), rng.uniform(500, 1500), rng.uniform(3000, 7500))

    return _events(n, sr, rng, rate, clap) * _envelope(n, sr, rng, 0.5, 0.6)


def _room(kind: str, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "fan":
        return _lowpass(_colored(n, rng, 0.5), sr, rng.uniform(300, 2000)) + 0.3 * _hum("mains", n, sr, rng)
    return _lowpass(_colored(n, rng, rng.uniform(1.0, 2.0)), sr, rng.uniform(500, 4000))


def _animals(kind: str, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "bird":
        def song() -> np.ndarray:
            m = int(rng.uniform(0.05, 0.4) * sr)
            tt = np.arange(m) / sr
            f = rng.uniform(2000, 6000) + rng.uniform(200, 1500) * np.sin(2 * np.pi * rng.uniform(5, 40) * tt)
            return _fm(m, sr, f * np.linspace(1, rng.uniform(0.7, 1.4), m)) * np.hanning(m)
        return _events(n, sr, rng, rng.uniform(1, 6), song) + 0.02 * _colored(n, rng, 1.0)
    if kind == "purr":
        t = np.arange(n) / sr
        pulses = 0.5 + 0.5 * np.sign(np.sin(2 * np.pi * rng.uniform(20, 30) * t))
        breath = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.3, 0.6) * t)
        return _lowpass(_colored(n, rng, 1.0), sr, rng.uniform(300, 1200)) * pulses * breath

    def call() -> np.ndarray:  # quack / bark: a harmonic-rich burst through two formants
        m = int(rng.uniform(0.1, 0.5) * sr)
        source = signal.sawtooth(2 * np.pi * np.cumsum(np.full(m, rng.uniform(150, 600))) / sr)
        voiced = sum(_bandpass(source, sr, f * 0.8, f * 1.2, 2) for f in rng.uniform(600, 3500, 2))
        return np.asarray(voiced) * np.hanning(m)
    return _events(n, sr, rng, rng.uniform(0.5, 3), call) + 0.02 * _colored(n, rng, 1.5)


def _effects(kind: str, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "chirps":
        def chirp() -> np.ndarray:
            m = int(rng.uniform(0.05, 0.6) * sr)
            return signal.chirp(np.arange(m) / sr, rng.uniform(200, 3000), m / sr, rng.uniform(200, 7000)) * np.hanning(m)
        return _events(n, sr, rng, rng.uniform(1, 5), chirp)
    if kind == "engine":
        rpm = rng.uniform(15, 60) * _envelope(n, sr, rng, 0.3, 0.4)
        firing = signal.sawtooth(2 * np.pi * np.cumsum(rpm) / sr)
        return _lowpass(firing + 0.5 * _colored(n, rng, 2.0), sr, rng.uniform(200, 800))
    if kind == "wind":
        return _bandpass(_colored(n, rng, 1.0), sr, 80, rng.uniform(400, 2000)) * _envelope(n, sr, rng, 0.4, 0.9)
    drops = _events(n, sr, rng, rng.uniform(50, 400), lambda: _decaying(sr, rng, 0.01, 2000, 7000))  # rain
    return drops + 0.3 * _lowpass(_colored(n, rng, 0.0), sr, 6000)


def _silence(kind: str, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    return _colored(n, rng, 0.0 if kind == "hiss" else 1.5)


GENERATORS: dict[str, tuple[Callable[[str, int, int, np.random.Generator], np.ndarray], tuple[str, ...]]] = {
    "speech": (_speech, ("monologue", "conversation", "reading", "phone")),
    "noise": (lambda kind, n, sr, rng: _colored(n, rng, {"white": 0.0, "pink": 1.0, "brown": 2.0}[kind]),
              ("white", "pink", "brown")),
    "tone": (_tone, ("pure", "sweep", "dtmf", "beeps")),
    "hum": (_hum, ("mains", "buzz")),
    "clicks": (_clicks, ("random", "clock", "ticks")),
    "applause": (_applause, ("small", "crowd")),
    "room": (_room, ("room", "fan")),
    "animals": (_animals, ("bird", "purr", "calls")),
    "effects": (_effects, ("chirps", "engine", "wind", "rain")),
    "silence": (_silence, ("hiss", "rumble")),
}


def make_clip(family: str, kind: str, seed: int, index: int = 0, sr: int = SAMPLE_RATE,
              seconds: float | None = None) -> Clip:
    """One clip of ``family``/``kind``; its audio depends only on (``seed``, family, kind, ``index``, ``sr``)."""
    make, kinds = GENERATORS[family]
    if kind not in kinds:
        raise ValueError(f"Unknown kind {kind!r} of {family}; known: {', '.join(kinds)}.")
    rng = np.random.default_rng([seed, zlib.crc32(f"{family}/{kind}".encode()), index])
    n = int(round((seconds if seconds is not None else rng.uniform(5.0, 30.0)) * sr))
    y = np.asarray(make(kind, n, sr, rng), dtype=np.float64)
    y = y / (np.sqrt(np.mean(y**2)) + 1e-12)
    level_db = rng.uniform(-65.0, -50.0) if family == "silence" else rng.uniform(-50.0, -10.0)
    y = (y * 10 ** (level_db / 20)).astype(np.float32)
    if family != "silence" and rng.random() < 0.4:  # recorded through a room and a small microphone
        y = augment(y, sr, ["room", "noise", "eq"], rng)
    return Clip(f"{family}-{kind}-{index:03d}", family, kind, np.clip(y, -1.0, 1.0).astype(np.float32), sr)


def battery(seed: int = 0, per_kind: int = 4, families: tuple[str, ...] = FAMILIES, sr: int = SAMPLE_RATE) -> list[Clip]:
    """``per_kind`` clips of every kind of every family in ``families`` (the same seed, the same audio)."""
    return [make_clip(family, kind, seed, i, sr) for family in families for kind in GENERATORS[family][1]
            for i in range(per_kind)]
