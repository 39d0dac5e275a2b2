"""Where datasets and tables live: a local path, or an fsspec URL (``s3://``, ``gs://``, ``az://``,
``memory://``, ...) for object storage. A ``file://`` URL is a local path written as a URL: it is
turned into that path (:func:`location`), so it gets the local disk's folders and atomic writes.

Everything in ``core`` that reads or writes audio, manifests, feature stores or Parquet files goes
through these few functions, so each accepts either kind of location. A local path stays a
:class:`~pathlib.Path`; a URL stays a string. Credentials come from each backend's own environment
and configuration (for S3: ``AWS_*`` variables, ``~/.aws``, instance roles, and ``AWS_ENDPOINT_URL``
for S3-compatible servers such as MinIO; for GCS: ``gcloud`` application-default credentials), never
from this code.

Object stores have no rename, so :func:`write_bytes` cannot write a temporary and move it into place
as :mod:`core.atomic` does on disk. Instead it uploads the complete object in one request: S3, GCS
and Azure publish an object only when its upload has completed (and replace an existing one whole),
so a reader sees the old object, the new one, or none, never half of one, which is the guarantee the
temporary-and-rename gives on disk. ``memory://`` lives in one process only, so the extraction
workers, which are other processes, cannot read audio from it.
"""

from __future__ import annotations

import json
import os
import posixpath
from pathlib import Path
from typing import BinaryIO, TypeGuard, Union

import fsspec
from fsspec import AbstractFileSystem

from core import atomic

Location = Union[str, Path]  # a local path, or a URL string


FILE_URL = "file://"


def is_url(path: object) -> TypeGuard[str]:
    """True for a URL with a protocol (``s3://bucket/key``), False for a local path (``file://`` too)."""
    return isinstance(path, str) and "://" in path and not path.startswith(FILE_URL)


def location(path: str | os.PathLike) -> Location:
    """``path`` as a :data:`Location`: URLs unchanged, local paths (and ``file://`` URLs: ``file:///abs/x``
    is ``/abs/x``) as :class:`~pathlib.Path`."""
    if is_url(path):
        return path
    text = os.fspath(path)
    return Path(fsspec.core.url_to_fs(text)[1] if text.startswith(FILE_URL) else text)


def filesystem(path: str | os.PathLike) -> tuple[AbstractFileSystem, str]:
    """The fsspec file system of ``path`` and the path within it. Cached directory listings are dropped
    first: other processes (the extraction workers) write into the same store."""
    fs, inner = fsspec.core.url_to_fs(os.fspath(path))
    fs.invalidate_cache()
    return fs, inner


def child(base: str | os.PathLike, *names: str) -> Location:
    """``base/names...``: a :class:`~pathlib.Path` for a local base, a URL for a URL."""
    if is_url(base):
        return "/".join([base.rstrip("/"), *names])
    return Path(location(base)).joinpath(*names)


def parent(path: str | os.PathLike) -> Location:
    """The folder that holds ``path``."""
    return posixpath.dirname(path.rstrip("/")) if is_url(path) else Path(location(path)).parent


def name(path: str | os.PathLike) -> str:
    """The last component of ``path``."""
    return posixpath.basename(path.rstrip("/")) if is_url(path) else Path(location(path)).name


def is_file(path: str | os.PathLike) -> bool:
    fs, inner = filesystem(path)
    return fs.isfile(inner)


def is_dir(path: str | os.PathLike) -> bool:
    """True for a folder (on an object store: a prefix with objects under it)."""
    fs, inner = filesystem(path)
    return fs.isdir(inner)


def glob(base: str | os.PathLike, pattern: str) -> list[Location]:
    """The files in ``base`` matching ``pattern`` (e.g. ``part-*.parquet``), sorted by name."""
    if not is_url(base):
        return sorted(Path(location(base)).glob(pattern))
    fs, inner = filesystem(base)
    return [fs.unstrip_protocol(p) for p in sorted(fs.glob(f"{inner.rstrip('/')}/{pattern}"))]


def find(base: str | os.PathLike) -> list[tuple[Location, str]]:
    """Every file under the folder ``base``, with its path relative to ``base`` (posix), sorted."""
    if not is_url(base):
        root = Path(location(base))
        return [(f, f.relative_to(root).as_posix()) for f in sorted(root.rglob("*")) if f.is_file()]
    fs, inner = filesystem(base)
    inner = inner.rstrip("/")
    return [(fs.unstrip_protocol(p), p[len(inner) + 1:]) for p in sorted(fs.find(inner))]


def open_input(path: str | os.PathLike) -> BinaryIO:
    """``path`` opened for reading (binary, seekable; an object is read in ranges as needed)."""
    if not is_url(path):
        return open(location(path), "rb")
    fs, inner = filesystem(path)
    return fs.open(inner, "rb")


def read_bytes(path: str | os.PathLike) -> bytes:
    with open_input(path) as handle:
        return handle.read()


def size(path: str | os.PathLike) -> int:
    fs, inner = filesystem(path)
    return int(fs.size(inner))


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all: temporary + rename on disk, one upload on an
    object store (see the module's docstring)."""
    if not is_url(path):
        atomic.write_bytes(location(path), data)
        return
    fs, inner = filesystem(path)
    fs.pipe_file(inner, data)


def write_json(path: str | os.PathLike, data: object) -> None:
    """``data`` as indented JSON (NaN refused), written whole or not at all (:func:`write_bytes`)."""
    write_bytes(path, (json.dumps(data, indent=1, allow_nan=False) + "\n").encode())


def put_folder(local: str | os.PathLike, destination: str | os.PathLike) -> None:
    """Copy the local folder ``local`` to ``destination`` (a URL: file by file, in name order)."""
    fs, inner = filesystem(destination)
    for file, relative in find(local):
        fs.pipe_file(f"{inner.rstrip('/')}/{relative}", Path(file).read_bytes())


def remove(path: str | os.PathLike, *, recursive: bool = False) -> None:
    """Delete a file (or with ``recursive`` a folder and everything under it); nothing if absent."""
    fs, inner = filesystem(path)
    try:
        fs.rm(inner, recursive=recursive)
    except FileNotFoundError:
        pass


def resolve(base: str | os.PathLike, relative: str) -> Location:
    """``relative`` (a path relative to the folder ``base``, an absolute path, or a URL) as a location;
    local paths are made absolute."""
    if is_url(relative) or relative.startswith(FILE_URL):
        return location(relative)
    if not is_url(base):
        return (Path(location(base)) / location(relative)).resolve()
    protocol, inner = base.split("://", 1)
    return f"{protocol}://{posixpath.normpath(posixpath.join(inner, relative))}"


def relative_to(path: Location, base: str | os.PathLike) -> str | None:
    """``path`` relative to the folder ``base`` (posix), or None when it is not under ``base``."""
    if is_url(path) or is_url(base):
        prefix = os.fspath(base).rstrip("/") + "/"
        return path[len(prefix):] if isinstance(path, str) and path.startswith(prefix) else None
    try:
        return Path(location(path)).relative_to(Path(location(base)).resolve()).as_posix()
    except ValueError:
        return None
