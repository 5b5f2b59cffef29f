"""The write-up: provenance appendix, strict LaTeX build of results/paper.pdf from every part's outputs."""

import subprocess

from snakemake.logging import logger

# LaTeX packages paper/ uses (\usepackage); checked with kpsewhich when paper.build is auto.
PAPER_STY = [
    "amsmath",
    "booktabs",
    "float",
    "fontenc",
    "geometry",
    "graphicx",
    "hyperref",
    "lmodern",
    "url",
    "xcolor",
]
PAPER_INSTALL_HINT = (
    "Install TeX with `bash workflow/setup.sh` (Debian/Ubuntu, root or sudo), or by hand: Debian/Ubuntu "
    "`apt-get install texlive-latex-base texlive-latex-recommended lmodern latexmk poppler-utils`; macOS "
    "MacTeX (`brew install --cask mactex-no-gui`) plus `brew install poppler`; conda-forge "
    "`conda install -c conda-forge texlive-core latexmk poppler`. Or set paper.build: false to skip the paper."
)


def missing_latex():
    """What the paper build needs and this machine lacks: programs on PATH, then LaTeX packages."""
    missing = [
        tool
        for tool in ("latexmk", "pdflatex", "kpsewhich")
        if shutil.which(tool) is None
    ]
    if "kpsewhich" in missing:
        return missing
    names = [f"{name}.sty" for name in PAPER_STY]
    try:
        found = subprocess.run(
            ["kpsewhich", *names], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return names
    return missing + [name for name in names if f"/{name}" not in found]


def paper_in_default_target():
    """config paper.build: true/false as given; auto = LaTeX is installed (else say, once, what is missing)."""
    setting = config["paper"].get("build", "auto")
    if setting != "auto":
        return setting in (True, "true")
    missing = missing_latex()
    if missing and workflow.is_main_process:
        logger.warning(
            f"paper.build is auto and this machine lacks {', '.join(missing)}: the default target builds every "
            "figure and generated table but not results/paper.pdf. "
            + PAPER_INSTALL_HINT
        )
    return not missing


def paper_tex_path(path):
    """A file of paper/ (the LaTeX sources live in the repository, not the working directory)."""
    return repo_path(f"paper/{path}")


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
        configfiles=[repo_relative(path) for path in workflow.configfiles],
        benchmarks_dir="results/benchmarks",
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
        # what main.tex's \resultsdir becomes: this working directory's results/, seen from paper/
        results_dir=os.path.relpath(
            Path("results").resolve(), (REPO / "paper").resolve()
        ),
        max_overfull_pt=config["paper"]["max_overfull_pt"],
    script:
        "../scripts/build_paper.py"
