"""Where a model is, and the hub caches that hold hub artifacts for compute nodes without internet.

A base model is a local folder or a hub id at a revision (`org/name@revision`, the way the rules hand it to a job);
`locate_model` turns either into the folder it is loaded from. Hub artifacts (models, and lm-eval's task datasets)
are fetched once, on a host with internet, into the caches inside the working directory (the prefetch_* rules of
rules/prefetch.smk), and found there offline by every other job.

Every job runs with HF_HOME below results_dir and with HF_HUB_OFFLINE=1 and HF_DATASETS_OFFLINE=1; the prefetch_*
jobs alone turn both off (rules/common.smk). A job that needs a model or task dataset that is not in the cache fails
with a NotPrefetchedError that names it and the command that fetches it; a prefetch on a host that cannot reach the
hub fails with a HubUnreachableError that says where to run it.

Whether a snapshot is complete is iftforget.model_files' test; checking and loading a model is iftforget.models,
which imports this module (never the reverse). huggingface_hub, datasets and lm-eval are imported inside the
functions: the Snakefile imports this module.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from iftforget.model_files import model_dir_problems
from iftforget.tasks import lm_eval_task_manager

# The caches every job reads hub artifacts from, below results_dir (HF_HOME and HF_DATASETS_CACHE; rules/common.smk).
HF_HOME_DIR, DATASETS_CACHE_DIR = "cache/hf", "cache/datasets"
DEFAULT_REVISION = "main"  # what an empty `revision` means (huggingface_hub's and datasets' default branch)
FETCH_HINT = (
    "Jobs read hub artifacts offline (HF_HUB_OFFLINE=1) from the caches inside the working directory: fetch them on "
    "a host with internet (e.g. the cluster's login node) with `snakemake prefetch` and the run's --configfile and "
    "--directory options (if a prefetch ran before and the cache was emptied since, add "
    "`--forcerun prefetch_model prefetch_task`)."
)
# Weights in other frameworks' formats, which transformers does not load for a PyTorch model.
OTHER_FORMATS = ("*.h5", "*.msgpack", "*.ckpt", "*.onnx", "*.ot", "*.tflite", "*.gguf", "*.pt", "*.pth",
                 "original/*", "consolidated*")
PYTORCH_BIN = ("*.bin", "*.bin.index.json")
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")


class NotPrefetchedError(FileNotFoundError):
    """A job needs a hub artifact that is not in the cache; the message names it and how to fetch it."""


class HubUnreachableError(ConnectionError):
    """A prefetch ran on a host that cannot reach the hub; the message says where to run it."""


def hub_token(env_name: str) -> str | None:
    """The token in the environment variable that `hub_token_env` names (never read from a file); None if unset."""
    return (os.environ.get(env_name) or None) if env_name else None


def use_only_the_named_token(env_name: str) -> str | None:
    """The job's hub token: the one in the variable that `hub_token_env` names, and no other. huggingface_hub (under
    datasets and lm-eval too) sends HF_TOKEN or HUGGING_FACE_HUB_TOKEN by itself, so those hold this token or none."""
    token = hub_token(env_name)
    for variable in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        os.environ.pop(variable, None)
    if token:
        os.environ["HF_TOKEN"] = token
    return token


def model_ignore_patterns(files: Iterable[str]) -> list[str]:
    """The files of a model repository that are not fetched: weights in other frameworks' formats, and PyTorch .bin
    weights when the repository has safetensors ones (Llama-2's repositories hold both, 13 GB each at 7B).
    The prefetch and the jobs that check the snapshot offline compute the same patterns from the file list."""
    files = list(files)
    has_safetensors = any(f.endswith(".safetensors") and "/" not in f and not f.startswith("consolidated")
                          for f in files)
    return list(OTHER_FORMATS + (PYTORCH_BIN if has_safetensors else ()))


def _is_connection_error(error: BaseException | None) -> bool:
    """Whether an error, or one it was raised from, is a failure to reach the server (not an answer from it)."""
    from huggingface_hub.utils import httpx

    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, (ConnectionError, httpx.TransportError)):
            return True
        error = error.__cause__ or error.__context__
    return False


@contextlib.contextmanager
def fetching(what: str) -> Iterator[None]:
    """Fetching `what` from the hub: a failure to reach it becomes a HubUnreachableError that says where to fetch."""
    try:
        yield
    except Exception as error:
        if not _is_connection_error(error):
            raise
        from huggingface_hub import constants

        raise HubUnreachableError(
            f"{what} cannot be fetched: the hub ({constants.ENDPOINT}) cannot be reached from this host "
            f"({type(error).__name__}: {error}). Fetch hub artifacts on a host with internet (e.g. the cluster's "
            "login node) with `snakemake prefetch` and the run's --configfile and --directory options; the jobs on "
            "compute nodes then read them from the cache offline."
        ) from error


def _relative(path: str | Path) -> str:
    """A path below the working directory as a relative one (the records are read from there)."""
    path = Path(path).resolve()
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd().resolve()))
    return str(path)


# --- where a model is: a local path, or a hub id at a revision ---------------------------------------------------
def looks_like_local_path(source: str) -> bool:
    """A source written as a path (absolute, relative with ./ or ../, home, or a JSON file name)."""
    return source.startswith(("/", "./", "../", "~")) or source.endswith((".json", ".jsonl"))


def is_hub_id(source: str) -> bool:
    """`name` or `org/name` that is not an existing local path: a repository on the Hugging Face hub."""
    return not looks_like_local_path(source) and not Path(source).exists() and bool(_HUB_ID.match(source))


def with_revision(repo_id: str, revision: str) -> str:
    """A hub model at a revision as one string, `org/name@revision` (`org/name` for the default branch), the way
    the rules hand a model to a job."""
    return f"{repo_id}@{revision}" if revision else repo_id


def split_revision(location: str) -> tuple[str, str]:
    """(hub id, revision) of `org/name@revision` or `org/name`; a local path comes back whole with no revision."""
    repo_id, at, revision = location.partition("@")
    if at and is_hub_id(repo_id):
        return repo_id, revision
    return location, ""


def locate_model(location: str) -> str:
    """The folder a model is loaded from: a local path as it is, or for a hub id (`org/name@revision`) its snapshot
    in the hub cache, found offline (cached_model: a model not prefetched is named, with how to fetch it)."""
    repo_id, revision = split_revision(location)
    if not is_hub_id(repo_id):
        return location
    return cached_model(repo_id, revision)


# --- models in the hub cache -------------------------------------------------------------------------------------
def prefetch_model(repo_id: str, revision: str, token: str | None = None) -> dict[str, Any]:
    """Fetch a model's snapshot (config, tokenizer, weights in one format) at `revision` into the hub cache, and
    return the record of what was fetched: the commit the revision resolved to and the files."""
    from huggingface_hub import HfApi, snapshot_download

    revision = revision or DEFAULT_REVISION
    with fetching(f"base model {repo_id} at revision {revision}"):
        info = HfApi(token=token).model_info(repo_id, revision=revision)
        ignored = model_ignore_patterns(sibling.rfilename for sibling in info.siblings or [])
        folder = snapshot_download(repo_id, revision=revision, ignore_patterns=ignored, token=token)
    problems = model_dir_problems(Path(folder))
    if problems:
        raise RuntimeError(f"base model {repo_id} at revision {revision} cannot be loaded from its snapshot {folder}: "
                           f"{'; '.join(problems)}")
    return {
        "kind": "model",
        "repo_id": repo_id,
        "revision": revision,
        "commit": Path(folder).name,
        "snapshot": _relative(folder),
        "files": sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*") if p.is_file()),
        "ignored": ignored,
    }


def cached_model(repo_id: str, revision: str) -> str:
    """The snapshot folder of a prefetched model, found in the hub cache without any network call: the revision's
    commit (a branch through the ref the prefetch recorded), complete against the file list the prefetch cached.
    Raises NotPrefetchedError naming the model and how to fetch it."""
    from huggingface_hub import constants, get_cached_repo_tree, snapshot_download
    from huggingface_hub.errors import CachedRepoTreeNotFoundError, LocalEntryNotFoundError

    revision = revision or DEFAULT_REVISION
    what = f"base model {repo_id} at revision {revision}"
    try:
        files = [entry.path for entry in get_cached_repo_tree(repo_id, revision=revision)]
        folder = snapshot_download(repo_id, revision=revision, ignore_patterns=model_ignore_patterns(files),
                                   local_files_only=True)
    except (CachedRepoTreeNotFoundError, LocalEntryNotFoundError) as error:
        raise NotPrefetchedError(
            f"{what} is not in the hub cache {constants.HF_HUB_CACHE} ({type(error).__name__}: {error}). {FETCH_HINT}"
        ) from None
    problems = model_dir_problems(Path(folder))
    if problems:
        raise NotPrefetchedError(f"{what} is incomplete in the hub cache ({folder}: {'; '.join(problems)}). "
                                 f"{FETCH_HINT}")
    return folder


# --- lm-eval's task datasets -------------------------------------------------------------------------------------
def _leaf_tasks(task_dict: dict) -> Iterator[tuple[str, Any]]:
    """(name, Task) of every task below lm-eval's task dict (a group, such as mmlu, holds its subtasks)."""
    for key, value in task_dict.items():
        if isinstance(value, dict):
            yield from _leaf_tasks(value)
        else:
            yield str(getattr(getattr(value, "config", None), "task", None) or key), value


def _dataset_record(name: str, task: Any) -> dict[str, Any]:
    data = getattr(task, "dataset", None)
    splits = dict(data.items()) if hasattr(data, "items") else {}
    folders = sorted({_relative(Path(f["filename"]).parent) for split in splits.values()
                      for f in getattr(split, "cache_files", [])})
    return {"task": name, "path": getattr(task, "DATASET_PATH", None), "name": getattr(task, "DATASET_NAME", None),
            "splits": {split: len(rows) for split, rows in splits.items()}, "cache": folders}


def prefetch_task(task: str, include_path: str = "") -> dict[str, Any]:
    """Build an lm-eval task (or group) once, as an evaluation does, so that `datasets` downloads its datasets into
    the datasets cache, and return the record of what was loaded: per subtask its dataset, splits and cache folder."""
    from importlib.metadata import version

    from lm_eval.tasks import get_task_dict

    with fetching(f"the datasets of lm-eval task {task!r}"):
        task_dict = get_task_dict([task], lm_eval_task_manager([task], include_path))
    return {
        "kind": "lm_eval_task",
        "task": task,
        "lm_eval_version": version("lm_eval"),
        "datasets": [_dataset_record(name, leaf) for name, leaf in sorted(_leaf_tasks(task_dict), key=lambda x: x[0])],
    }


def raise_if_task_not_prefetched(tasks: list[str], task_manager: Any, error: BaseException) -> None:
    """After an offline lm-eval run failed: name the first of `tasks` whose datasets cannot be loaded from the
    cache, with how to fetch them (NotPrefetchedError raised from `error`); return if all of them load."""
    from datasets import config
    from lm_eval.tasks import get_task_dict

    if not config.HF_HUB_OFFLINE:
        return
    for task in tasks:
        try:
            get_task_dict([task], task_manager)
        except Exception as missing:  # whatever keeps the task from loading offline is what the user must fix
            raise NotPrefetchedError(
                f"the datasets of lm-eval task {task!r} are not in the datasets cache {config.HF_DATASETS_CACHE} "
                f"({type(missing).__name__}: {missing}). {FETCH_HINT}"
            ) from error
