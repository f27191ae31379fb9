"""Benchmark what a training checkpoint costs (synth.models.checkpoint): size on disk, write and resume time.

    .venv/bin/python bench/checkpoint.py                  # the demo's TVAE and the bundled CTGAN on Adult,
                                                          # DDPM on digits
    .venv/bin/python bench/checkpoint.py --out /tmp/ckpt  # results elsewhere

Each generator is built with the hyperparameters of its bundled spec and
trained for one epoch with a checkpoint after it (the write is timed by the
checkpoint itself, fsync included); then a second fit resumes from it (the
rebuild before the first epoch, then the load). Writes
bench/results/checkpoint.json and bench/results/checkpoint.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

CASES = {  # name: (spec, overrides)
    "tvae (demo, Adult)": ("pipelines/adult_tvae.yaml", {}),
    "ctgan (Adult)": ("pipelines/adult_ctgan.yaml", {}),
    "ddpm (digits 8×8, default UNet)": (None, {}),
}


def _data(spec_path: str | None):
    from synth.spec import load_spec, spec_from_dict

    if spec_path is None:
        from synth.images.sources import check_image_spec, split_holdout

        spec = spec_from_dict({"name": "digits", "source": {"format": "sklearn_digits", "max_images": 256},
                               "generator": {"kind": "ddpm", "batch_size": 64}})
        train, _ = split_holdout(check_image_spec(spec).images, spec.holdout_fraction, spec.seed)
        return spec, train
    from synth.data import load_table, split_holdout

    spec = load_spec(ROOT / spec_path)
    train, _ = split_holdout(load_table(spec.source), spec.holdout_fraction, spec.seed)
    return spec, train


def measure(name: str, spec_path: str | None) -> dict:
    from synth.models import build_generator
    from synth.models.checkpoint import TrainingCheckpoint, latest

    spec, train = _data(spec_path)
    hyper = {**spec.generator.hyperparameters(), "epochs": 1}
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = TrainingCheckpoint(folder, {"bench": name}, every_minutes=0)
        started = time.perf_counter()
        (build_generator(spec.generator.kind, hyper, device="cpu", seed=0, verbose=False)
         .fit(train, checkpoint=checkpoint))
        epoch_seconds = time.perf_counter() - started - sum(checkpoint.write_seconds)
        size = sum(p.stat().st_size for p in latest(folder).iterdir())
        # resume with epochs=1: rebuild, load the checkpoint, no epoch left to train
        resumed = TrainingCheckpoint(folder, {"bench": name}, resume=True)
        started = time.perf_counter()
        (build_generator(spec.generator.kind, hyper, device="cpu", seed=0, verbose=False)
         .fit(train, checkpoint=resumed))
        resume_seconds = time.perf_counter() - started
    return {"generator": name, "checkpoint_mb": round(size / 1e6, 2),
            "write_seconds": round(checkpoint.write_seconds[0], 3),
            "fit_one_epoch_seconds": round(epoch_seconds, 2), "resume_seconds": round(resume_seconds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    import torch

    rows = [measure(name, spec) for name, (spec, _) in CASES.items()]
    result = {"measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu_threads": torch.get_num_threads(),
              "machine": platform.platform(), "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "checkpoint.json").write_text(json.dumps(result, indent=2))
    lines = [f"# Training checkpoint cost ({result['measured_at']}, {result['cpu_threads']} CPU threads)", "",
             "| generator | checkpoint MB | write s (fsync included) | fit of 1 epoch, encoding included, s "
             "| resume (rebuild + load) s |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['generator']} | {r['checkpoint_mb']} | {r['write_seconds']} "
              f"| {r['fit_one_epoch_seconds']} | {r['resume_seconds']} |"
              for r in rows]
    (args.out / "checkpoint.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
