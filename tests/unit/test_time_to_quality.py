"""bench/time_to_quality.py's arithmetic: which rung first reaches the reference's level, and its time ratio."""

from __future__ import annotations

from bench.time_to_quality import LADDERS, REFERENCE, render, summarise


def cell(model, budget, tstr, detection, seconds):
    return {"model": model, "budget": budget, "tstr": tstr, "detection_auc": detection, "fit_seconds": seconds,
            "sample_seconds": 1.0, "trtr": 0.93, "c2st": 0.5, "column_shapes": 0.9, "pair_trends": 0.9,
            "dcr_share": 0.5, "membership_auc": 0.5}


CELLS = [
    cell("sdv_tvae", 100, 0.86, 0.99, 70.0), cell("sdv_tvae", 300, 0.88, 0.97, 200.0),
    # reaches the TSTR at 500 steps but not the detection; both at 1,000
    cell("ours_tab_ddpm", 500, 0.89, 0.98, 40.0), cell("ours_tab_ddpm", 1000, 0.90, 0.90, 80.0),
    cell("ours_tab_ddpm", 2000, 0.91, 0.80, 160.0),
    cell("ours_tvae", 300, 0.87, 0.80, 150.0),  # never reaches the TSTR
    {"model": "ours_ctgan", "budget": 25, "error": "RuntimeError: boom"},
]


def test_the_first_rung_at_both_levels_and_its_ratio_to_the_reference():
    summary = summarise(CELLS, REFERENCE)
    assert REFERENCE == ("sdv_tvae", 300)
    assert summary["level"] == {"tstr": 0.88, "detection_auc": 0.97, "fit_seconds": 200.0}
    models = summary["models"]
    assert models["ours_tab_ddpm"] == {"reached_at": 1000, "seconds": 80.0, "ratio": 0.4}
    assert models["sdv_tvae"]["reached_at"] == 300 and models["sdv_tvae"]["ratio"] == 1.0
    assert models["ours_tvae"]["reached_at"] is None and models["ours_ctgan"]["reached_at"] is None


def test_without_the_reference_there_is_no_level_and_the_table_still_renders():
    assert summarise([c for c in CELLS if c["model"] != "sdv_tvae"], REFERENCE) == {}
    results = {"settings": {"train_rows": 100, "test_rows": 50, "ladders": LADDERS, "reference": list(REFERENCE)},
               "machine": {"torch_threads": 1, "cpu_count": 2}, "cells": CELLS,
               "summary": summarise(CELLS, REFERENCE)}
    text = render(results)
    assert "| ours_tab_ddpm | 1,000 steps | 80 | **0.400** |" in text
    assert "| ours_tvae | not within its ladder | – | – |" in text and "failed: RuntimeError: boom" in text
