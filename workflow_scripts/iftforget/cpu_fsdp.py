"""FSDP on CPU processes: the one decision accelerate leaves out there.

`accelerate launch` with an FSDP config (accelerate/fsdp.yaml) tells every process to shard (ACCELERATE_USE_FSDP),
and `Accelerator` builds the FSDP plugin from that config, but `AcceleratorState.__init__` (accelerate 1.15, state.py)
switches the distributed type to FSDP only for accelerator devices (MULTI_GPU, MULTI_XPU, ...). A CPU process group
(gloo) stays MULTI_CPU, and the model is wrapped in DDP: every process holds every parameter. PyTorch's FSDP2
(`fully_shard`) runs on a CPU device mesh with gloo, so on CPU this module makes the one switch accelerate makes on a
GPU; the wrapping, the state-dict gathering, the sharded optimizer and its checkpoints stay accelerate's and
transformers' own code, configured by the same file. A GPU process never reaches the switch.
"""

from __future__ import annotations

import functools
import os
from typing import Any

# The accelerate release whose AcceleratorState.__init__ this module was written against (requirements.txt pins it).
CHECKED_ACCELERATE = "1.15"


def fsdp_requested() -> bool:
    """Whether the launcher asked this process to shard (`accelerate launch` with distributed_type FSDP)."""
    return os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"


def allow_fsdp_on_cpu() -> None:
    """Make accelerate select FSDP for a CPU process group when the launcher asked for it, as it does on GPUs.
    Call before the Trainer creates its Accelerator; calling it again changes nothing. Another accelerate release
    than the one checked is an error naming this switch, not a silent fallback."""
    import accelerate
    from accelerate.state import AcceleratorState, PartialState
    from accelerate.utils import DistributedType

    check_accelerate_version(accelerate.__version__)

    library_init = AcceleratorState.__init__
    if getattr(library_init, "selects_fsdp_on_cpu", False):
        return

    @functools.wraps(library_init)
    def init(self: AcceleratorState, *args: Any, **kwargs: Any) -> None:
        library_init(self, *args, **kwargs)
        fsdp_plugin = kwargs.get("fsdp_plugin")
        if self.distributed_type == DistributedType.MULTI_CPU and fsdp_plugin is not None:
            # What the accelerator-device branch of AcceleratorState.__init__ does with the plugin.
            if self._mixed_precision != "no":
                fsdp_plugin.set_mixed_precision(self._mixed_precision)
            self.fsdp_plugin = fsdp_plugin
            self.distributed_type = DistributedType.FSDP
            PartialState._shared_state["distributed_type"] = DistributedType.FSDP

    init.selects_fsdp_on_cpu = True  # type: ignore[attr-defined]
    AcceleratorState.__init__ = init  # type: ignore[method-assign]


def check_accelerate_version(version: str) -> None:
    """FSDP on CPU rests on accelerate's internals as of CHECKED_ACCELERATE: another release stops the job."""
    if version.split(".")[:2] != CHECKED_ACCELERATE.split("."):
        raise RuntimeError(
            f"FSDP on CPU (iftforget.cpu_fsdp) switches accelerate's AcceleratorState to FSDP for a CPU process group, "
            f"written against accelerate {CHECKED_ACCELERATE}.x; this is accelerate {version}. Check whether "
            "AcceleratorState.__init__ now selects FSDP on CPU by itself (then remove the switch) or still falls back "
            "to DDP (then update CHECKED_ACCELERATE), or train on a GPU."
        )
