"""GPU readiness (issue 14, item 4): how fast our generators train and sample on one GPU, in one short run.

    bench/gpu.sh                                          # the GPU run: --device cuda under `timeout 480`
    .venv/bin/python bench/gpu.py --device cuda           # the same without the timeout
    .venv/bin/python bench/gpu.py --device cpu --quick    # tiny sizes on the CPU, well under a minute: does it run?
    .venv/bin/python bench/gpu.py --device cuda --parts tab_ddpm ddpm   # some parts only

Timing only: nothing here scores the quality of what the models make (bench/suite.py and bench/tabular.py do).
Three parts, each item written to the results as soon as it is measured, so a run cut short keeps what it has:

1. `tabular`: ours against SDV 2's CTGAN and TVAE on UCI Adult's train split (32,561 rows), the same epochs
   and batch size: per-epoch training seconds, defined as in bench/tabular.py (training seconds = fit seconds −
   transformer seconds, divided by the epochs; ours report `train_seconds_` where they time the loop themselves),
   after a warm-up fit of every model that is not timed. Ours train at fp32 and at bf16 (`precision: "bf16"`);
   SDV has no bf16, so it is timed at fp32 only and the bf16 row is compared with SDV's fp32 and ours' fp32.
2. `tab_ddpm`: our tabular diffusion model on the same rows: fit seconds for a fixed number of optimiser steps
   (its default batch and network), then seconds to sample 100,000 rows.
3. `ddpm`: a short Fashion-MNIST DDPM run with the network of pipelines/fashion_mnist_ddpm.yaml: 1 epoch on
   10,000 images, then 1,000 sampled images (images per second). Without the Fashion-MNIST files (`--data`,
   default as bench/images.py finds them) a quick run uses scikit-learn's digits and a full run skips the part,
   saying why.

Every figure is recorded with the device: the GPU's name (torch.cuda.get_device_name) or the CPU model.
Writes bench/results/gpu.json and gpu.md for a --device cuda run; a CPU run writes gpu_cpu.*, a --quick run
gpu_quick.* (a smoke test, not a result), so neither ever overwrites the GPU's figures. `--out` sets the folder.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
import traceback
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, Python puts bench/ first on the path, where bench/profile.py would shadow the standard
# library's `profile` (torch imports cProfile when training); the repository root is what is needed.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.images import QUICK as IMAGE_QUICK  # noqa: E402
from bench.images import default_data, spec_for  # noqa: E402
from bench.suite import write_json  # noqa: E402
from bench.tabular import SDV, _cpu_name, _sync, adult  # noqa: E402

PARTS = ("tabular", "tab_ddpm", "ddpm")
TABULAR_KINDS = ("ctgan", "tvae")


@dataclass(frozen=True)
class Sizes:
    """How much each part trains and samples: `FULL` is sized for one H200-class GPU in under 8 minutes (an
    estimate until a run on one says otherwise), `QUICK` for a CPU in well under a minute."""

    train_rows: int | None  # Adult training rows (None: all 32,561)
    epochs: int  # CTGAN and TVAE, ours and SDV's
    batch_size: int
    #: Our CTGAN's and TVAE's networks beyond epochs, batch and precision (quick: tiny); SDV's keep their defaults.
    ctgan: dict[str, Any] = field(default_factory=dict)
    tvae: dict[str, Any] = field(default_factory=dict)
    tab_ddpm: dict[str, Any] = field(default_factory=dict)  # steps and, quick, a tiny network
    tab_ddpm_sample_rows: int = 100_000
    images: int = 10_000  # DDPM training images (a class-stratified subset)
    ddpm_epochs: int = 1
    ddpm_overrides: tuple[str, ...] = ()  # over pipelines/fashion_mnist_ddpm.yaml
    sample_images: int = 1_000
    warm_rows: int = 1_000  # of the tabular warm-up fits, never timed


FULL = Sizes(train_rows=None, epochs=5, batch_size=500, tab_ddpm={"steps": 2_000})
QUICK = Sizes(
    train_rows=600, epochs=2, batch_size=100,
    ctgan={"embedding_dim": 16, "generator_dim": [32, 32], "discriminator_dim": [32, 32]},
    tvae={"embedding_dim": 16, "compress_dims": [32, 32], "decompress_dims": [32, 32]},
    tab_ddpm={"steps": 10, "batch_size": 128, "hidden_dims": [32, 32], "sampling_steps": 5},
    tab_ddpm_sample_rows=2_000,
    images=300, ddpm_overrides=tuple(IMAGE_QUICK["ddpm"]), sample_images=50, warm_rows=200,
)


def main(argv: list[str] | None = None) -> None:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--quick", action="store_true",
                        help="tiny row counts, 1-2 epochs or a few steps, tiny networks: a smoke run")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--data", type=Path, default=default_data(),
                        help="folder with the four Fashion-MNIST .gz IDX files")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice; --quick: 1, as its tiny networks gain "
                             "nothing from more, and on a busy machine threads waiting for each other make them "
                             "ten times slower)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="We strongly recommend saving the metadata")  # SDV's, every fit

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        build = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        sys.exit(f"bench/gpu.py: --device cuda but torch sees no CUDA GPU (torch {torch.__version__}, {build}); "
                 "run it on a machine with one, or try --device cpu --quick")
    sizes = QUICK if args.quick else FULL
    threads = args.threads or (1 if args.quick else None)
    if threads:
        torch.set_num_threads(threads)
    gpu = torch.cuda.get_device_name(0) if args.device == "cuda" else None
    results: dict[str, Any] = {
        "settings": {"device": args.device, "quick": args.quick, "parts": args.parts, **asdict(sizes)},
        "machine": {"device_name": gpu or _cpu_name(), "gpu": gpu, "cpu": _cpu_name(), "cpu_count": os.cpu_count(),
                    "torch": torch.__version__, "cuda": torch.version.cuda if gpu else None,
                    "torch_threads": torch.get_num_threads(), "python": platform.python_version()},
    }
    stem = "gpu_quick" if args.quick else ("gpu" if args.device == "cuda" else "gpu_cpu")
    paths = (args.out / f"{stem}.json", args.out / f"{stem}.md")
    print(f"device: {results['machine']['device_name']}; torch {torch.__version__}", flush=True)

    def save() -> None:
        results["wall_seconds"] = round(time.perf_counter() - started, 1)
        write(results, *paths)

    train = adult("train") if {"tabular", "tab_ddpm"} & set(args.parts) else None
    if train is not None and sizes.train_rows:
        train = train.sample(sizes.train_rows, random_state=0).reset_index(drop=True)
    runs = {"tabular": lambda: tabular_part(train, sizes, args.device, results, save),
            "tab_ddpm": lambda: tab_ddpm_part(train, sizes, args.device, results, save),
            "ddpm": lambda: ddpm_part(args.data, sizes, args.quick, args.device, results, save)}
    failed = []
    for part in args.parts:
        try:
            runs[part]()
        except Exception as err:  # one part failing must not cost the others their (GPU) time
            traceback.print_exc()
            failed.append(part)
            results.setdefault("errors", {})[part] = f"{type(err).__name__}: {err}"
    save()
    print(render(results))
    print(f"results: {paths[0]} and {paths[1]}")
    if failed:
        sys.exit(f"bench/gpu.py: {', '.join(failed)} failed (the error is above and in the results' `errors`)")


# -- 1. CTGAN and TVAE, ours against SDV's -----------------------------------------------------------------------
def tabular_model(name: str, kind: str, sizes: Sizes, device: str, epochs: int, batch_size: int):
    """`ours_fp32`, `ours_bf16` or `sdv_fp32` of `kind`, unfitted."""
    from synth.models import build_generator

    if name == "sdv_fp32":
        return SDV(kind, epochs, batch_size, device, seed=0)
    hyper = {**getattr(sizes, kind), "epochs": epochs, "batch_size": batch_size,
             "precision": name.removeprefix("ours_")}
    return build_generator(kind, hyper, device=device, seed=0, verbose=False)


TABULAR_MODELS = ("ours_fp32", "ours_bf16", "sdv_fp32")


def tabular_part(train, sizes: Sizes, device: str, results: dict, save) -> None:
    # Warm-up (as bench/tabular.py): a process's first fit of a model pays one-off costs (thread pools, kernel
    # selection, first allocations) that would land on whichever model runs first; 1 epoch on a few rows first.
    warm = train.sample(min(sizes.warm_rows, len(train)), random_state=1)
    print(f"tabular: warming up {len(TABULAR_KINDS) * len(TABULAR_MODELS)} models ...", flush=True)
    for kind in TABULAR_KINDS:
        for name in TABULAR_MODELS:
            tabular_model(name, kind, sizes, device, 1, min(sizes.batch_size, len(warm))).fit(warm)
    part = results["tabular"] = {}
    for kind in TABULAR_KINDS:
        rows = part[kind] = {}
        for name in TABULAR_MODELS:
            print(f"tabular: {kind} {name}, {sizes.epochs} epochs on {len(train):,} rows ...", flush=True)
            model = tabular_model(name, kind, sizes, device, sizes.epochs, sizes.batch_size)
            fit_seconds, peak = timed(device, lambda model=model: model.fit(train))
            train_seconds = getattr(model, "train_seconds_", None)
            if train_seconds is None:  # the model does not time its loop: the rest of fit is training
                train_seconds = fit_seconds - model.transform_seconds_
            rows[name] = {
                "fit_seconds": round(fit_seconds, 3),
                "transformer_seconds": round(model.transform_seconds_, 3),
                "train_seconds": round(train_seconds, 3),
                "train_seconds_per_epoch": round(train_seconds / sizes.epochs, 4),
                "peak_gpu_memory_gb": peak,
            }
            print(f"  {rows[name]}", flush=True)
            rows["ratios"] = tabular_ratios(rows)
            save()


def tabular_ratios(rows: dict) -> dict[str, float]:
    """Per-epoch training time: ours (fp32 and bf16) over SDV's fp32, and ours bf16 over ours fp32."""
    def ratio(a: str, b: str) -> float | None:
        if a in rows and b in rows and rows[b]["train_seconds_per_epoch"] > 0:
            return round(rows[a]["train_seconds_per_epoch"] / rows[b]["train_seconds_per_epoch"], 3)
        return None

    pairs = {"ours_fp32_over_sdv_fp32": ("ours_fp32", "sdv_fp32"), "ours_bf16_over_sdv_fp32": ("ours_bf16", "sdv_fp32"),
             "ours_bf16_over_ours_fp32": ("ours_bf16", "ours_fp32")}
    return {key: r for key, (a, b) in pairs.items() if (r := ratio(a, b)) is not None}


