"""Paths or URIs (``s3://``, ``gs://``, a shared file system) for data, checkpoints, reports.

Commands read and write local directories; when an argument is a URI, inputs are
copied down to a local cache first and outputs are copied up at the end, through
pyarrow's file systems. Ray Train / Tune take the same URI as ``storage_path``.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mtrec_ray.errors import ConfigError


def is_uri(path: str | Path) -> bool:
    """True for ``scheme://...`` paths other than ``file://``."""
    text = str(path)
    return "://" in text and not text.startswith("file://")


def _fs(uri: str):  # noqa: ANN202 - pyarrow types are optional at type-check time
    from pyarrow import fs

    try:
        return fs.FileSystem.from_uri(uri)
    except Exception as exc:  # pyarrow raises several types for bad URIs
        raise ConfigError(f"cannot open storage URI {uri!r}: {exc}") from None


def local_input(path: str | Path, cache_root: str | Path | None = None) -> Path:
    """Return a local directory or file holding ``path`` (downloading a URI once)."""
    text = str(path)
    if text.startswith("file://"):
        text = text[len("file://") :]
    if not is_uri(text):
        p = Path(text)
        if not p.exists():
            raise ConfigError(f"input path {p} does not exist")
        return p
    from pyarrow import fs as pafs

    filesystem, remote = _fs(text)
    root = Path(cache_root or Path(tempfile.gettempdir()) / "mtrec_cache")
    dest = root / hashlib.sha1(text.encode()).hexdigest()[:16]
    if not dest.exists():
        info = filesystem.get_file_info(remote)
        if info.type == pafs.FileType.NotFound:
            raise ConfigError(f"input URI {text} does not exist")
        dest.parent.mkdir(parents=True, exist_ok=True)
        pafs.copy_files(remote, str(dest), source_filesystem=filesystem,
                        destination_filesystem=pafs.LocalFileSystem())
    return dest


@contextmanager
def output_dir(path: str | Path) -> Iterator[Path]:
    """Yield a local directory to write into; a URI is uploaded when the block ends."""
    text = str(path)
    if text.startswith("file://"):
        text = text[len("file://") :]
    if not is_uri(text):
        p = Path(text)
        p.mkdir(parents=True, exist_ok=True)
        yield p
        return
    from pyarrow import fs as pafs

    filesystem, remote = _fs(text)
    tmp = Path(tempfile.mkdtemp(prefix="mtrec_out_"))
    try:
        yield tmp
        filesystem.create_dir(remote, recursive=True)
        pafs.copy_files(str(tmp), remote, source_filesystem=pafs.LocalFileSystem(),
                        destination_filesystem=filesystem)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def storage_path(out: str | Path, sub: str = "ray_results") -> str:
    """Ray Train/Tune ``storage_path`` under ``out``: the URI itself or an absolute path."""
    text = str(out)
    if is_uri(text):
        return text.rstrip("/") + "/" + sub
    return str((Path(text) / sub).resolve())
