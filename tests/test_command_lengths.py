"""Every job's command starts on Linux at the scale of the largest committed preset (the confirmatory study with its
restoration arm: ten replicates): no program gets one argument over 128 KiB (the kernel's MAX_ARG_STRLEN) or
arguments over 1 MiB in all (half of the usual ARG_MAX, which the environment shares). The analysis plans, which grow
with the grid, reach their adapters on standard input through the shell's builtin printf, which starts no program."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from conftest import REPO, job_counts, run_snakemake

pytestmark = pytest.mark.workflow

MAX_ARGUMENT = 128 * 1024 - 1  # bytes, without the terminating NUL
MAX_ARGUMENTS = 1024 * 1024
SHELL_BUILTINS = {"printf", "echo", "export", "set", "cd", "true", ":"}
CONTROL_OPERATORS = {"|", ";", "&&", "||", "&"}
LARGEST = ["config.yaml", "presets/confirmatory.yaml", "presets/confirmatory-fresh-arm.yaml"]


def programs_started(command: str) -> list[list[str]]:
    """The simple commands of one shell command line that start a program (builtins left out), as argument lists."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands, current = [], []
    for token in lexer:
        if token in CONTROL_OPERATORS:
            commands.append(current)
            current = []
        else:
            current.append(token)
    commands.append(current)
    return [words for words in commands if words and words[0] not in SHELL_BUILTINS]


def test_the_splitter_sees_programs_but_not_builtins():
    line = "printf '%s' 'x y' | python -m analyze --plan - > log 2>&1; set -e && echo done"
    assert programs_started(line) == [["python", "-m", "analyze", "--plan", "-", ">", "log", "2", ">&", "1"]]


def test_every_jobs_command_fits_linuxs_argument_limits_at_the_largest_preset(tmp_path: Path):
    result = run_snakemake("-n", "-p", "--cores", "2", "--directory", str(tmp_path), "--configfile",
                           *(str(REPO / name) for name in LARGEST), cwd=tmp_path)
    commands = [line.removeprefix("Shell command: ") for line in result.stdout.splitlines()
                if line.startswith("Shell command: ")]
    planned = job_counts(result.stdout)
    assert len(commands) > 800 and {"analyze", "analyze_arm", "plot_figures", "summarize"} <= set(planned), planned
    too_long = []
    for command in commands:
        for words in programs_started(command):
            longest = max(len(word.encode()) for word in words)
            total = sum(len(word.encode()) + 1 for word in words)
            if longest > MAX_ARGUMENT or total > MAX_ARGUMENTS:
                too_long.append(f"{' '.join(words)[:200]}... (longest argument {longest} B, all {total} B)")
    assert too_long == [], too_long[:3]
