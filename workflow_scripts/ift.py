"""Adapter of rule `ift`: continue the IFT run from the previous grid checkpoint to the next grid step."""

import argparse
import json
from pathlib import Path

from iftforget.models import load_model, load_tokenizer, locate_model
from iftforget.training import StageArgs, load_text_dataset, log_environment, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="the base model the run starts from: a directory, or a "
                        "prefetched hub model as org/name@revision")
    parser.add_argument("--resume", default="", help="the previous segment's model; empty at the first step")
    parser.add_argument("--resume-state", default="", help="the previous segment's trainer state")
    parser.add_argument("--data", required=True, help="chat-format JSON lines with a messages field")
    parser.add_argument("--stage", required=True, type=json.loads, help="the stage's settings that change its result")
    parser.add_argument("--run", required=True, type=json.loads, help="the settings of how the job runs (threads...)")
    parser.add_argument("--seed", required=True, type=int)
    parser.add_argument("--total-steps", type=int, required=True)
    parser.add_argument("--stop-step", type=int, required=True)
    parser.add_argument("--chat-template", required=True, help="Jinja template for a tokenizer that has none")
    parser.add_argument("--trust-remote-code", action="store_true")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--state-out", required=True, type=Path, help="where this segment's trainer state goes")
    args = parser.parse_args()
    stage = StageArgs.from_config(args.stage | args.run, seed=args.seed)
    log_environment()
    start = args.resume or locate_model(args.model)  # a hub model: its snapshot in the cache, found offline
    print(f"[ift] steps {args.stop_step}/{args.total_steps} from {start}; settings {json.dumps(stage.__dict__)}",
          flush=True)
    model = load_model(start, args.trust_remote_code)  # checks the folder first: a broken one is named, not loaded
    tokenizer = load_tokenizer(start, args.trust_remote_code)
    if not tokenizer.chat_template:
        # A base model without a chat format (Llama-2 base): IFT teaches it the configured one.
        tokenizer.chat_template = Path(args.chat_template).read_text()
        print(f"[ift] the tokenizer has no chat template; using {args.chat_template}", flush=True)
    dataset = load_text_dataset(args.data, ("messages",))
    train(
        model,
        tokenizer,
        dataset,
        stage,
        args.out,
        total_steps=args.total_steps,
        stop_step=args.stop_step,
        resume_from=(Path(args.resume), Path(args.resume_state)) if args.resume else None,
        assistant_only=True,
        state_output=args.state_out,
    )


if __name__ == "__main__":
    main()
