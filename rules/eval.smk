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
        job=JOBS.eval,
        execution=JOBS.eval_execution,
        # Not tracked by Snakemake (computed from the job's outputs): which tasks a job writes; removing a task
        # reruns nothing.
        outputs=lambda wildcards, output: " ".join(
            shlex.quote(f"{task}={path}") for task, path in zip(AXES.tasks, output)
        ),
        task_names=lambda wildcards, output: ", ".join(Path(path).stem for path in output),
    message:
        "Evaluating {wildcards.model_path} on {params.task_names}"
    shell:
        "{params.launch} eval --job {params.job:q} --execution {params.execution:q} --outputs {params.outputs}"
        " --chat-template {input.chat_template:q} > {log:q} 2>&1"