# -- 2. TabDDPM: fit for a fixed number of steps, sample 100,000 rows ------------------------------------------------
def tab_ddpm_part(train, sizes: Sizes, device: str, results: dict, save) -> None:
    from synth.models import build_generator

    hyper = dict(sizes.tab_ddpm)
    warm = train.sample(min(sizes.warm_rows, len(train)), random_state=1)
    print("tab_ddpm: warming up ...", flush=True)
    build_generator("tab_ddpm", {**hyper, "steps": 5}, device=device, seed=0, verbose=False).fit(warm).sample(100)
    model = build_generator("tab_ddpm", hyper, device=device, seed=0, verbose=False)
    print(f"tab_ddpm: {model.steps:,} steps of {model.batch_size:,} rows on {len(train):,} rows ...", flush=True)
    fit_seconds, peak = timed(device, lambda: model.fit(train))
    # TabDDPM trains whole epochs, as many as give at least `steps` batches (synth/models/tab_ddpm.py)
    per_epoch = math.ceil(len(train) / min(model.batch_size, len(train)))
    steps_run = math.ceil(model.steps / per_epoch) * per_epoch
    train_seconds = model.train_seconds_ if model.train_seconds_ is not None else fit_seconds - model.transform_seconds_
    n = sizes.tab_ddpm_sample_rows
    print(f"tab_ddpm: sampling {n:,} rows ...", flush=True)
    sample_seconds, sample_peak = timed(device, lambda: model.sample(n, seed=1))
    results["tab_ddpm"] = {
        "train_rows": len(train), "steps": model.steps, "steps_run": steps_run, "batch_size": model.batch_size,
        "hidden_dims": list(model.hidden_dims), "sampling_steps": model.sampling_steps,
        "fit_seconds": round(fit_seconds, 3),
        "transformer_seconds": round(model.transform_seconds_, 3),
        "train_seconds": round(train_seconds, 3),
        "train_ms_per_step": round(1000 * train_seconds / steps_run, 3),
        "sample_rows": n,
        "sample_seconds": round(sample_seconds, 3),
        "rows_per_second": round(n / sample_seconds),
        "peak_gpu_memory_gb": max(peak, sample_peak) if peak is not None else None,
    }
    print(f"  {results['tab_ddpm']}", flush=True)
    save()


