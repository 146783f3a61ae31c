"""The cost plan as Markdown tables (benchmarks/plan_cost.py prints them): the base models' sizes, each rule's jobs,
tokens, FLOPs, GPU-hours and disk, each artifact's disk, and the assumptions, every figure marked as an estimate.
"""

from __future__ import annotations

from cost_model import CostPlan


def human_bytes(value: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= size:
            return f"{value / size:,.1f} {unit}"
    return f"{value:,.0f} B" if value else "-"


def _number(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}g}" if value else "-"


def _hours(value: float) -> str:
    return f"{value:,.2f}" if value >= 0.01 else ("<0.01" if value else "-")


def format_plan(plan: CostPlan, title: str) -> str:
    """The plan as Markdown tables, every figure marked as an estimate."""
    lines = [f"Estimated cost of {title} (estimates from the assumptions below, not measurements)", "",
             "| base model | parameters | counted from | models saved as |", "| --- | ---: | --- | --- |"]
    for name, size in plan.base_models.items():
        saved = plan.save_dtypes[name]
        source = "training.save_dtype" if plan.save_dtype_setting != "auto" else f"auto: {size.dtype_source}"
        lines.append(f"| {name} | {size.parameters:,} | {size.source} | {saved} ({source}) |")
    lines += ["", "| rule | jobs | tokens (est.) | FLOPs (est.) | GPU-hours (est.) | wall hours per job (est.) "
              "| disk written (est.) | disk kept (est.) |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    total = plan.total()
    for row in [*plan.rules, total]:
        name = f"**{row.rule}**" if row is total else row.rule
        wall = "" if row is total else _hours(row.wall_hours_per_job)
        lines.append(f"| {name} | {row.jobs} | {_number(row.tokens)} | {_number(row.flops)} | {_hours(row.gpu_hours)} "
                     f"| {wall} | {human_bytes(row.disk_written)} | {human_bytes(row.disk_kept)} |")
    lines += ["", "| artifact | base model | size each (est.) | written | kept at the end | written (est.) "
              "| kept (est.) |", "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for artifact in plan.artifacts:
        lines.append(f"| {artifact.artifact} | {artifact.base or '-'} | {human_bytes(artifact.size_each)} "
                     f"| {artifact.written} | {artifact.kept} | {human_bytes(artifact.written_bytes)} "
                     f"| {human_bytes(artifact.kept_bytes)} |")
    for what, size in plan.transient:
        lines.append(f"| {what} | - | {human_bytes(size)} | one per job (two while a newer one is written) | 0 | - "
                     "| - |")
    lines += ["", "Assumptions:", *[f"- {line}" for line in plan.assumptions]]
    return "\n".join(lines)
