"""The typed model card: every shipped card round-trips, other formats and gaps are refused clearly,
and only the registry writes ``model.json``."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from core.models import registry
from core.models.model_card import CARD_FORMAT, CardError, ModelCard

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p for p in (ROOT / "models").glob("*/model.json") if not p.parent.name.startswith("_"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.parent.name)
def test_every_shipped_card_round_trips(path: Path) -> None:
    data = json.loads(path.read_text())
    card = ModelCard.from_json(data)
    assert card.to_json() == data and ModelCard.from_json(card.to_json()) == card
    assert card.format == CARD_FORMAT and card.name == path.parent.name
    assert card.command.startswith("python -m core train ") or "cannot" in card.notes or "core train" in card.notes
    genres = card.feature_stats.genres
    assert set(genres) == set(card.classes)
    assert all(set(stats) == set(card.feature_schema.columns) for stats in genres.values())


def test_a_card_of_another_format_says_how_to_migrate_it() -> None:
    data = json.loads(SHIPPED[0].read_text())
    with pytest.raises(CardError, match="format 1.*migrate_cards.py"):
        ModelCard.from_json({**data, "format": 1})


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("classes"), "lacks classes"),
    (lambda d: d["dataset"].pop("fingerprint"), "lacks dataset.fingerprint"),
    (lambda d: d["feature_schema"].update(id=3), "'feature_schema.id' should be a str"),
    (lambda d: d.update(classes="rock"), "'classes' should be a list"),
    (lambda d: d.update(classes=[]), "no classes"),
])
def test_a_card_missing_or_mistyping_a_field_is_refused_by_name(change, message) -> None:
    data = json.loads(SHIPPED[0].read_text())
    change(data)
    with pytest.raises(CardError, match=message):
        ModelCard.from_json(data)


def test_an_old_card_in_the_registry_is_refused_with_the_migration(tmp_path) -> None:
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "model.keras").write_bytes(b"")
    (folder / "model.json").write_text(json.dumps({"format": 1, "classes": ["rock"]}))
    with pytest.raises(registry.RegistryError, match="old: model.json .*migrate_cards.py"):
        registry.model_info("old", tmp_path)


def test_update_card_replaces_the_card_only(tmp_path) -> None:
    source = SHIPPED[0].parent
    folder = tmp_path / source.name
    folder.mkdir()
    for f in ("model.keras", "model.json"):
        (folder / f).write_bytes((source / f).read_bytes())
    info = registry.model_info(source.name, tmp_path)
    registry.update_card(source.name, replace(info.card, reliability={"calibration": {"temperature": 1.5}}), tmp_path)
    again = registry.model_info(source.name, tmp_path)
    assert again.card == replace(info.card, reliability={"calibration": {"temperature": 1.5}})
    assert (folder / "model.keras").read_bytes() == (source / "model.keras").read_bytes()


def test_only_the_registry_writes_model_json() -> None:
    """Writes of model.json (META_FILE) happen in core/models/registry.py only; every other module hands a
    card to the registry."""
    writes = re.compile(r"(META_FILE|model\.json).*\b(write_json|write_text|open\(.*['\"]w)|"
                        r"\b(write_json|write_text)\(.*(META_FILE|model\.json)")
    found = [f"{path.relative_to(ROOT)}:{n}" for folder in ("core", "ui", "app_pages", "bench", "scripts")
             for path in (ROOT / folder).rglob("*.py") for n, line in enumerate(path.read_text().splitlines(), 1)
             if writes.search(line)]
    assert found == ["core/models/registry.py:" + n for n in _registry_write_lines()], found


def _registry_write_lines() -> list[str]:
    lines = (ROOT / "core" / "models" / "registry.py").read_text().splitlines()
    return [str(n) for n, line in enumerate(lines, 1) if "write_json(" in line and "META_FILE" in line]
