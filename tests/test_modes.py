"""core.modes and the bounded audio scan: which mode a server is in, what public mode refuses, scan bounds."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.data.explore import AudioIndex, IndexCache
from core.data.store import FeatureTableError, TableExtent, table_extent
from core.modes import LAB, PUBLIC, PUBLIC_SCAN, AccessError, Policy, ScanBounds, Slots, VisitorCounter, decide, is_loopback


@pytest.mark.parametrize("address, loopback", [
    ("127.0.0.1", True), ("127.0.1.1", True), ("localhost", True), ("::1", True), ("[::1]", True),
    (None, False), ("", False), ("0.0.0.0", False), ("::", False), ("192.168.1.20", False), ("example.org", False),
])
def test_only_loopback_addresses_count_as_local(address, loopback):
    assert is_loopback(address) is loopback


def test_public_unless_loopback_or_the_operator_says_lab():
    assert decide(None, {}).mode == PUBLIC  # streamlit's default: every interface
    assert decide("0.0.0.0", {}).mode == PUBLIC
    assert decide("127.0.0.1", {}).mode == LAB  # what scripts/start.sh binds to
    assert decide("0.0.0.0", {"CPUNK_MODE": "lab"}).mode == LAB
    assert decide("127.0.0.1", {"CPUNK_MODE": "public"}).mode == PUBLIC
    typo = decide("127.0.0.1", {"CPUNK_MODE": "labb"})
    assert typo.mode == PUBLIC and "neither" in typo.reason  # a typo never opens the server up


def test_the_allowlist_keeps_existing_folders_resolved(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    env = {"CPUNK_ALLOWED_DIRS": os.pathsep.join([str(a), str(tmp_path / "missing"), str(b / ".." / "b"), ""])}
    assert decide(None, env).allowed_roots == (a.resolve(), b.resolve())


@pytest.fixture
def shared(tmp_path: Path) -> tuple[Policy, Path]:
    """A public policy sharing ``tmp/shared`` (with a clip, a symlink out and a symlink loop); ``tmp/secret.wav`` outside."""
    root = tmp_path / "shared"
    (root / "jazz").mkdir(parents=True)
    (root / "jazz" / "jazz.00001.wav").write_bytes(b"RIFF")
    (tmp_path / "secret.wav").write_bytes(b"RIFF")
    (root / "jazz" / "leak.wav").symlink_to(tmp_path / "secret.wav")
    (root / "outside").symlink_to(tmp_path)
    (root / "loop").symlink_to(root)
    return decide(None, {"CPUNK_ALLOWED_DIRS": str(root)}), root


@pytest.mark.parametrize("attempt", ["/", "/etc/passwd", "~", "{root}/..", "{root}/../secret.wav",
                                     "{root}/jazz/leak.wav", "{root}/outside/secret.wav", "{root}/loop/../.."])
def test_public_mode_refuses_every_path_outside_the_allowlist(shared, attempt):
    rules, root = shared
    with pytest.raises(AccessError) as refused:
        rules.check_path(os.path.expanduser(attempt.format(root=root)))
    assert str(root) not in str(refused.value) and "/" not in str(refused.value)  # no server path in the message


def test_public_mode_allows_what_is_inside_and_lab_mode_allows_anything(shared):
    rules, root = shared
    assert rules.check_path(root / "loop" / "jazz" / "jazz.00001.wav") == (root / "jazz" / "jazz.00001.wav").resolve()
    assert decide("127.0.0.1", {}).check_path("/etc/passwd") == Path("/etc/passwd")


def test_a_scan_never_follows_links_out_of_the_folder_or_round_a_loop(shared):
    rules, root = shared
    index = AudioIndex.scan(root, rules.scan_bounds)
    assert sorted(index.by_stem) == ["jazz.00001"] and index.truncated is None  # not leak.wav, not via outside/
    assert index.locate(str(root / "jazz" / "leak.wav"), "leak") is None
    assert index.locate("outside/secret.wav", "secret") is None
    assert index.locate("../../etc/passwd", "passwd") is None


def test_a_scan_of_a_huge_or_deep_tree_stops_at_its_bounds(tmp_path):
    for i in range(50):
        folder = tmp_path / "wide" / f"d{i:02d}"
        folder.mkdir(parents=True)
        for j in range(10):
            (folder / f"c{i:02d}{j}.wav").write_bytes(b"")
    wide = AudioIndex.scan(tmp_path / "wide", ScanBounds(max_depth=8, max_entries=100, max_seconds=60))
    assert wide.truncated == "stopped after 100 entries" and 0 < len(wide.by_stem) <= 100
    deep = tmp_path / "deep"
    folder = deep
    for level in range(12):
        folder = folder / f"l{level}"
        folder.mkdir(parents=True)
        (folder / f"clip{level}.wav").write_bytes(b"")
    index = AudioIndex.scan(deep, ScanBounds(max_depth=4, max_entries=1000, max_seconds=60))
    assert sorted(index.by_stem) == ["clip0", "clip1", "clip2", "clip3"]
    assert "deeper than 4" in index.truncated
    timed = AudioIndex.scan(tmp_path / "wide", ScanBounds(max_depth=8, max_entries=10_000, max_seconds=0))
    assert timed.truncated == "stopped after 0 s" and not timed.by_stem


def test_the_index_cache_scans_once_in_the_background(shared):
    rules, root = shared
    cache = IndexCache(size=1)
    first = cache.get(root, PUBLIC_SCAN, wait_s=30)
    assert first is not None and cache.get(root / "jazz" / "..", PUBLIC_SCAN, wait_s=30) is first


def test_public_training_and_upload_limits():
    rules = decide(None, {})
    rules.check_training(rules.limits.max_epochs, rules.limits.max_rows)
    with pytest.raises(AccessError, match="at most 200 epochs"):
        rules.check_training(201, 10)
    with pytest.raises(AccessError, match="at most 20,000 rows"):
        rules.check_training(10, 20_001)
    decide("127.0.0.1", {}).check_training(10_000, 10**7)  # lab: no limits


def test_visitor_counts_are_per_visitor_free_for_a_repeat_and_bounded_in_memory():
    now = [0.0]
    uploads = VisitorCounter(lambda: now[0], max_visitors=3)
    assert [uploads.allow("v", f, 2, 60) for f in ("a", "b", "c")] == [True, True, False]
    assert uploads.allow("v", "a", 2, 60)  # a file this visitor sent within the window is free
    assert uploads.allow("w", "c", 2, 60)  # another visitor has a window of its own
    now[0] = 61
    assert uploads.allow("v", "c", 2, 60)  # the window slid
    for visitor in ("x", "y", "z"):
        uploads.allow(visitor, "a", 2, 60)
    assert len(uploads._visitors) == 3  # the least recently seen are forgotten first
    now[0] = 200
    uploads.allow("new", "a", 2, 60)
    assert list(uploads._visitors) == ["new"]  # idle for a whole window: forgotten


def test_a_slot_is_held_while_a_task_runs_and_past_the_limit_none_is_given():
    analyses = Slots()
    assert decide(None, {}).max_analyses == 2 and decide("127.0.0.1", {}).max_analyses is None
    with analyses.take(2) as first, analyses.take(2) as second, analyses.take(2) as third:
        assert (first, second, third) == (True, True, False) and analyses.running == 2
        with analyses.take(None) as unlimited:  # lab mode
            assert unlimited
    assert analyses.running == 0  # every slot given back, the refused one never taken
    with pytest.raises(RuntimeError), analyses.take(1):
        raise RuntimeError("a failed task gives its slot back too")
    assert analyses.running == 0


def test_tables_beyond_the_public_limits_are_refused_from_their_metadata(tmp_path):
    """A Parquet file of 60,000 equal rows (a few hundred bytes on disk) is refused from its footer, never
    read; its unpacked size counts every value as read; a CSV is measured by its lines."""
    big = tmp_path / "big.parquet"
    pd.DataFrame({"x": np.zeros(60_000), "genre": "blues"}).to_parquet(big)
    extent = table_extent(big)
    assert big.stat().st_size < 5_000 and extent == TableExtent(60_000, 60_000 * (8 + 64))
    rules = decide(None, {})
    with pytest.raises(AccessError, match="at most 50,000 rows \\(this one has 60,000\\)"):
        rules.check_table(extent.rows, extent.bytes)
    with pytest.raises(AccessError, match="at most 50 MB unpacked \\(this one has 51 MB\\)"):
        rules.check_table(10, 51_000_000)
    rules.check_table(50_000, 50_000_000)
    decide("127.0.0.1", {}).check_table(10**9, 10**12)  # lab: no limits
    csv = tmp_path / "t.csv"
    csv.write_bytes(b"a,b\n1,2\n3,4\n")
    assert table_extent(csv) == TableExtent(2, 12)
    csv.write_bytes(b"a,b\n1,2\n3,4")  # no newline at the end
    assert table_extent(csv).rows == 2
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(FeatureTableError, match="junk.parquet is not a readable Parquet"):
        table_extent(tmp_path / "junk.parquet")
