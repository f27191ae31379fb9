"""bench/gpu.py, the GPU readiness timings: its quick CPU run measures every part, so the script cannot rot between
the rare runs on a GPU; and asked for CUDA where there is none, it stops with one clear line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from bench import gpu
from tests.conftest import ROOT


@pytest.mark.slow  # about 25 s on 2 cores: every part trains, tiny
def test_a_quick_cpu_run_times_every_part_and_names_the_device(tmp_path):
    threads = torch.get_num_threads()
    try:
        gpu.main(["--device", "cpu", "--quick", "--out", str(tmp_path)])
    finally:
        torch.set_num_threads(threads)  # --quick trains on 1 thread; the tests after this one keep torch's choice

    results = json.loads((tmp_path / "gpu_quick.json").read_text())
    assert "errors" not in results
    assert results["machine"]["device_name"] and results["machine"]["device_name"] == results["machine"]["cpu"]
    assert results["settings"]["device"] == "cpu" and results["settings"]["quick"] is True
    for kind in ("ctgan", "tvae"):
        rows = results["tabular"][kind]
        for model in ("ours_fp32", "ours_bf16", "sdv_fp32"):
            assert rows[model]["fit_seconds"] > 0 and rows[model]["train_seconds_per_epoch"] > 0, (kind, model)
        assert set(rows["ratios"]) == {"ours_fp32_over_sdv_fp32", "ours_bf16_over_sdv_fp32", "ours_bf16_over_ours_fp32"}
        assert all(r > 0 for r in rows["ratios"].values())
    tab = results["tab_ddpm"]
    assert tab["fit_seconds"] > 0 and tab["train_ms_per_step"] > 0 and tab["sample_seconds"] > 0
    assert tab["steps_run"] >= tab["steps"]
    ddpm = results["ddpm"]
    assert ddpm["fit_seconds"] > 0 and ddpm["sample_seconds"] > 0 and ddpm["images_per_second"] > 0
    assert ddpm["sample_images"] == gpu.QUICK.sample_images

    markdown = (tmp_path / "gpu_quick.md").read_text()
    assert results["machine"]["device_name"] in markdown and "QUICK" in markdown
    assert "CTGAN SDV" in markdown and "TabDDPM" in markdown and "DDPM" in markdown
    assert not (tmp_path / "gpu.json").exists()  # a quick run never writes the real result files


def test_cuda_without_a_gpu_stops_with_one_clear_line(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py"), "--device", "cuda",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]  # one line, no traceback
    assert "no CUDA GPU" in done.stderr and "--device cpu --quick" in done.stderr
    assert not list(tmp_path.iterdir())
