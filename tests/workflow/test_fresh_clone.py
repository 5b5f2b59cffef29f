"""A fresh clone, with no ../shared/ beside it and no network, plans the smoke DAG and trains one run from .test/.

The copy holds the repository's tracked files (and untracked files git does not ignore, so uncommitted new files
count), made a git repository as a clone is, in a temporary folder with nothing beside it. Snakemake runs the
copy's own code (PYTHONPATH=<copy>/src) with the network blocked twice over:
  * a sitecustomize.py on PYTHONPATH makes every Internet socket's connect (and name lookup) raise, in Snakemake
    and in every job's Python process (they inherit PYTHONPATH); this works for any user;
  * where the kernel allows it (root, or unprivileged user namespaces), the run also goes through
    `unshare --net` (with --map-root-user when not root): a network namespace with no interface but a
    down loopback, so nothing, Python or not, reaches a network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap

import pandas as pd
import pytest
from helpers import BIN, copy_repo

# The smoke config's cheapest training run (found with `snakemake -n` per run: a sparse ConvNet, 1 epoch on
# 320 CIFAR-10 images); it needs only prepare_data(cifar10) before it.
RUN = "results/runs/part3/sanity_seed43"
SMOKE = ("--configfile", "config/smoke.yaml")
BLOCKED = "network blocked by tests/workflow/test_fresh_clone.py"

SITECUSTOMIZE = textwrap.dedent(
    f'''\
    """Block the network in every Python process of the fresh-clone test: Internet sockets cannot connect."""
    import socket

    def _refuse(*args, **kwargs):
        raise OSError({BLOCKED!r})

    _connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex

    def _local_only(method):
        def guarded(self, address, *args):
            if self.family in (socket.AF_INET, socket.AF_INET6):
                _refuse()
            return method(self, address, *args)
        return guarded

    socket.socket.connect = _local_only(_connect)
    socket.socket.connect_ex = _local_only(_connect_ex)
    socket.getaddrinfo = socket.create_connection = _refuse
    '''
)


def unshare_prefix() -> list[str]:
    """`unshare --net` (mapping the user to root when not root) if this kernel lets us create the namespace."""
    if shutil.which("unshare") is None:
        return []
    for prefix in (["unshare", "--net"], ["unshare", "--net", "--map-root-user"]):
        if subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
            return prefix
    return []


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """(copy of the repository, environment, command prefix); nothing but the copy in its parent folder."""
    if shutil.which("git") is None:
        pytest.skip("git is needed to list the repository's files")
    parent = tmp_path_factory.mktemp("fresh")
    root = copy_repo(parent / "effdl")
    assert sorted(p.name for p in parent.iterdir()) == ["effdl"] and not (parent / "shared").exists()
    git = ["git", "-C", str(root), "-c", "user.name=Fresh Clone", "-c", "user.email=clone@example.org"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "fresh clone"]):
        subprocess.run([*git, *args], check=True, capture_output=True)
    block = parent / "netblock"
    block.mkdir()
    (block / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {
        **os.environ,
        "PYTHONPATH": f"{root / 'src'}{os.pathsep}{block}",
        "HOME": str(parent / "home"),  # no weights or caches from this machine's home
        "TORCH_HOME": str(parent / "home" / "torch"),
    }
    return root, env, unshare_prefix()


def run_in(clone, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    root, env, prefix = clone
    return subprocess.run(
        [*prefix, str(BIN / "snakemake"), *args], cwd=root, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_the_network_is_blocked(clone):
    """Both blocks hold: a connection attempt from the test's environment fails (with our message without unshare)."""
    root, env, prefix = clone
    probe = "import socket; socket.socket().connect(('192.0.2.1', 80))"  # TEST-NET-1: never routed anywhere
    result = subprocess.run(
        [*prefix, str(BIN / "python"), "-c", probe], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0 and BLOCKED in result.stderr, result.stderr[-2000:]
    print(f"network blocked by sitecustomize.py{' and ' + ' '.join(prefix) if prefix else ' (unshare not allowed)'}")


def test_the_smoke_dry_run_plans_from_the_test_data(clone):
    result = run_in(clone, "-n", *SMOKE, timeout=300)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-5000:]
    assert "does not exist" not in out and "../shared" not in out
    for name in ("cifar10-jpeg.tar.gz", "mnist-png.tar.gz", "cifar10-stand-in.tar.gz"):
        assert f"input: .test/{name}\n" in out, f"no prepare_data job reads .test/{name}"
    assert "This was a dry-run" in out


@pytest.mark.slow
def test_one_training_run_trains_from_the_test_data(clone):
    root = clone[0]
    result = run_in(clone, "--cores", "2", "--resources", "gpu=1", *SMOKE, "--", f"{RUN}/summary.csv")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-5000:]
    for name in ("iters.csv", "epochs.csv", "summary.csv", "model.pt"):
        assert (root / RUN / name).stat().st_size > 0, name
    summary = pd.read_csv(root / RUN / "summary.csv")
    assert len(summary) == 1 and summary["data_source"].iloc[0] == "imagefolder:.test/cifar10-jpeg.tar.gz"
    meta = json.loads((root / "results/data/cifar10.meta.json").read_text())
    recorded = (root / ".test" / "SHA256SUMS").read_text()
    assert meta["sha256"] in recorded and meta["counts"] == {"train": [32] * 10, "test": [32] * 10}
