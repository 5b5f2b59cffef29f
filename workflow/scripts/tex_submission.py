"""Snakemake adapter for rule tex_submission: the title page's team macros and the code appendix."""

import json

from effdl.io import write_text
from effdl.report.submission import check_seed_results, code_appendix_tex, team_macros
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(seed_json: str, team: list[dict], out_team: str, out_appendix: str) -> None:
    results = json.loads(open(seed_json, encoding="utf-8").read())["tests"]
    check_seed_results(results)
    write_text(team_macros(team), out_team)
    write_text(code_appendix_tex(results), out_appendix)
    log(f"wrote {out_team} ({len(team)} members) and {out_appendix} ({len(results)} seed tests)")


main(
    snakemake.input.seed_tests,
    [dict(m) for m in snakemake.params.team],
    snakemake.output.team,
    snakemake.output.appendix,
)
