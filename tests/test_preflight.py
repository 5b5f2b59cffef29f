"""Pre-flight checks (torch-free, before any job): YAML syntax, --config types, device, TeX strings, data sources."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from effdl.plan import lastgood, preflight
from effdl.plan.config import load_schema
from effdl.plan.preflight import (
    coerce_cli_values,
    host_device_problem,
    known_classes,
    path_problems,
    source_problem,
    tex_problems,
    yaml_problem,
)
from effdl.report.latex import build_pdf, check_log
from effdl.report.texgen import escape

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def test_yaml_syntax_error_names_file_line_and_column(tmp_path):
    bad = tmp_path / "overlay.yaml"
    bad.write_text("device: cpu\nseeds: [43, 44\nengine:\n  batch_size: 32\n")
    message = yaml_problem(bad)
    assert message.startswith(f"config file {bad}, line 3, column 7: YAML syntax error"), message
    assert "Fix:" in message
    assert yaml_problem(REPO / "config" / "smoke.yaml") is None
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    assert "holds a list, not a mapping" in yaml_problem(tmp_path / "list.yaml")


def test_preflight_cli_reports_broken_files(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1\n")
    assert preflight.main([str(REPO / "config" / "config.yaml"), str(bad)]) == 1
    assert f"config file {bad}, line 2" in capsys.readouterr().err


def test_cli_strings_get_the_schema_types_only_where_given_on_the_command_line():
    schema = load_schema(SCHEMA)
    config = {
        "seeds": ["43", "44"],
        "engine": {"batch_size": "64", "compile": "false"},
        "device": "cpu",
        "quant": {"convnet": {"checkpoints": "null"}},
        "paper": {"label": "123"},
    }
    cli = {
        "seeds": ["43", "44"],
        "engine": {"compile": "false"},
        "quant": {"convnet": {"checkpoints": "null"}},
        "paper": {"label": "123"},
    }
    coerce_cli_values(config, cli, schema)
    assert config["seeds"] == [43, 44]
    assert config["engine"] == {"batch_size": "64", "compile": False}  # batch_size came from a file: left alone
    assert config["quant"]["convnet"]["checkpoints"] is None
    assert config["paper"]["label"] == "123"  # a string key stays a string
    bad = {"seeds": ["x"]}
    coerce_cli_values(bad, {"seeds": ["x"]}, schema)
    assert bad["seeds"] == ["x"]  # left for the schema check to report


@pytest.fixture
def no_nvidia(monkeypatch, tmp_path):
    monkeypatch.setattr(preflight, "NVIDIA_PROC", tmp_path / "no-nvidia")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(preflight.sys, "platform", "linux")


def test_cuda_on_a_host_without_the_driver_is_refused(no_nvidia):
    message = host_device_problem("cuda")
    assert "config key 'device' is 'cuda', but this host has no NVIDIA driver" in message and "Fix:" in message
    assert host_device_problem("cpu") is None and host_device_problem("auto") is None
    assert "runs linux" in host_device_problem("mps")


def test_missing_gpu_index_and_hidden_gpus_are_refused(monkeypatch, tmp_path):
    (tmp_path / "nvidia" / "gpus" / "0000:01:00.0").mkdir(parents=True)
    monkeypatch.setattr(preflight, "NVIDIA_PROC", tmp_path / "nvidia")
    assert host_device_problem("cuda:0", environ={}) is None
    assert "has 1 NVIDIA GPU(s) (cuda:0..cuda:0)" in host_device_problem("cuda:3", environ={})
    assert "hides every GPU" in host_device_problem("cuda", environ={"CUDA_VISIBLE_DEVICES": ""})


def test_untypesettable_strings_are_refused_naming_the_key():
    config = {"paper": {"label": "smoke \u2603 build"}, "datasets": {"mnist": {"path": "data/\u6570\u636e.tar.gz"}}}
    problems = tex_problems(config, ["config/smoke.yaml"])
    assert len(problems) == 2
    assert problems[0].startswith("config key 'paper.label' holds character(s) \u2603 (U+2603)")
    assert "config key 'datasets.mnist.path'" in problems[1] and all("Fix:" in p for p in problems)
    assert tex_problems({"paper": {"label": "n \u2265 2 \u2014 done \u2713, caf\u00e9"}}) == []


def test_mapped_unicode_typesets_with_pdflatex(tmp_path):
    label = "n \u2265 2 \u2014 done \u2713 \u2026 caf\u00e9 \u00b15% \u03bc"
    tex = tmp_path / "main.tex"
    tex.write_text(
        "\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{lmodern}\n"
        f"\\begin{{document}}\n{escape(label)}\n\\end{{document}}\n"
    )
    build_pdf(tex, tmp_path / "build", tmp_path / "out.pdf", max_overfull_pt=30)
    assert (tmp_path / "out.pdf").stat().st_size > 0


def test_latex_errors_name_file_line_and_message(tmp_path):
    (tmp_path / "sections").mkdir()
    (tmp_path / "sections" / "part2.tex").write_text("fine\nvalue \\NoSuchMacro here\n")
    tex = tmp_path / "main.tex"
    tex.write_text("\\documentclass{article}\n\\begin{document}\n\\input{sections/part2}\n\\end{document}\n")
    with pytest.raises(
        Exception,
        match=r"sections/part2\.tex, line 2: Undefined control sequence\. "
        r"\(at l\.2 value \\NoSuchMacro\)",
    ):
        build_pdf(tex, tmp_path / "build", tmp_path / "out.pdf", max_overfull_pt=30)
    log = "./main.tex:18: LaTeX Error: File `x.sty' not found.\n\nl.18 \\usepackage{x}\n"
    assert check_log(log, 30) == ["main.tex, line 18: LaTeX Error: File `x.sty' not found. (at l.18 \\usepackage{x})"]


def test_empty_or_broken_data_sources_are_refused_before_any_job(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    message = source_problem("mnist", {"source": "imagefolder", "path": str(empty)})
    assert f"datasets.mnist.path = '{empty}' has no train/<class>/ directories" in message and "Fix:" in message
    (empty / "train" / "0").mkdir(parents=True)
    (empty / "test" / "0").mkdir(parents=True)
    assert "has no images under" in source_problem("mnist", {"source": "imagefolder", "path": str(empty)})
    not_tar = tmp_path / "data.tar.gz"
    not_tar.write_bytes(b"<html>404</html>")
    assert "is not a readable archive" in source_problem("mnist", {"source": "imagefolder", "path": str(not_tar)})
    (empty / "train" / "0" / "1.png").write_bytes(b"x")
    (empty / "test" / "0" / "1.png").write_bytes(b"x")
    assert source_problem("mnist", {"source": "imagefolder", "path": str(empty)}) is None
    good = tmp_path / "good.tar.gz"
    with tarfile.open(good, "w:gz") as archive:
        archive.add(empty, arcname="d")
    assert source_problem("mnist", {"source": "imagefolder", "path": str(good)}) is None
    assert known_classes("mnist", {"source": "imagefolder", "path": str(empty)}) == 1
    assert known_classes("cinic10", {"source": "download"}) == 10


def test_last_good_outputs_come_back_only_after_a_failed_rebuild_of_the_same_job(tmp_path):
    outputs = [tmp_path / "run" / name for name in ("a.csv", "model.pt")]
    outputs[0].parent.mkdir()
    for i, path in enumerate(outputs):
        path.write_text(f"finished {i}")
    store = tmp_path / "run" / ".last-good"
    lastgood.save(outputs, {"lr": 0.1}, store)
    for path in outputs:  # Snakemake deletes the outputs before re-running the job
        path.unlink()
    assert not lastgood.restore(outputs, {"lr": 0.1}, store), "no failed rebuild yet: deleted on purpose"
    assert lastgood.mark_failed(store, "RuntimeError: boom")
    assert not lastgood.restore(outputs, {"lr": 0.2}, store), "another job is asked for: nothing comes back"
    assert lastgood.restore(outputs, {"lr": 0.1}, store)
    assert [p.read_text() for p in outputs] == ["finished 0", "finished 1"]
    assert not (store / lastgood.FAILED_FILE).exists()


def test_a_missing_weights_file_is_refused_before_any_job(tmp_path):
    missing = tmp_path / "resnet18.pth"
    (problem,) = path_problems({"finetune": {"weights_path": str(missing)}})
    assert problem.startswith(f"config key 'finetune.weights_path' = '{missing}' does not exist. Fix:")
    missing.write_bytes(b"weights")
    assert path_problems({"finetune": {"weights_path": str(missing)}}) == []
    assert path_problems({"finetune": {"weights_path": None}}) == []
