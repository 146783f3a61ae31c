"""Adapter of rule `ift` (and of ift_last, ift_variant, ift_variant_last): continue the IFT run from the previous grid
checkpoint to the next grid step. Its settings: iftforget.jobs.IftJob."""

import argparse
import json
from pathlib import Path

from iftforget.chat import comparison_template
from iftforget.hub import locate_model
from iftforget.jobs import IftJob, add_job_arguments
from iftforget.models import load_model, load_tokenizer, saved_dtype
from iftforget.training import StageArgs, load_text_dataset, train
from iftforget.training_log import log_environment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_job_arguments(parser)
    parser.add_argument("--resume", default="", help="the previous segment's model; empty at the first step")
    parser.add_argument("--resume-state", default="", help="the previous segment's trainer state")
    parser.add_argument("--data", required=True, help="chat-format JSON lines with a messages field")
    parser.add_argument("--chat-template", required=True, help="ift.chat_template (for a tokenizer that has none)")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--state-out", required=True, type=Path, help="where this segment's trainer state goes")
    args = parser.parse_args()
    job = IftJob.from_json(args.job, args.execution)
    settings = job.settings | job.run_settings
    # A hub base model (org/name@revision) is read from its snapshot in the cache, found offline: by the first
    # segment, and by every segment when save_dtype is auto (the dtype in its config.json).
    base = locate_model(job.start_model) if not args.resume or settings["save_dtype"] == "auto" else job.start_model
    # auto saves in the base model's own dtype (the segments before this one were saved so too).
    dtype = saved_dtype(settings["save_dtype"], base, job.trust_remote_code)
    stage = StageArgs.from_config(settings, seed=job.seed, save_dtype=dtype)
    log_environment()
    start = args.resume or base
    print(f"[ift] steps {job.stop_step}/{job.schedule_length} from {start}; settings {json.dumps(stage.__dict__)}",
          flush=True)
    # The folder is checked first: a broken one is named with how to rebuild it, never half loaded.
    model = load_model(start, job.trust_remote_code, stage.attn_implementation)
    tokenizer = load_tokenizer(start, job.trust_remote_code)
    template = comparison_template(tokenizer, args.chat_template, job.chat_template_source)
    if template != tokenizer.chat_template:
        # A base model without a chat format (Llama-2 base), or one whose format is replaced: IFT teaches it this one.
        print(f"[ift] tuning in the chat template of {args.chat_template} (the tokenizer's own: "
              f"{'none' if not tokenizer.chat_template else job.chat_template_source + ' replaces it'})", flush=True)
        tokenizer.chat_template = template
    dataset = load_text_dataset(args.data, ("messages",))
    train(
        model,
        tokenizer,
        dataset,
        stage,
        args.out,
        total_steps=job.schedule_length,
        stop_step=job.stop_step,
        resume_from=(Path(args.resume), Path(args.resume_state)) if args.resume else None,
        assistant_only=True,
        state_output=args.state_out,
        run_name=job.run_name,
        tracking_dir=job.tracking_dir,
        trust_remote_code=job.trust_remote_code,
    )


if __name__ == "__main__":
    main()
