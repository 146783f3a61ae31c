"""The environment every job of the workflow runs in (the shell prefix of rules/common.smk): the libraries' caches
inside the results folder, and no bytecode written, so that a job writes nothing outside its working directory."""

from __future__ import annotations

import shlex

from iftforget.hub import DATASETS_CACHE_DIR, HF_HOME_DIR


def job_environment(results: str) -> dict[str, str]:
    """The variables every job gets, for a run whose results folder is `results` (relative to the working
    directory). The hub and datasets caches are where the prefetch rules put what the offline jobs read."""
    return {
        "HF_HOME": f"{results}/{HF_HOME_DIR}",
        "HF_DATASETS_CACHE": f"{results}/{DATASETS_CACHE_DIR}",
        "TOKENIZERS_PARALLELISM": "false",
        "TORCHINDUCTOR_CACHE_DIR": f"{results}/cache/torchinductor",
        "TRITON_CACHE_DIR": f"{results}/cache/triton",
        "MPLCONFIGDIR": f"{results}/cache/matplotlib",
        # Bytecode of the library's modules would otherwise be written into the workflow's folder. Jobs still read the
        # installed packages' bytecode; with a bytecode folder of their own (PYTHONPYCACHEPREFIX) they would not, and
        # would compile torch, transformers, TRL and lm-eval from source (every job, where that folder is relative).
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def export_command(environment: dict[str, str]) -> str:
    """A shell command that exports the variables, each value quoted."""
    return "export " + " ".join(f"{name}={shlex.quote(value)}" for name, value in environment.items()) + ";"
