"""Snakemake adapter for rule download_cinic10: fetch the official CINIC-10 archive and check its layout."""

from effdl.archives import check_imagefolder_archive, fetch_archive
from effdl.runlog import open_log

snakemake = snakemake  # noqa: F821 (injected by Snakemake)
log = open_log(snakemake.log[0])


def main(url: str, sha256: str | None, out_path: str) -> None:
    log(f"downloading {url} -> {out_path}")
    digest = fetch_archive(url, out_path, sha256)
    counts = check_imagefolder_archive(out_path)
    log(f"sha256 {digest}; images per split: " + ", ".join(f"{s} {sum(c.values())}" for s, c in counts.items()))


main(snakemake.params.url, snakemake.params.sha256, snakemake.output[0])
