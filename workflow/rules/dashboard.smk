"""The Snakemake report as the study's dashboard: a landing page (what ran, on what, how long, the claims) and
every figure also as PNG, which a browser shows inline (the PDFs stay report items too).
"""

# exports: rules report_png, report_description; fills DASHBOARD_TARGETS (rule all); sets `report:`

# Report category of each figure: its Part's, so the PNG sits beside the PDF the Part's rule marks.
FIGURE_CATEGORY = {
    "lr_sweep": "Part 1: learning rates and schedulers",
    "schedulers": "Part 1: learning rates and schedulers",
    "quantization": "Part 2: post-training quantization",
    "sparse_sanity": "Part 3: pruning",
    "pruning": "Part 3: pruning",
    "oneshot_pruning": "Part 3: pruning",
    "finetune": "Part 4: transfer learning",
    "positional_encoding": "Part 5: transformer",
    "dwconv": "Part 6: depthwise separable convolutions",
    "frontier": "Beyond the problem set: the efficiency frontier",
}
REPORT_FIGURES = sorted(
    Path(path).stem
    for path in paper_inputs()
    if path.startswith("results/figs/") and path.endswith(".pdf")
)
REPORT_PNGS = [f"results/report/figs/{name}.png" for name in REPORT_FIGURES]
REPORT_PAGE = "results/report/description.rst"
# The landing page once a run wrote it (`snakemake --report` comes after the run), else a stub saying so.
REPORT_DESCRIPTION = (
    str(Path(REPORT_PAGE).resolve())
    if Path(REPORT_PAGE).is_file()
    else str(REPO / "workflow" / "report" / "workflow.rst")
)
# The PNGs need poppler's pdftoppm (installed with TeX by workflow/setup.sh); without it the page comes alone.
DASHBOARD_TARGETS.extend(
    [REPORT_PAGE] + (REPORT_PNGS if shutil.which("pdftoppm") else [])
)
# each part's tidy results (effdl.report.results; written by its TeX rule): report items, so rule all asks for them
DASHBOARD_TARGETS.extend(
    f"results/metrics/results_{topic}.csv"
    for topic in ("schedules", "quant", "prune", "transformer", "dwconv")
)


# `snakemake --report`: its landing page is the run's own (what ran, on what, how long, the claims table)
report: REPORT_DESCRIPTION


rule report_png:
    input:
        "results/figs/{figure}.pdf",
    output:
        report(
            "results/report/figs/{figure}.png",
            caption="../report/figure_png.rst",
            category=lambda w: FIGURE_CATEGORY.get(w.figure, "Figures"),
        ),
    log:
        "results/logs/report_png/{figure}.log",
    wildcard_constraints:
        figure="|".join(REPORT_FIGURES) or "none",
    conda:
        "../envs/latex.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=code_param("report_png.py"),
    script:
        "../scripts/report_png.py"


rule report_description:
    input:
        summaries=lambda w: run_files(sorted(RUNS), "summary.csv"),
        claims="results/metrics/claims.csv",
        # last: the page sums every job's benchmark record, so it waits for the rest of the default target
        after=lambda w: default_targets()
        + (REPORT_PNGS if shutil.which("pdftoppm") else []),
    output:
        REPORT_PAGE,
    log:
        "results/logs/report_description.log",
    conda:
        "../envs/effdl.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        label=config["paper"]["label"],
        configfiles=[repo_relative(path) for path in workflow.configfiles],
        benchmarks_dir="results/benchmarks",
        code=code_param("report_description.py"),
    script:
        "../scripts/report_description.py"
