"""Benchmark the image generators on Fashion-MNIST, side by side, in one run.

    .venv/bin/python bench/images.py                      # full: each pipelines/fashion_mnist_<kind>.yaml as written
                                                          # (a GPU job)
    .venv/bin/python bench/images.py --quick              # 2,000 training images, small networks, 1-2 epochs:
                                                          # does it run?
    .venv/bin/python bench/images.py --generators ddpm    # one generator
    .venv/bin/python bench/images.py --data /path/to/fashion-mnist   # the folder with the four original .gz IDX files
    .venv/bin/python bench/images.py --generators dcgan conv_vae --set source.max_images=10000 --set generator.epochs=5
                                                          # sized down for a CPU: images_custom.*, overrides stated

Per generator, with the hyperparameters of `pipelines/fashion_mnist_<kind>.yaml`
(the spec's own split: 54,000 training and 6,000 holdout images; the
10,000 real test images for TSTR):

- fit seconds (everything `fit` does) and epochs;
- images per second when sampling as many images as there are training images;
- the image gate's figures, computed by `validation.images.run_image_gate`,
  the code the pipeline gates with: Fréchet distance in the judge CNN's
  feature space (**not Inception-FID**) beside its real-vs-real floor; TSTR
  accuracy (the judge's CNN trained on synthetic images, tested on the real
  test set) beside the real ceiling (the same CNN trained on as many real
  training images) and their ratio; label faithfulness; near-copy rate; and
  whether the spec's gate passes.

Peers in the same run: TSTR / real ceiling per generator, and each
generator's sampling speed relative to the DDPM's. The device (GPU name or
CPU model) is recorded. Writes bench/results/images.json and images.md
(`--quick`: images_quick.*; a quick run is a smoke test, not a result).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from bench.tabular import _cpu_name  # noqa: E402

KINDS = ("ddpm", "dcgan", "conv_vae")
SPEC_FILE = {
    "ddpm": "fashion_mnist_ddpm.yaml", "dcgan": "fashion_mnist_dcgan.yaml", "conv_vae": "fashion_mnist_vae.yaml",
}
# --quick: a smoke run on a CPU in a few minutes; small networks, so its figures say nothing about the full ones
QUICK_COMMON = ["source.max_images=2000", "validation.judge_epochs=10", "validation.max_images_scored=2000"]
QUICK = {
    "ddpm": ["generator.epochs=1", "generator.batch_size=64", "generator.block_out_channels=[32,64,64]",
             "generator.norm_num_groups=8", "generator.layers_per_block=1", "generator.sampling_steps=5"],
    "dcgan": ["generator.epochs=2", "generator.batch_size=64", "generator.width=16"],
    "conv_vae": ["generator.epochs=2", "generator.batch_size=64", "generator.width=16"],
}


def default_data() -> Path:
    shared = ROOT.parent / "shared" / "data" / "fashion-mnist"
    return shared if shared.is_dir() else ROOT / "data" / "fashion-mnist"


def spec_for(kind: str, data: Path, quick: bool, overrides: list[str] = ()):
    from synth.spec import load_spec

    paths = [f"source.path={data / 'train-images-idx3-ubyte.gz'}",
             f"source.labels_path={data / 'train-labels-idx1-ubyte.gz'}",
             f"source.test_path={data / 't10k-images-idx3-ubyte.gz'}",
             f"source.test_labels_path={data / 't10k-labels-idx1-ubyte.gz'}"]
    quick_overrides = QUICK_COMMON + QUICK[kind] if quick else []
    return load_spec(ROOT / "pipelines" / SPEC_FILE[kind], paths + quick_overrides + list(overrides))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generators", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--data", type=Path, default=default_data(),
                        help="folder with the four Fashion-MNIST .gz IDX files")
    parser.add_argument("--quick", action="store_true", help="2,000 images, small networks, 1-2 epochs: a smoke run")
    parser.add_argument("--sample-images", type=int, default=None,
                        help="images sampled (timed and judged); "
                             "default: as many as training images (500 with --quick)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override every generator's spec, "
                             "e.g. --set source.max_images=10000 --set generator.epochs=5 "
                             "(a sized-down run: results go to images_custom.*, with the overrides stated)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()

    import torch

    from synth.images.sources import load_source, split_holdout
    from synth.models import build_generator
    from synth.settings import resolve_device
    from validation.images import run_image_gate

    device = resolve_device(args.device)
    if not (args.data / "train-images-idx3-ubyte.gz").is_file():
        sys.exit(f"{args.data}: no train-images-idx3-ubyte.gz; "
                 "pass --data with the folder of the four Fashion-MNIST .gz files")
    results = {
        "settings": {"quick": args.quick, "device": device, "data": str(args.data), "generators": args.generators,
                     "overrides": args.overrides},
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "python": platform.python_version(), "torch": torch.__version__,
                    "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None,
                    "cpu": _cpu_name()},
        "models": {},
    }
    for kind in args.generators:
        spec = spec_for(kind, args.data, args.quick, args.overrides)
        loaded = load_source(spec.source, spec.seed)
        train, holdout = split_holdout(loaded.images, spec.holdout_fraction, spec.seed)
        n_sample = args.sample_images or (500 if args.quick else len(train))
        print(f"{kind}: fitting on {len(train):,} images ({spec.generator.hyperparameters()}) ...", flush=True)
        model = build_generator(kind, spec.generator.hyperparameters(), device=device, seed=spec.seed)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        _sync(device)
        started = time.perf_counter()
        model.fit(train)
        _sync(device)
        fit_seconds = time.perf_counter() - started
        started = time.perf_counter()
        synthetic = model.sample(n_sample, seed=spec.seed + 1)
        _sync(device)
        sample_seconds = time.perf_counter() - started
        print(f"  fit {fit_seconds:.1f} s; sampled {n_sample:,} images in {sample_seconds:.1f} s; judging ...",
              flush=True)
        report = run_image_gate(train, holdout, synthetic, loaded.test, class_names=train.class_names, seed=spec.seed,
                                **spec.validation.model_dump())
        checks = {c.name: c for c in report.checks}
        row = {
            "hyperparameters": spec.generator.hyperparameters(),
            "train_images": len(train),
            "fit_seconds": round(fit_seconds, 1),
            "epochs": spec.generator.epochs,
            "sampled_images": n_sample,
            "sample_seconds": round(sample_seconds, 2),
            "images_per_second": round(n_sample / sample_seconds, 1),
            "peak_gpu_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None,
            "frechet_distance": checks["frechet_distance"].value,
            "frechet_floor": checks["frechet_floor"].value,
            "tstr_accuracy": checks["tstr_accuracy"].value,
            "real_ceiling_accuracy": checks["trtr_accuracy"].value,
            "tstr_ratio": checks["tstr_ratio"].value,
            "label_faithfulness": checks["label_faithfulness"].value,
            "near_copy_rate": checks["near_copy_rate"].value,
            "closer_to_training": checks["closer_to_training"].value,
            "gate_passed": report.passed,
            "gate_failed": [c.name for c in report.failed],
            "images_scored": report.details.get("images_scored"),
            "gate_seconds": round(report.seconds, 1),
        }
        results["models"][kind] = row
        print(f"  {row}", flush=True)
        write(results, args)  # after every generator, so a run cut short keeps what it measured
    print(render(results))


def write(results: dict, args: argparse.Namespace) -> None:
    models = results["models"]
    if "ddpm" in models:
        for row in models.values():
            row["sampling_speed_vs_ddpm"] = round(row["images_per_second"] / models["ddpm"]["images_per_second"], 2)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "images_quick" if args.quick else ("images_custom" if args.overrides else "images")
    (args.out / f"{stem}.json").write_text(json.dumps(results, indent=2))
    (args.out / f"{stem}.md").write_text(render(results))


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def render(results: dict) -> str:
    s, m = results["settings"], results["machine"]
    where = (f"GPU {m['gpu']}" if m["gpu"]
             else f"CPU only: {m['cpu_count']} cores ({m.get('cpu', '?')}), {m['torch_threads']} torch threads")
    lines = [
        "## Image generators on Fashion-MNIST"
        + (" (QUICK smoke run: small networks, 2,000 images; not a result)" if s["quick"] else ""),
        "",
        f"Device: {where}; torch {m['torch']}. Hyperparameters: pipelines/fashion_mnist_*.yaml"
        + (" with the --quick overrides in bench/images.py" if s["quick"] else "")
        + (f" with {' '.join('--set ' + o for o in s['overrides'])} (a sized-down run, not the specs as written)"
           if s.get("overrides") else "") + ".",
        "Fréchet distance: in the judge CNN's standardised feature space "
        "(not Inception-FID; the floor is two halves of the "
        "real test images). TSTR: the judge's CNN trained on synthetic images, accuracy on real test images; the real "
        "ceiling is the same CNN trained on as many real training images.",
        "",
        "| generator | train images | epochs | fit s | images/s sampling | vs DDPM | Fréchet (floor) "
        "| TSTR acc | real ceiling | TSTR/real | faithfulness | near-copies | gate |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, r in results["models"].items():
        lines.append(
            f"| {kind} | {r['train_images']:,} | {r['epochs']} | {r['fit_seconds']} | {r['images_per_second']:,} | "
            f"{r.get('sampling_speed_vs_ddpm', '–')} | {r['frechet_distance']} ({r['frechet_floor']}) | "
            f"{r['tstr_accuracy']:.3f} | {r['real_ceiling_accuracy']:.3f} | {r['tstr_ratio']:.3f} | "
            f"{r['label_faithfulness']:.3f} | {r['near_copy_rate']:.3f} | "
            f"{'passed' if r['gate_passed'] else 'failed: ' + ', '.join(r['gate_failed'])} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
