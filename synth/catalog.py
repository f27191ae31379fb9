"""The catalog of published datasets: `<root>/<name>/<version>/`.

A version folder holds `data.parquet`, `card.json`, `card.md`, `validation/`
and the trained generator under `model/`. Publishing is all-or-nothing: the
folder is written under a hidden temporary name inside `<root>/<name>/` and
renamed into place in one step, and `LATEST` is replaced (atomically) only
after that. A crash leaves at most a hidden `.incoming-*` folder, which
readers ignore.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

LATEST = "LATEST"
_VERSION = re.compile(r"^v(\d+)$")

#: Packages whose versions every card records.
RECORDED_PACKAGES = (
    "synth-pipeline", "torch", "numpy", "pandas", "pyarrow", "scikit-learn", "safetensors",
    "sdmetrics", "great-expectations", "prefect",
)


def package_versions() -> dict[str, str]:
    versions = {}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    import platform

    versions["python"] = platform.python_version()
    return versions


def versions_of(root: Path, name: str) -> list[str]:
    """Published versions of a dataset, oldest first."""
    folder = Path(root) / name
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p.name) for p in folder.iterdir() if p.is_dir() and (m := _VERSION.match(p.name))]
    return [v for _, v in sorted(found)]


def latest_version(root: Path, name: str) -> str | None:
    pointer = Path(root) / name / LATEST
    return pointer.read_text().strip() if pointer.is_file() else None


def root_folder(root: str | Path | None = None) -> Path:
    """`root`, or the SYNTH_CATALOG_ROOT setting when it is None."""
    if root is not None:
        return Path(root)
    from synth.settings import get_settings

    return get_settings().catalog_root


def datasets(root: str | Path | None = None) -> list[str]:
    """Names of the datasets with at least one published version, sorted."""
    folder = root_folder(root)
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and versions_of(folder, p.name))


def read_card(name: str, version: str | None = None, root: str | Path | None = None) -> dict[str, Any]:
    """The card of a published, gate-passed version (LATEST when `version` is None)."""
    return json.loads((version_folder(name, version, root) / "card.json").read_text())


def version_folder(name: str, version: str | None, root: str | Path | None) -> Path:
    """The folder of a published version whose card says the gate passed; clear errors otherwise."""
    from synth.errors import CatalogError

    root = root_folder(root)
    published = versions_of(root, name)
    if not published:
        known = datasets(root)
        raise CatalogError(f"no dataset {name!r} in the catalog at {root}; published: {known or 'none'}")
    if version is None:
        version = latest_version(root, name) or published[-1]
    elif version not in published:
        raise CatalogError(f"{name!r} has no version {version!r} in {root}; versions: {published}")
    folder = root / name / version
    card_path = folder / "card.json"
    if not card_path.is_file():
        raise CatalogError(f"{folder} has no card.json: not a complete published version")
    card = json.loads(card_path.read_text())
    if not card.get("gate", {}).get("passed"):
        raise CatalogError(f"{name} {version} did not pass the gate, so it is not served; see {card_path}")
    return folder


def load(name: str, version: str | None = None, root: str | Path | None = None) -> pd.DataFrame:
    """The synthetic table of a published dataset: the LATEST version, or `version` ("v3").

    Only complete, gate-passed versions are read; the catalog root defaults to
    the SYNTH_CATALOG_ROOT setting.
    """
    from synth.errors import CatalogError

    folder = version_folder(name, version, root)
    single, parts = folder / "data.parquet", folder / "data"  # data/: a partitioned dataset
    if single.is_file() or parts.is_dir():
        return pd.read_parquet(single if single.is_file() else parts)
    if (folder / IMAGES_FILE).is_file():
        raise CatalogError(f"{name} {folder.name} is an image dataset; load it with catalog.load_images({name!r})")
    raise CatalogError(f"{folder} holds neither data.parquet nor data/: not a complete tabular version")


#: The array file of a published image version (layout: `synth.images.layout`).
IMAGES_FILE = "images.npz"


def load_images(name: str, version: str | None = None, root: str | Path | None = None, transform=None):
    """The images of a published image dataset as a torch `Dataset` of (image, label) pairs.

    Each image is a float tensor (C, H, W) in [0, 1] (`transform`, if given, is
    applied to it), each label an int; `dataset.class_names[label]` names it.
    Reads `images.npz` of the LATEST (or the given) complete, gate-passed version.
    """
    from synth.errors import CatalogError

    folder = version_folder(name, version, root)
    if not (folder / IMAGES_FILE).is_file():
        hint = f"; it is a table, load it with catalog.load({name!r})" if (folder / "data.parquet").is_file() or (folder / "data").is_dir() else ""
        raise CatalogError(f"{name} {folder.name} has no {IMAGES_FILE}, so it is not an image dataset{hint}")
    from synth.images.dataset import ImageDataset

    return ImageDataset.from_published(folder, transform=transform)


def model_folder(name: str, version: str | None = None, root: str | Path | None = None) -> Path:
    """The saved generator of a published version, for `synth.models.load_generator`."""
    return version_folder(name, version, root) / "model"


#: Where every gate outcome is logged, one JSON line per run: `<root>/.runs/<name>.jsonl`.
#: Hidden, and outside the version folders, so readers never mistake a failed run for a version.
RUNS_FOLDER = ".runs"
#: The checks `synth list` shows, by column.
KEY_SCORES = {"quality": "quality_score", "detection": "detection_auc", "dcr": "dcr_closer_to_training"}


def record_run(root: str | Path, name: str, card: dict[str, Any], version: str | None, run_id: str | None = None) -> dict[str, Any]:
    """Append one gate outcome (passed and published as `version`, or failed) to the dataset's runs log.

    `card` is the card the run built (a failed run builds it too, it is just not
    published). One short line per run, written with a single append.
    """
    checks = card.get("gate", {}).get("checks", [])
    entry = {
        "run_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dataset": name,
        "passed": bool(card.get("gate", {}).get("passed")),
        "version": version,
        "generator": card.get("generator", {}).get("kind"),
        "rows": card.get("output", {}).get("rows"),
        "scores": {c["name"]: c["value"] for c in checks if c["name"] in KEY_SCORES.values()},
        "epsilon": (card.get("privacy") or {}).get("epsilon"),
        "failed_checks": [c["name"] for c in checks if c.get("required", True) and not c["passed"]],
        "flow_run_id": run_id,
    }
    folder = Path(root) / RUNS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.jsonl", "a") as log:
        log.write(json.dumps(entry, default=str) + "\n")
    return entry


def runs(name: str, root: str | Path | None = None) -> list[dict[str, Any]]:
    """Every recorded gate outcome of a dataset, oldest first (empty when none was logged)."""
    path = root_folder(root) / RUNS_FOLDER / f"{name}.jsonl"
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a crash mid-write: skip it, keep the rest
    return entries


def summary(root: str | Path | None = None, all_failed: bool = False) -> list[dict[str, Any]]:
    """One row per published version, plus failed runs, newest first within each dataset, for `synth list`.

    Failed runs come from the runs log: by default those after the newest
    published version (is the nightly failing now?); `all_failed` shows every
    one. They have no version: nothing of theirs can be loaded.
    """
    rows = []
    root = root_folder(root)
    logged = sorted(p.stem for p in (root / RUNS_FOLDER).glob("*.jsonl")) if (root / RUNS_FOLDER).is_dir() else []
    for name in sorted(set(datasets(root)) | set(logged)):
        latest = latest_version(root, name)
        dataset_rows = []
        for version in versions_of(root, name):
            card_path = root / name / version / "card.json"
            card = json.loads(card_path.read_text()) if card_path.is_file() else {}
            checks = {c["name"]: c["value"] for c in card.get("gate", {}).get("checks", [])}
            dataset_rows.append({
                "_at": str(card.get("published_at", "")),
                "dataset": name,
                "version": version + ("*" if version == latest else ""),
                "when": str(card.get("published_at", "?"))[:16].replace("T", " "),
                "generator": card.get("generator", {}).get("kind", "?"),
                "rows": card.get("output", {}).get("rows"),
                **{column: checks.get(check) for column, check in KEY_SCORES.items()},
                "epsilon": (card.get("privacy") or {}).get("epsilon"),
                "gate": "passed" if card.get("gate", {}).get("passed") else "FAILED",
            })
        # recent: logged after the last passed run, and not before the newest version's card
        newest = max((r["_at"] for r in dataset_rows), default="")
        logged = runs(name, root)
        last_passed = max((i for i, e in enumerate(logged) if e.get("passed")), default=-1)
        for i, entry in enumerate(logged):
            at = str(entry.get("run_at", ""))
            if entry.get("passed") or (not all_failed and (i < last_passed or at < newest)):
                continue
            dataset_rows.append({
                "_at": at, "dataset": name, "version": "-", "when": at[:16].replace("T", " ") or "?",
                "generator": entry.get("generator") or "?",
                "rows": entry.get("rows"),
                **{column: (entry.get("scores") or {}).get(check) for column, check in KEY_SCORES.items()},
                "epsilon": entry.get("epsilon"), "gate": "FAILED",
            })
        # newest first; within one second, the one recorded later first
        order = sorted(range(len(dataset_rows)), key=lambda i: (dataset_rows[i]["_at"], i), reverse=True)
        rows += [{k: v for k, v in dataset_rows[i].items() if k != "_at"} for i in order]
    return rows


def prune(name: str, keep: int, root: str | Path | None = None) -> list[str]:
    """Delete all but the newest `keep` versions; never the one LATEST points at. Returns what was removed.

    Each version is first renamed to a hidden name (readers stop seeing it at
    once), then deleted.
    """
    from synth.errors import CatalogError

    if keep < 1:
        raise CatalogError(f"--keep must be at least 1 (the LATEST version is never pruned), got {keep}")
    root = root_folder(root)
    published = versions_of(root, name)
    if not published:
        raise CatalogError(f"no dataset {name!r} in the catalog at {root}; published: {datasets(root) or 'none'}")
    latest = latest_version(root, name)
    doomed = [v for v in published[: max(len(published) - keep, 0)] if v != latest]
    for version in doomed:
        hidden = root / name / f".pruning-{version}"
        os.rename(root / name / version, hidden)
        shutil.rmtree(hidden)
    return doomed


def publish(
    root: Path,
    name: str,
    *,
    synthetic: pd.DataFrame | Path,
    model: Any,
    card: dict[str, Any],
    validation: dict[str, dict[str, Any]],
    attachments: dict[str, Path] | None = None,
) -> Path:
    """Write a complete version folder and only then make it visible and LATEST.

    `synthetic` is a table (written as `data.parquet`) or a folder of
    `part-*.parquet` files (moved in as the partitioned dataset `data/`).
    `validation` maps file names (without `.json`) to JSON documents stored
    under `validation/`. `attachments` maps a relative path inside the
    version folder (e.g. "report.html", "validation/data_docs") to a file or
    folder that is copied there before the version becomes visible. Returns
    the published folder.
    """
    dataset_dir = Path(root) / name
    dataset_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=dataset_dir))
    try:
        # 1. everything but the card, which needs the final version number
        if isinstance(synthetic, pd.DataFrame):
            synthetic.to_parquet(staging / "data.parquet", index=False)
        else:
            shutil.move(str(synthetic), staging / "data")
        model.save(staging / "model")
        (staging / "validation").mkdir()
        for file_name, document in validation.items():
            (staging / "validation" / f"{file_name}.json").write_text(json.dumps(document, indent=2, default=str))
        for relative, source in (attachments or {}).items():
            destination = staging / relative
            if destination.resolve().parent != staging.resolve() and staging.resolve() not in destination.resolve().parents:
                raise ValueError(f"attachment {relative!r} would land outside the version folder")
            destination.parent.mkdir(parents=True, exist_ok=True)
            if Path(source).is_dir():
                shutil.copytree(source, destination)
            else:
                shutil.copy2(source, destination)

        # 2. claim the next version number by renaming; a concurrent publisher
        #    that took it first makes the rename fail, and we take the next one
        existing = versions_of(root, name)
        number = int(existing[-1][1:]) + 1 if existing else 1
        while True:
            version = f"v{number}"
            _write_card(staging, {**card, "name": name, "version": version})
            try:
                os.rename(staging, dataset_dir / version)
                break
            except OSError:
                if not (dataset_dir / version).exists():
                    raise
                number += 1
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    # 3. only now point LATEST at it (write-then-rename is atomic on POSIX)
    _atomic_write(dataset_dir / LATEST, version + "\n")
    return dataset_dir / version


def _atomic_write(path: Path, text: str) -> None:
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    with os.fdopen(handle, "w") as out:
        out.write(text)
    os.replace(tmp, path)


def _write_card(folder: Path, card: dict[str, Any]) -> None:
    card = {**card, "published_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    (folder / "card.json").write_text(json.dumps(card, indent=2, default=str))
    (folder / "card.md").write_text(render_card(card))


def render_card(card: dict[str, Any]) -> str:
    """The dataset card as Markdown: how it was made and how it scored."""
    src, gen, split, out = card["source"], card["generator"], card["split"], card["output"]
    gate = card["gate"]
    partitions = (f" ({out['partitions']} Parquet partitions, every row schema-checked; the other checks scored a random "
                  f"{out['gate_sample_rows']:,} rows)" if out.get("partitions") else "")
    lines = [
        f"# {card['name']} {card['version']}",
        "",
        card.get("description") or "",
        "",
        f"Published {card['published_at']}. Synthetic rows: **{out['rows']:,}** in `{out.get('file', 'data.parquet')}`"
        f"{partitions}. Gate: **{'passed' if gate['passed'] else 'FAILED'}** ({len(gate['checks'])} checks).",
        "",
        *([f"Evidence: [report.html]({card['report']}) (checks and plots, self-contained) · "
           f"[Great Expectations Data Docs]({card['data_docs']})", ""] if card.get("report") else []),
        "## Source",
        f"- file: `{src['path']}` ({src['format']}), sha256 `{src['sha256']}`",
        f"- {src['rows']:,} rows × {len(src['columns'])} columns; target column: {card.get('target') or 'none'}",
        f"- split (seed {split['seed']}): {split['train_rows']:,} training rows, {split['holdout_rows']:,} holdout rows "
        "never seen by the generator",
        "",
        "## Generator",
        f"- kind: `{gen['kind']}` on `{gen['device']}`, seed {gen['seed']}",
        "- hyperparameters: " + ", ".join(f"{k}={v}" for k, v in gen["hyperparameters"].items()),
        f"- final losses: " + ", ".join(f"{k} {v:.4f}" for k, v in (gen.get("final_losses") or {}).items()),
        "- saved under `model/` as `config.json` + `generator.safetensors` (no pickle, no training rows)",
        "",
        *_privacy_section(card),
        "## Timings (seconds)",
        "| " + " | ".join(card["timings"]) + " |",
        "|" + "---|" * len(card["timings"]),
        "| " + " | ".join(f"{v:.1f}" for v in card["timings"].values()) + " |",
        "",
        "## Checks",
        "| suite | check | passed | observed | required | detail |",
        "|---|---|---|---|---|---|",
    ]
    for c in gate["checks"]:
        detail = str(c.get("detail", "")).replace("|", "/")
        lines.append(
            f"| {c['suite']} | {c['name']} | {'yes' if c['passed'] else '**no**'} | {c['value']} | {c['threshold']} | {detail} |"
        )
    scored = (gate.get("details") or {}).get("scored") or {}
    if scored:  # large outputs: which checks read every row and which a stated random sample
        lines += ["", "## Rows scored", *(f"- {checks}: {rows}" for checks, rows in scored.items())]
    lines += ["", "## Package versions", ", ".join(f"{k} {v}" for k, v in card["packages"].items()), ""]
    return "\n".join(lines)


def _privacy_section(card: dict[str, Any]) -> list[str]:
    """The privacy ledger of a differentially private version (nothing for the others)."""
    if not card.get("privacy"):
        return []
    from synth.privacy.ledger import ledger_markdown

    return ledger_markdown(card["privacy"])
