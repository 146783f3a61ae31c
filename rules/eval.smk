# Evaluation: one lm-eval run per model, every task of the grid at once (the model is loaded once), written as one
# JSON per task with per-item records. {model_path} is the path of any model of the grid (its constraint is built
# from the path table), and the job looks the model up. lm-eval's request cache of each model lives outside the
# declared outputs (cache/lm_eval/<model path>), emptied when the model is rebuilt: a job that reruns because a task
# was added, or after it was killed, answers from it every request it has answered before.


rule eval:
    input:
        model=lambda wildcards: FILES.model_inputs(AXES.model_at(wildcards.model_path)),
        # The whole world of the model's replicate (not the files of the tasks alone), so that removing a task from
        # eval.tasks changes no job's inputs.
        world=lambda wildcards: FILES.world_inputs(AXES.model_at(wildcards.model_path).replicate),
        chat_template=chat_template_file(),
        # What the prefetch fetched: a hub base model, the datasets of every task that is not a world probe.
        prefetched=lambda wildcards: prefetched(AXES.model_at(wildcards.model_path)),
        tasks=FILES.prefetched_task_files(),
    output:
        [LAYOUT.pattern("eval", task=task) for task in AXES.tasks],
    log:
        LAYOUT.log("eval", "{model_path}"),
    benchmark:
        LAYOUT.benchmark("eval", "{model_path}")
    # Under a cluster executor, `group-components: [eval=N]` of the workflow profile puts N of these jobs (one per
    # model, independent of each other) into one submission, which runs them one after another (docs/clusters.md).
    # Local runs ignore groups: the evals run side by side as cores allow.
    group:
        "eval"
    conda:
        "../envs/eval.yaml"
    threads: config["eval"]["threads"]
    resources:
        **EVAL_RESOURCES,
    params:
        launch=single_process_launch,
        model=lambda wildcards: FILES.model_location(AXES.model_at(wildcards.model_path)),
        info=lambda wildcards: as_json(AXES.model_at(wildcards.model_path).info()),
        settings=as_json(EVAL_RESULT),
        # Not tracked by Snakemake (computed from the job's outputs and threads): which tasks a job writes, and how
        # it runs; removing a task or changing the batch size reruns nothing.
        outputs=lambda wildcards, output: " ".join(
            shlex.quote(f"{task}={path}") for task, path in zip(AXES.tasks, output)
        ),
        execution=lambda wildcards, threads: as_json(EVAL_RUN | {"threads": threads} | MODEL_LOADING),
        task_names=lambda wildcards, output: ", ".join(Path(path).stem for path in output),
        chat_template_source=config["ift"]["chat_template_source"],
        trust_remote_code=TRUST_REMOTE_CODE,
        world_dir=lambda wildcards: FILES.world_dir(AXES.model_at(wildcards.model_path).replicate),
        cache_dir=lambda wildcards: f"{RESULTS}/cache/lm_eval/{wildcards.model_path}",
    message:
        "Evaluating {wildcards.model_path} on {params.task_names}"
    shell:
        "{params.launch} eval --model {params.model:q} --outputs {params.outputs} --settings {params.settings:q}"
        " --execution {params.execution:q} {params.trust_remote_code} --info {params.info:q} --world-dir {params.world_dir:q}"
        " --cache-dir {params.cache_dir:q} --chat-template {input.chat_template:q}"
        " --chat-template-source {params.chat_template_source} > {log:q} 2>&1"
