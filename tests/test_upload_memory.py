"""ui.upload_memory: the files of a session gone for the grace period are freed, and past the server's budget
the oldest files go first (against a stand-in for Streamlit's uploaded-file manager)."""

from __future__ import annotations

from dataclasses import dataclass

from ui.upload_memory import UploadSweeper


@dataclass
class Rec:
    data: bytes


class Store:
    """Streamlit's MemoryUploadedFileManager as the sweeper uses it."""

    def __init__(self) -> None:
        self.file_storage: dict[str, dict[str, Rec]] = {}
        self.active: set[str] = set()

    def add(self, sid: str, fid: str, size: int) -> None:
        self.file_storage.setdefault(sid, {})[fid] = Rec(b"\0" * size)

    def remove_session(self, sid: str) -> None:
        self.file_storage.pop(sid, None)

    def remove_file(self, sid: str, fid: str) -> None:
        self.file_storage.get(sid, {}).pop(fid, None)

    def sweep(self, sweeper: UploadSweeper, cap: float | None = None) -> int:
        return sweeper.sweep(self.file_storage, self.active.__contains__, self.remove_session, self.remove_file,
                             grace_s=120, cap_bytes=cap)


def test_a_sessions_files_are_freed_once_it_has_been_gone_for_the_grace_period():
    now = [0.0]
    store, sweeper = Store(), UploadSweeper(lambda: now[0])
    store.active = {"open"}
    store.add("open", "a", 10)
    store.add("closed", "made-up-1", 100)
    store.add("closed", "made-up-2", 100)
    assert store.sweep(sweeper) == 0  # just gone: it may still reconnect
    now[0] = 119
    assert store.sweep(sweeper) == 0
    now[0] = 120
    assert store.sweep(sweeper) == 200 and list(store.file_storage) == ["open"]
    store.active = set()  # the open tab closes, then reconnects before the grace period ends
    now[0] = 200
    store.sweep(sweeper)
    store.active = {"open"}
    now[0] = 400
    assert store.sweep(sweeper) == 0 and list(store.file_storage) == ["open"]


def test_past_the_budget_the_oldest_files_go_first_whoever_holds_them():
    now = [0.0]
    store, sweeper = Store(), UploadSweeper(lambda: now[0])
    store.active = {"a", "b"}
    for i, sid in enumerate(["a", "b", "a", "b"]):
        now[0] = i
        store.add(sid, f"f{i}", 100)
        store.sweep(sweeper, cap=1_000)
    assert store.sweep(sweeper, cap=250) == 200  # 400 held: the two oldest go
    assert store.file_storage == {"a": {"f2": Rec(b"\0" * 100)}, "b": {"f3": Rec(b"\0" * 100)}}
    assert store.sweep(sweeper, cap=None) == 0  # lab mode: no budget
