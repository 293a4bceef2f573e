# Trainings: one per run of the study; a run shared by several tables trains once.
# Only model.pt (written once, at the very end) is an output: checkpoint.pt and train_log.csv are
# not, so a stopped run keeps them and the same command resumes from the last checkpoint.
# What a training is, is its resolved run config (params.run, compared by value): a recipe value
# edit reruns every training, a comment edit none (the recipe file is no input: its mtime does not
# count). A rerun whose config, data or length changed starts from scratch (--restart-if-changed).

rule train:
    input:
        cache=lambda wc: cache_index(study.runs[wc.run].train_set),
        ready=lambda wc: data_ready(study.runs[wc.run].train_set),
    output:
        model=f"{PATHS['run']}/model.pt",
    log:
        f"{LOGS}/train/{{run}}.log",
    params:
        out=lambda wc, output: os.path.dirname(output.model),
        recipe=lambda wc: study.runs[wc.run].recipe,  # a baseline's own recipe (experiments.*.baselines)
        run=lambda wc: study.run_config(wc.run),
        train_set=lambda wc, input: set_dir(input.ready),
        cache=lambda wc, input: os.path.dirname(input.cache),
        sets=lambda wc: " ".join(f"--set '{a}'" for a in study.runs[wc.run].train_args()),
        # gpu: N > 1 (e.g. --set-resources train:gpu=4): N processes, one per GPU, the global batch kept.
        launch=lambda wc, resources: PY if resources.gpu <= 1 else f"torchrun --standalone --nproc_per_node {resources.gpu} -m hst",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{run}}.tsv"
    threads: study.config.get("train_threads", 1)
    # The longest trainings first (work in forward MACs of the layers, hst.study.plan.training_ranks): on a
    # small machine a long training started last runs alone at the end while the other cores idle.
    priority: lambda wc: train_priority(wc.run)
    resources:
        gpu=lambda wc: 1 if study.run_device(wc.run) == "cuda" else 0,
    shell:
        "{params.launch} train --config {params.recipe} --out {params.out} --no-progress --restart-if-changed"
        " --set data.train_set={params.train_set} --set data.cache_dir={params.cache}"
        " {params.sets} --set threads={threads} >> {log} 2>&1"