# -- 3. DDPM on Fashion-MNIST: a short fit, sampling throughput ----------------------------------------------------
def ddpm_images(data: Path, sizes: Sizes, quick: bool):
    """(the spec, its training images: a stratified subset of `sizes.images`, a note on the data) or, where no
    data can be had, (None, None, why)."""
    from synth.images.sources import load_source
    from synth.spec import load_spec

    overrides = [f"source.max_images={sizes.images}", f"generator.epochs={sizes.ddpm_epochs}",
                 *sizes.ddpm_overrides]
    if (data / "train-images-idx3-ubyte.gz").is_file():
        spec = spec_for("ddpm", data, quick=False, overrides=overrides)
        note = f"Fashion-MNIST ({data})"
    elif quick:  # a smoke run still exercises the part, on the digits scikit-learn ships
        spec = load_spec(ROOT / "pipelines" / "digits_ddpm.yaml", overrides)
        note = f"scikit-learn digits (no Fashion-MNIST files in {data})"
    else:
        return None, None, (f"no Fashion-MNIST files in {data}; pass --data with the folder of the four "
                            ".gz IDX files")
    return spec, load_source(spec.source, spec.seed).images, note


def ddpm_part(data: Path, sizes: Sizes, quick: bool, device: str, results: dict, save) -> None:
    from synth.images.sources import stratified_subset
    from synth.models import build_generator

    spec, images, note = ddpm_images(data, sizes, quick)
    if spec is None:
        results["ddpm"] = {"skipped": note}
        print(f"ddpm: skipped: {note}", flush=True)
        save()
        return
    hyper = spec.generator.hyperparameters()
    warm = images.subset(stratified_subset(images.labels, min(2 * hyper["batch_size"], len(images) // 2), 1))
    print("ddpm: warming up ...", flush=True)
    build_generator("ddpm", hyper, device=device, seed=0, verbose=False).fit(warm).sample(10, seed=0)
    model = build_generator("ddpm", hyper, device=device, seed=spec.seed, verbose=False)
    print(f"ddpm: {hyper['epochs']} epoch(s) on {len(images):,} images of {note}, "
          f"block_out_channels {hyper['block_out_channels']} ...", flush=True)
    fit_seconds, peak = timed(device, lambda: model.fit(images))
    steps = hyper["epochs"] * math.ceil(len(images) / hyper["batch_size"])
    n = sizes.sample_images
    print(f"ddpm: sampling {n:,} images ({hyper['sampling_steps']} DDIM steps) ...", flush=True)
    sample_seconds, sample_peak = timed(device, lambda: model.sample(n, seed=spec.seed + 1))
    results["ddpm"] = {
        "data": note, "train_images": len(images), "image_shape": list(images.shape),
        "epochs": hyper["epochs"], "batch_size": hyper["batch_size"], "steps": steps,
        "block_out_channels": hyper["block_out_channels"], "layers_per_block": hyper["layers_per_block"],
        "fit_seconds": round(fit_seconds, 3),
        "training_images_per_second": round(hyper["epochs"] * len(images) / fit_seconds, 1),
        "sample_images": n, "sampling_steps": hyper["sampling_steps"], "guidance_scale": hyper["guidance_scale"],
        "sample_seconds": round(sample_seconds, 3),
        "images_per_second": round(n / sample_seconds, 1),
        "peak_gpu_memory_gb": max(peak, sample_peak) if peak is not None else None,
    }
    print(f"  {results['ddpm']}", flush=True)
    save()


# -- timing and output ---------------------------------------------------------------------------------------------
def timed(device: str, work) -> tuple[float, float | None]:
    """(seconds `work()` took, the device finished; peak GPU memory in GB meanwhile, None on the CPU)."""
    import torch

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    _sync(device)
    started = time.perf_counter()
    work()
    _sync(device)
    seconds = time.perf_counter() - started
    return seconds, round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None


def write(results: dict, json_path: Path, md_path: Path) -> None:
    write_json(json_path, results)  # atomic: a run killed by the timeout leaves the last complete file
    temporary = md_path.with_name(f".{md_path.name}.tmp")
    temporary.write_text(render(results))
    os.replace(temporary, md_path)


def render(results: dict) -> str:
    s, m = results["settings"], results["machine"]
    lines = [
        f"## GPU readiness: timings on {m['device_name']}"
        + (" (QUICK smoke run: tiny sizes; not a result)" if s["quick"] else ""),
        "",
        f"Device: {m['device_name']} ({s['device']}); torch {m['torch']}"
        + (f", CUDA {m['cuda']}" if m.get("cuda") else "")
        + f"; {m['cpu_count']} CPU cores ({m['cpu']}); Python {m['python']}. "
        f"The run took {results.get('wall_seconds')} s after its imports. "
        "Timing only: no quality is scored here (bench/suite.py and bench/tabular.py do that).",
    ]
    if "tabular" in results:
        rows = f"{s['train_rows']:,}" if s["train_rows"] else "all 32,561"
        lines += [
            "",
            f"### CTGAN and TVAE on Adult: {s['epochs']} epochs, batch {s['batch_size']}, {rows} training rows",
            "",
            "Training s/epoch = (fit s − transformer s) / epochs, after an untimed warm-up fit of every model. "
            "SDV has no bf16: ours at bf16 is compared with SDV's fp32 and ours' fp32.",
            "",
            "| model | precision | fit s | transformer s | train s/epoch | vs SDV fp32 | vs ours fp32 | peak GPU GB |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for kind, rows_ in results["tabular"].items():
            ratios = rows_.get("ratios", {})
            versus = {"ours_fp32": (ratios.get("ours_fp32_over_sdv_fp32"), 1.0),
                      "ours_bf16": (ratios.get("ours_bf16_over_sdv_fp32"), ratios.get("ours_bf16_over_ours_fp32")),
                      "sdv_fp32": (1.0, None)}
            for name, r in rows_.items():
                if name == "ratios":
                    continue
                who, precision = name.split("_")
                vs_sdv, vs_ours = versus[name]
                lines.append(f"| {kind.upper()} {'ours' if who == 'ours' else 'SDV'} | {precision} | "
                             f"{r['fit_seconds']} | {r['transformer_seconds']} | {r['train_seconds_per_epoch']} | "
                             f"{_or_dash(vs_sdv)} | {_or_dash(vs_ours)} | {_or_dash(r['peak_gpu_memory_gb'])} |")
    if "tab_ddpm" in results:
        r = results["tab_ddpm"]
        lines += [
            "",
            f"### TabDDPM on Adult: {r['steps']:,} steps (whole epochs: {r['steps_run']:,} run), batch "
            f"{r['batch_size']:,}, hidden {r['hidden_dims']}, {r['train_rows']:,} training rows",
            "",
            f"| fit s | transformer s | train ms/step | sample {r['sample_rows']:,} rows s "
            f"({r['sampling_steps']} DDIM steps) | rows/s | peak GPU GB |",
            "|---|---|---|---|---|---|",
            f"| {r['fit_seconds']} | {r['transformer_seconds']} | {r['train_ms_per_step']} | {r['sample_seconds']} | "
            f"{r['rows_per_second']:,} | {_or_dash(r['peak_gpu_memory_gb'])} |",
        ]
    if "ddpm" in results:
        r = results["ddpm"]
        network = "bench/images.py's quick UNet" if s["quick"] else "pipelines/fashion_mnist_ddpm.yaml's network"
        lines += ["", f"### DDPM ({network}): a short fit and sampling", ""]
        if "skipped" in r:
            lines.append(f"Not run: {r['skipped']}")
        else:
            lines += [
                f"{r['train_images']:,} images of {r['data']}, {r['image_shape'][0]}×{r['image_shape'][1]}; "
                f"UNet {r['block_out_channels']}, {r['layers_per_block']} layer(s) per block.",
                "",
                f"| epochs | steps (batch {r['batch_size']}) | fit s | training images/s "
                f"| sample {r['sample_images']:,} images s ({r['sampling_steps']} DDIM steps, "
                f"guidance {r['guidance_scale']}) | images/s | peak GPU GB |",
                "|---|---|---|---|---|---|---|",
                f"| {r['epochs']} | {r['steps']:,} | {r['fit_seconds']} | {r['training_images_per_second']:,} | "
                f"{r['sample_seconds']} | {r['images_per_second']:,} | {_or_dash(r['peak_gpu_memory_gb'])} |",
            ]
    for part, error in results.get("errors", {}).items():
        lines += ["", f"**{part} failed**: {error}"]
    return "\n".join(lines) + "\n"


def _or_dash(value) -> str:
    return "–" if value is None else str(value)


if __name__ == "__main__":
    main()
