"""Resuming an interrupted `synth run`: where its checkpoints live, which run they belong to, and the
check `synth run SPEC --resume` makes before anything starts.

A pipeline's training checkpoints (`synth.models.checkpoint`) live in the
catalog's run area, `<catalog root>/.runs/checkpoints/<name>/<run key>/`:
hidden, never served, beside the runs log. The run key is the first 12 hex
digits of the sha256 of the run's fingerprint (below), so two runs of one
name on other specs or data never share a folder: a finishing run removes
only its own checkpoints, and `--resume` finds the one made by the same spec
and data (or, when there is none, compares with the others of that name to
say what changed); an interrupted run's folder stays until a run of that
same spec and data finishes. Every part of that path must be a real folder
inside the catalog root: a symbolic link there is refused (a `CatalogError`),
so removing checkpoints can never reach outside the root.

A run writes them while it trains (the spec's `checkpoint:` block says how
often) and they are removed when the run's training part is over, that is
once the gate has decided (published, or failed: a resumed run would train
the same model and fail the same way).
An error or an interruption anywhere before that keeps them, so
`synth run SPEC --resume` continues from the last one; after the last epoch
that means no training at all.

A checkpoint belongs to the run whose *fingerprint* it carries:

- every spec field that shapes the model: `generator.*`, `seed`,
  `holdout_fraction`, `privacy.*` and the source's read options (`source.*`
  but its paths, so a moved file still resumes);
- `data.sha256`: the source file's sha256 (as the card records it);
- `training rows`: a digest of the training split's contents;
- `device`: cpu or cuda (torch's RNG streams differ between them).

`--resume` with anything of that changed is refused in one line naming
what changed; the checkpoint cadence, `rows`, `conditions`, `validation`
and the other publishing keys may change freely. A run without
`--resume` starts fresh; its first checkpoint replaces any earlier one of
the same run key.

Not resumable, each refused with one line: `gaussian_copula` (it fits in one
pass), a spec with `checkpoint: null`, and private specs (`privacy:`): the
Opacus accountant's history and the Poisson-sampling and noise generators
are not checkpointed, and a resumed DP run whose noise differs from the
planned one could not honestly claim its ε. Private runs write no
checkpoints.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from synth.errors import SpecError

#: Under the catalog's runs folder (`catalog.RUNS_FOLDER`): one folder of checkpoints per dataset name.
CHECKPOINTS_FOLDER = "checkpoints"


def checkpoint_folder(spec, fingerprint: dict[str, str] | None = None) -> Path:
    """`<catalog root>/.runs/checkpoints/<name>`, or with `fingerprint` its run's folder `<name>/<run key>`.

    Checked to be real folders inside the real catalog root as far as they exist (`CatalogError` otherwise).
    """
    from synth.catalog import RUNS_FOLDER
    from synth.settings import get_settings

    parts = [RUNS_FOLDER, CHECKPOINTS_FOLDER, spec.name]
    if fingerprint is not None:
        parts.append(run_key(fingerprint))
    return _real_folder(Path(spec.publish.root or get_settings().catalog_root), parts)


def run_key(fingerprint: dict[str, str]) -> str:
    """The name of a run's checkpoint folder: 12 hex digits of the sha256 of its fingerprint."""
    text = json.dumps({str(k): str(v) for k, v in fingerprint.items()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _real_folder(root: Path, parts: list[str]) -> Path:
    """`root / parts...`, refused unless each part that exists is a real folder (not a link) inside the real root."""
    from synth.errors import CatalogError

    try:
        base = root.resolve()
    except (OSError, RuntimeError) as error:
        raise CatalogError(f"{root}: the catalog root cannot be resolved ({error}); fix publish.root") from None
    path = base
    for part in parts:
        if not part or part in (".", "..") or "/" in part or "\\" in part:
            raise CatalogError(f"{root}: {part!r} cannot name a checkpoint folder; fix the spec's name")
        path = path / part
        if path.is_symlink():
            raise CatalogError(f"{path}: a symbolic link in the catalog's checkpoint area; "
                               "checkpoints are kept only in real folders inside the catalog root; "
                               f"remove the link (and {path.name} if it is stale)")
        if path.exists() and not path.is_dir():
            raise CatalogError(f"{path}: not a folder, but the catalog keeps training checkpoints there; move it away")
    return path


#: The run folders `training_checkpoint` handed out in this process, by name folder and spec (`_spec_key`):
#: the ones `discard_checkpoints` removes once the run is over (and no other run's, even of the same name).
_HANDED_OUT: dict[tuple[Path, str], set[Path]] = {}


def _spec_key(spec) -> str:
    return hashlib.sha256(json.dumps(spec.model_dump(mode="json"), sort_keys=True, default=str).encode()).hexdigest()


def not_resumable(spec) -> str | None:
    """Why `spec`'s training cannot be checkpointed and resumed, or None when it can."""
    if spec.generator.kind == "gaussian_copula":
        return ("generator.kind gaussian_copula fits in one pass in seconds, so there is nothing to resume; "
                "run without --resume")
    if spec.privacy is not None:
        return ("privacy: a differentially private training is not resumed: its accountant's history and its "
                "Poisson-sampling and noise generators are not checkpointed, so a resumed run could not prove its ε; "
                "run without --resume to train again within the full budget")
    if spec.checkpoint is None:
        return ("checkpoint: null turns checkpoints off, so there is nothing to resume; "
                "remove it and run without --resume")
    return None


def training_fingerprint(spec, train, data_sha256: str, device: str) -> dict[str, str]:
    """What identifies a training run (see the module docstring): flat `key -> text`, so changes can be named."""
    fields: dict[str, Any] = {
        "generator": spec.generator.model_dump(mode="json"),
        "seed": spec.seed,
        "holdout_fraction": spec.holdout_fraction,
        "privacy": spec.privacy.model_dump(mode="json") if spec.privacy is not None else None,
        "source": spec.source.model_dump(mode="json", exclude={"path", "labels_path", "test_path", "test_labels_path"}),
    }
    flat: dict[str, str] = {}
    _flatten("", fields, flat)
    flat["data.sha256"] = data_sha256
    flat["training rows"] = rows_digest(train)
    flat["device"] = device
    return flat


def rows_digest(train) -> str:
    """sha256 of the training split's contents: a table's values, index and dtypes, or images, labels and classes."""
    digest = hashlib.sha256()
    if hasattr(train, "images"):  # an ImageSet
        import numpy as np

        for array in (train.images, train.labels):
            digest.update(str(array.shape).encode())
            digest.update(np.ascontiguousarray(array).tobytes())
        digest.update(json.dumps(list(train.class_names)).encode())
        return digest.hexdigest()
    import pandas as pd

    digest.update(json.dumps([[str(c), str(t)] for c, t in train.dtypes.items()]).encode())
    try:
        hashes = pd.util.hash_pandas_object(train, index=True)
    except TypeError:  # values pandas cannot hash (e.g. lists): their text
        hashes = pd.util.hash_pandas_object(train.astype(str), index=True)
    digest.update(hashes.to_numpy().tobytes())
    return digest.hexdigest()


def training_checkpoint(spec, train, data_sha256: str, device: str, resume: bool = False):
    """The `TrainingCheckpoint` a pipeline's train task hands to `fit`, or None when the spec is not checkpointed."""
    from synth.models.checkpoint import TrainingCheckpoint

    reason = not_resumable(spec)
    if reason is not None:
        if resume:
            raise SpecError(f"--resume: {reason}")
        return None
    fingerprint = training_fingerprint(spec, train, data_sha256, device)
    folder = checkpoint_folder(spec, fingerprint)
    _HANDED_OUT.setdefault((folder.parent, _spec_key(spec)), set()).add(folder)
    return TrainingCheckpoint(folder, fingerprint, resume=resume,
                              every_minutes=spec.checkpoint.every_minutes, every_epochs=spec.checkpoint.every_epochs)


def check_resume(spec, loaded, origin: str, device: str) -> str:
    """Before anything starts: refuse `--resume` in one line unless this spec has a checkpoint it can continue.

    `loaded` is what the CLI's input check loaded: the table, or the images
    (`synth.images.sources.LoadedImages`). Returns a line saying where the
    run continues from.
    """
    from synth.models.checkpoint import check_fingerprint, latest, read_state

    reason = not_resumable(spec)
    if reason is not None:
        raise SpecError(f"{origin}: --resume: {reason}")
    if hasattr(loaded, "images"):  # LoadedImages
        from synth.images.sources import split_holdout as split_images

        train, _ = split_images(loaded.images, spec.holdout_fraction, spec.seed)
        sha256 = loaded.info["sha256"]
    else:
        from synth.data import fingerprint, split_holdout

        train, _ = split_holdout(loaded, spec.holdout_fraction, spec.seed)
        sha256 = fingerprint(spec.source.path)
    now = training_fingerprint(spec, train, sha256, device)
    found = latest(checkpoint_folder(spec, now))
    if found is None:
        # none of this run: the newest of the name's other runs, if any, says what changed
        found = _newest_other(checkpoint_folder(spec))
    if found is None:
        raise SpecError(f"{origin}: --resume: no checkpoint of an interrupted run of {spec.name!r} in "
                        f"{checkpoint_folder(spec)} (a finished run removes its checkpoints); "
                        "run without --resume to start fresh")
    state = read_state(found)
    try:
        check_fingerprint(state, now, found)
    except SpecError as error:
        raise SpecError(f"{origin}: {error}") from None
    return (f"resuming {spec.name} after epoch {state['epoch']} of {state['epochs']} "
            f"(checkpoint saved {state['saved_at']})")


def _newest_other(name_folder: Path) -> Path | None:
    """The most recently written checkpoint among the run folders under `name_folder` (damaged ones skipped)."""
    from synth.errors import SynthError
    from synth.models.checkpoint import CURRENT, latest

    found: list[tuple[float, Path]] = []
    try:
        runs = [path for path in name_folder.iterdir() if path.is_dir() and not path.is_symlink()]
    except OSError:
        return None
    for run in runs:
        try:
            checkpoint = latest(run)
            if checkpoint is not None:
                found.append(((run / CURRENT).stat().st_mtime, checkpoint))
        except (SynthError, OSError):
            continue
    return max(found)[1] if found else None


def discard_checkpoints(spec) -> None:
    """The run's training part is over (published, or the gate failed): its checkpoints go, and only its own.

    That is the run folders `training_checkpoint` handed out for `spec` in this process: another run of the
    same name (another spec or data, or still training) keeps its checkpoints. Each folder is checked again
    (no link on the way) right before it is removed.
    """
    from synth.models.checkpoint import discard

    name_folder = checkpoint_folder(spec)
    for folder in sorted(_HANDED_OUT.pop((name_folder, _spec_key(spec)), set())):
        discard(_real_folder(name_folder, [folder.name]))


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, out)
    else:
        out[prefix] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
