"""The write-up: provenance appendix, strict LaTeX build of results/paper.pdf from every part's outputs."""

# exports: rule build_paper (results/paper.pdf); uses PAPER_INPUTS of every part


rule tex_provenance:
    input:
        summaries=lambda w: run_files(sorted(RUNS), "summary.csv"),
        others=paper_inputs(),
    output:
        macros="results/tex/provenance.tex",
        runtimes="results/tex/runtimes_table.tex",
        data_sources="results/tex/data_sources_table.tex",
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
        configfiles=[str(path) for path in workflow.configfiles],
        benchmarks_dir="results/benchmarks",
    script:
        "../scripts/tex_provenance.py"


rule build_paper:
    input:
        main="paper/main.tex",
        sources=sorted(str(p) for p in Path("paper").rglob("*.tex")),
        generated=paper_inputs(),
        provenance="results/tex/provenance.tex",
        runtimes="results/tex/runtimes_table.tex",
        data_sources="results/tex/data_sources_table.tex",
    output:
        "results/paper.pdf",
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
        max_overfull_pt=config["paper"]["max_overfull_pt"],
    script:
        "../scripts/build_paper.py"
