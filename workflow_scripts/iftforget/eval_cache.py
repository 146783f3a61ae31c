"""A run's eval JSONs packed into one committed archive (figures/<run>/evals.tar.xz), from which the figures-from-cache
command redraws its tables and figures with no model and no training or evaluation job.

The multiple-choice log-likelihoods are rounded (to `decimals`) in the archive: they are most of its bytes and no
analysis reads their values (only how many choices an item has; each item's score is kept exactly), so a redraw from
the archive gives the tables of the unrounded files (tests/test_study_cache.py compares them with the committed ones).

    python -m iftforget.eval_cache --root results/confirmatory --out figures/confirmatory/evals.tar.xz

An add-on run in the same results folder (a preset layered on others) gets an archive of its own evals only:
`--skip-in` names the archives of the runs it builds on, whose files are left out; the redraw unpacks them all.
`--configfile` packs exactly the eval JSONs of that config's grid (its results_dir is the root), and refuses while
any is missing, so that a folder shared with other, unfinished add-ons gives the archive of one finished run:

    python -m iftforget.eval_cache --configfile config.yaml presets/confirmatory.yaml \
        presets/confirmatory-long-restore.yaml --skip-in figures/confirmatory/evals.tar.xz --out long.tar.xz
"""

from __future__ import annotations

import argparse
import io
import json
import lzma
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from iftforget.config import check_config, load_config_files
from iftforget.grid import Grid
from iftforget.io import atomic_path

LOGLIKELIHOOD_DECIMALS = 3


def rounded(record: dict[str, Any], decimals: int = LOGLIKELIHOOD_DECIMALS) -> dict[str, Any]:
    """An eval JSON with each item's log-likelihoods rounded; every other field as it was."""
    items = [item | {"loglikelihoods": [round(value, decimals) for value in item["loglikelihoods"]]}
             if "loglikelihoods" in item else item for item in record.get("items", [])]
    return record | {"items": items} if "items" in record else record


def grid_eval_files(config_files: Sequence[Path]) -> tuple[Path, list[Path]]:
    """The results folder and the eval JSONs of the grid of the config that `config_files` make, layered in order."""
    config = load_config_files(list(config_files))
    check_config(config)
    grid = Grid(config)
    return Path(grid.layout.root), [Path(path) for path in grid.files.eval_files()]


def pack(root: Path, out: Path, decimals: int = LOGLIKELIHOOD_DECIMALS, skip_in: Sequence[Path] = (),
         only: Sequence[Path] | None = None) -> int:
    """Every eval JSON below `root`/eval into an xz tar archive at `out` (paths as `root`/eval/...: the archive is
    unpacked in the working directory), or exactly those of `only` (each must exist), less those that the archives
    `skip_in` hold; returns how many files it holds."""
    if root.is_absolute():
        raise ValueError(f"--root {root}: give the results folder relative to the working directory, as the run's "
                         "results_dir (the archive is unpacked where the figures-from-cache command runs)")
    if only is None:
        files = sorted((root / "eval").rglob("*.json"))
    else:
        files = sorted(set(only))
        missing = [path for path in files if not path.is_file()]
        if missing:
            raise FileNotFoundError(f"{len(missing)} of the {len(files)} eval JSONs of the config's grid are missing "
                                    f"(the run has not finished), e.g. {missing[0]}")
    packed = set()
    for archive_path in skip_in:
        with tarfile.open(archive_path) as archive:
            packed |= set(archive.getnames())
    files = [path for path in files if str(path) not in packed]
    if not files:
        lacking = f" that {', '.join(map(str, skip_in))} lack" if skip_in else ""
        raise FileNotFoundError(f"no eval JSON below {root / 'eval'}{lacking}")
    with atomic_path(out) as tmp:
        # One xz stream over files sorted by path: the same task's files of neighbouring models compress together.
        with (lzma.open(tmp, "wb", preset=9 | lzma.PRESET_EXTREME) as stream,
              tarfile.open(fileobj=stream, mode="w") as tar):
            for path in files:
                data = (json.dumps(rounded(json.loads(path.read_text()), decimals), indent=1) + "\n").encode()
                info = tarfile.TarInfo(str(path))
                info.size, info.mtime, info.mode = len(data), int(path.stat().st_mtime), 0o644
                tar.addfile(info, io.BytesIO(data))
    return len(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, help="the run's results folder (results_dir); or --configfile")
    parser.add_argument("--configfile", nargs="+", type=Path,
                        help="the run's config files, layered in order: exactly its grid's eval JSONs are packed")
    parser.add_argument("--out", required=True, type=Path, help="the archive to write (.tar.xz)")
    parser.add_argument("--decimals", type=int, default=LOGLIKELIHOOD_DECIMALS)
    parser.add_argument("--skip-in", type=Path, nargs="+", default=[],
                        help="archives whose eval JSONs are left out (of the runs an add-on run builds on)")
    args = parser.parse_args()
    if (args.root is None) == (args.configfile is None):
        parser.error("give one of --root and --configfile")
    root, only = grid_eval_files(args.configfile) if args.configfile else (args.root, None)
    count = pack(root, args.out, args.decimals, args.skip_in, only)
    print(f"{count} eval JSONs -> {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
