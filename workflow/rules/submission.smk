"""The seed's submission: the seed tests, title-page team and code appendix, the executed notebook, the named zip."""

import tomllib

from effdl.report.sources import source_files

# SUBMISSION_ZIP and AI_LOGS (checked while the DAG is built) come from common.smk.
SUB = config["submission"]
# Files the code appendix and the notebook show, and every module the seed tests may run.
IMPLEMENTATION_FILES = source_files(src_root=Path(repo_path("src")))
EFFDL_SOURCES = sorted(
    repo_path(path) for path in (REPO / "src" / "effdl").rglob("*.py")
)

PAPER_INPUTS["submission"] = [
    "results/tex/submission.tex",
    "results/tex/code_appendix.tex",
]


rule seed_tests:
    input:
        EFFDL_SOURCES,
    output:
        "results/submission/seed_tests.json",
    log:
        "results/logs/seed_tests.log",
    benchmark:
        "results/benchmarks/seed_tests/seed_tests.tsv"
    conda:
        "../envs/effdl.yaml"
    # CPU-sized checks (the largest is one batch-2 forward of the notebook's transformer): no GPU token.
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        code=code_param("run_seed_tests.py"),
    script:
        "../scripts/run_seed_tests.py"


rule tex_submission:
    input:
        seed_tests="results/submission/seed_tests.json",
        sources=IMPLEMENTATION_FILES,
    output:
        team="results/tex/submission.tex",
        appendix="results/tex/code_appendix.tex",
    log:
        "results/logs/tex_submission.log",
    benchmark:
        "results/benchmarks/tex_submission/tex_submission.tsv"
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        team=SUB["team"],
        code=code_param("tex_submission.py"),
    script:
        "../scripts/tex_submission.py"


# The project's wheel (src/effdl): the notebook's first cell installs it from the zip's folder.
EFFDL_WHEEL = "results/submission/effdl-{}-py3-none-any.whl".format(
    tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
)


rule effdl_wheel:
    input:
        sources=EFFDL_SOURCES,
        pyproject=repo_path("pyproject.toml"),
    output:
        EFFDL_WHEEL,
    log:
        "results/logs/effdl_wheel.log",
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=code_param("build_wheel.py"),
    script:
        "../scripts/build_wheel.py"


# The notebook and the zip come after the PDF, so the paper's runtime table cannot time them
# (effdl.report.provenance.UNTIMED_RULES); their logs record their wall time.
rule notebook:
    input:
        sources=EFFDL_SOURCES,
        sections=sorted(
            repo_path(p) for p in (REPO / "paper" / "sections").glob("part*.tex")
        ),
        exhibits=paper_inputs(),
        # the runs' summaries: the notebook shows each run's training log and total training time
        summaries=sorted(run_file(key, "summary.csv") for key in RUNS),
    output:
        report(
            "results/submission/pset2.ipynb",
            caption="../report/notebook.rst",
            category="Paper and submission",
        ),
    log:
        "results/logs/notebook.log",
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        team=SUB["team"],
        label=config["paper"]["label"],
        runs=RUNS,
        toy=config["transformer"]["toy"],
        cell_timeout_s=300,
        code=code_param("build_notebook.py"),
    script:
        "../scripts/build_notebook.py"


rule submission_zip:
    input:
        pdf="results/paper.pdf",
        notebook="results/submission/pset2.ipynb",
        wheel=EFFDL_WHEEL,
        ai_logs=AI_LOGS,
    output:
        report(
            SUBMISSION_ZIP,
            caption="../report/submission.rst",
            category="Paper and submission",
        ),
    log:
        "results/logs/submission_zip.log",
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        stem=Path(SUBMISSION_ZIP).stem,
        code=code_param("submission_zip.py"),
    script:
        "../scripts/submission_zip.py"
