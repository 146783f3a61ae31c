"""Writing artifacts so that an interrupted job never leaves one that looks complete.

Every file is written to a temporary sibling and renamed into place; rename is atomic on one file system. The
temporary file is created private (mkstemp's 0600) and given the permissions of a file the user creates (0666 less
the umask) before it is renamed, so that results on a shared file system are as readable as any other file.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it to `path`, on failure remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~current_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def current_umask() -> int:
    """The process's umask (reading it means setting it, so it is set back at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json_atomic(path: str | Path, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")


def write_jsonl_atomic(path: str | Path, records: Iterable[dict[str, Any]]) -> None:
    with atomic_path(path) as tmp:
        with tmp.open("w") as handle:
            for record in records:
                handle.write(json.dumps(record) + "\n")


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    with Path(path).open() as handle:
        return [json.loads(line) for line in handle if line.strip()]


def share_like_umask(folder: str | Path) -> None:
    """Give every file and folder under `folder` (itself included) the read (and, for folders, search) permission
    the umask allows. Libraries save privately: transformers writes model.safetensors through a 0600 temporary file
    and mkdtemp makes 0700 folders, which would hide the models from collaborators on a shared file system."""
    readable = 0o444 & ~current_umask()
    folder = Path(folder)
    for path in [folder, *folder.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode & 0o7777
        extra = readable | ((readable >> 2) & 0o111) if path.is_dir() else readable
        if mode | extra != mode:
            os.chmod(path, mode | extra)


def replace_dir(src: str | Path, dst: str | Path) -> None:
    """Move a finished directory into place, replacing whatever stood there (rename, so never half-moved); its
    files are first made as readable as the umask allows (see `share_like_umask`)."""
    src, dst = Path(src), Path(dst)
    share_like_umask(src)
    if dst.exists():
        shutil.rmtree(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dst)


def json_argument(value: str) -> Any:
    """A command-line argument holding JSON, or "-" for JSON read from standard input: a plan that grows with the grid
    is piped in by the rule (through the shell's builtin printf), since Linux refuses to start a program with any one
    argument over 128 KiB."""
    return json.load(sys.stdin) if value == "-" else json.loads(value)
