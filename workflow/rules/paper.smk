"""The write-up: provenance appendix, strict LaTeX build of results/paper.pdf from every part's outputs."""

# exports: rule build_paper (results/paper.pdf); uses PAPER_INPUTS of every part

import os
import sys

# The command line that runs this workflow, for the provenance appendix. An environment variable, not a
# params entry: a dry run (-n) or another target must not make tex_provenance out of date.
os.environ.setdefault("EFFDL_COMMAND_LINE", "\x1f".join(sys.argv))


rule tex_provenance:
    input:
        summaries=lambda w: run_files(sorted(RUNS), "summary.csv"),
        others=paper_inputs(),
        # the \\rebuild marks of the figures and tables, collected into the appendix's rebuild table
        sections=sorted(
            repo_path(p) for p in (REPO / "paper" / "sections").glob("*.tex")
        ),
    output:
        macros="results/tex/provenance.tex",
        rebuild="results/tex/rebuild_table.tex",
        runtimes="results/tex/runtimes_table.tex",
        data_sources="results/tex/data_sources_table.tex",
        deviations="results/tex/deviations_table.tex",
        config_listing="results/tex/config_listing.tex",
    log:
        "results/logs/tex_provenance.log",
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        label=config["paper"]["label"],
        configfiles=[repo_relative(path) for path in workflow.configfiles],
        benchmarks_dir="results/benchmarks",
        code=code_param("tex_provenance.py"),
    script:
        "../scripts/tex_provenance.py"


rule build_paper:
    input:
        main=paper_tex_path("main.tex"),
        sources=sorted(repo_path(p) for p in (REPO / "paper").rglob("*.tex")),
        generated=paper_inputs(),
        provenance="results/tex/provenance.tex",
        runtimes="results/tex/runtimes_table.tex",
        data_sources="results/tex/data_sources_table.tex",
        deviations="results/tex/deviations_table.tex",
        config_listing="results/tex/config_listing.tex",
        rebuild="results/tex/rebuild_table.tex",
    output:
        report(
            "results/paper.pdf",
            caption="../report/paper.rst",
            category="Paper and submission",
        ),
    log:
        "results/logs/build_paper.log",
    conda:
        "../envs/latex.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        build_dir="results/paper_build",
        # what main.tex's \resultsdir becomes: this working directory's results/, seen from paper/
        results_dir=os.path.relpath(
            Path("results").resolve(), (REPO / "paper").resolve()
        ),
        max_overfull_pt=config["paper"]["max_overfull_pt"],
        code=code_param("build_paper.py"),
    script:
        "../scripts/build_paper.py"
