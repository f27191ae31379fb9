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


def publish(
    root: Path,
    name: str,
    *,
    synthetic: pd.DataFrame,
    model: Any,
    card: dict[str, Any],
    validation: dict[str, dict[str, Any]],
    attachments: dict[str, Path] | None = None,
) -> Path:
    """Write a complete version folder and only then make it visible and LATEST.

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
        synthetic.to_parquet(staging / "data.parquet", index=False)
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
    lines = [
        f"# {card['name']} {card['version']}",
        "",
        card.get("description") or "",
        "",
        f"Published {card['published_at']}. Synthetic rows: **{out['rows']:,}** in `data.parquet`. "
        f"Gate: **{'passed' if gate['passed'] else 'FAILED'}** ({len(gate['checks'])} checks).",
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
    lines += ["", "## Package versions", ", ".join(f"{k} {v}" for k, v in card["packages"].items()), ""]
    return "\n".join(lines)
