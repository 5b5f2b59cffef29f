"""Apply each bug that once passed the whole unit suite (issue 20) to a copy of src/ and show the test that fails.

    .venv/bin/python tests/mutation/known_bugs.py        # exit 0 when every bug is caught

Each bug is one textual edit of a file in src/effdl (the engine, the seed's moving average); the listed tests
run against the edited copy (one torch thread) and must fail. Runs in about a minute; not part of CI (the mutation
run in docs/testing.md covers more).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
KA = "tests/test_engine_known_answers.py"

# (name, file, original text, mutated text, tests that must fail)
BUGS = [
    (
        "evaluate: argmax -> argmin",
        "src/effdl/engine.py",
        "    for x, y in iterate_batches(dataset, batch_size, mean=mean, std=std, channels_last=channels_last):\n"
        "        with autocast(precision, device):\n            out = model(x)\n"
        '        loss_sum += nn.functional.cross_entropy(out.float(), y, reduction="sum")\n'
        "        correct += (out.argmax(1) == y).sum()",
        "    for x, y in iterate_batches(dataset, batch_size, mean=mean, std=std, channels_last=channels_last):\n"
        "        with autocast(precision, device):\n            out = model(x)\n"
        '        loss_sum += nn.functional.cross_entropy(out.float(), y, reduction="sum")\n'
        "        correct += (out.argmin(1) == y).sum()",
        [
            f"{KA}::test_one_hot_logits_on_the_labels_give_100_percent_and_the_closed_form_loss",
            f"{KA}::test_constant_logits_give_the_majority_class_share",
        ],
    ),
    (
        "evaluate: accuracy halved",
        "src/effdl/engine.py",
        "100.0 * correct.item() / n",
        "50.0 * correct.item() / n",
        [
            f"{KA}::test_one_hot_logits_on_the_labels_give_100_percent_and_the_closed_form_loss",
            f"{KA}::test_constant_logits_give_the_majority_class_share",
        ],
    ),
    (
        "train: no stop after divergence",
        "src/effdl/engine.py",
        'stopping this run")\n            break\n',
        'stopping this run")\n',
        [
            f"{KA}::test_divergence_stops_the_run_at_the_first_non_finite_epoch",
            f"{KA}::test_divergence_at_a_huge_lr_stops_after_the_epoch_of_the_first_non_finite_loss",
            "tests/test_engine.py::test_divergence_is_recorded_not_raised",
        ],
    ),
    (
        "moving_average: nothing for a series exactly one window long",
        "src/effdl/smoothing.py",
        "if len(a) < n:",
        "if len(a) <= n:",
        [
            f"{KA}::test_moving_average_of_exactly_one_window_is_one_point_as_the_seed",
            "tests/test_engine.py::test_moving_average_equals_the_seed",
        ],
    ),
]


def run_tests(src: Path, tests: list[str]) -> dict[str, bool]:
    """test id -> passed, each run on its own against the package in `src`."""
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1", "EFFDL_TEST_THREADS": "1"}
    outcome = {}
    for test in tests:
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", test],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
        )
        outcome[test] = proc.returncode == 0
    return outcome


def main() -> int:
    all_caught = True
    with tempfile.TemporaryDirectory(prefix="effdl-bugs-") as tmp:
        for name, file, original, mutated, tests in BUGS:
            src = Path(tmp) / "src"
            shutil.rmtree(src, ignore_errors=True)
            shutil.copytree(REPO / "src", src)
            target = Path(tmp) / file
            text = target.read_text()
            if text.count(original) != 1:
                print(f"[stale] {name}: the original text is not in {file} exactly once; update BUGS")
                all_caught = False
                continue
            target.write_text(text.replace(original, mutated))
            outcome = run_tests(src, tests)
            caught = [t for t, passed in outcome.items() if not passed]
            all_caught &= len(caught) == len(tests)
            print(f"[{'caught' if len(caught) == len(tests) else 'MISSED'}] {name}")
            for test, passed in outcome.items():
                print(f"    {'passes (bad)' if passed else 'fails'}: {test}")
        clean = run_tests(REPO / "src", sorted({t for bug in BUGS for t in bug[4]}))
        broken = [t for t, passed in clean.items() if not passed]
        print("unmutated source: " + ("every listed test passes" if not broken else f"FAILING {broken}"))
    return 0 if all_caught and not broken else 1


if __name__ == "__main__":
    sys.exit(main())
