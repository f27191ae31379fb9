"""The catalog of published datasets: `<root>/<name>/<version>/`.

A version folder holds `data.parquet`, `card.json`, `card.md`, `validation/`
and the trained generator under `model/`. Publishing is all-or-nothing: the
folder is written under a hidden temporary name inside `<root>/<name>/` and
renamed into place in one step, and `LATEST` is replaced (atomically) only
after that. A crash leaves at most a hidden `.incoming-*` folder, which
readers ignore and the next publish or `synth prune` of that dataset removes.

Every dataset name and version that comes from a user is checked against one
pattern and resolved inside the root before anything is read or deleted, so
`../x`, `/abs/path` or a dataset folder symlinked elsewhere never reach the
file system. Inside a version, card.json, card.md and LATEST are read without
following links and only when they are regular files of bounded size, and a
linked or special data file is refused before pandas or numpy opens it.
Publishers and prune serialise their use of LATEST with an flock on the hidden
`<name>/.lock`. Published folders and files get the modes a plain `mkdir`/`open`
would give under the current umask, so a catalog root shared by a team is
readable by its members.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd

from synth import interrupts

LATEST = "LATEST"
#: A dataset name: what `synth/spec.py` accepts for `name:` (no separators, cannot be `.` or `..`).
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_VERSION = re.compile(r"v(\d{1,9})")
#: Hidden names a publish or prune works under; `<kind>-<host>-<pid>-...` tells whose they are.
_WORK_PREFIXES = (".incoming-", ".pruning-", f".{LATEST}-", ".probe-")
_WORK_NAME = re.compile(r"\.(?:incoming|pruning|LATEST|probe)-([A-Za-z0-9_]+)-(\d+)-.*", re.S)
#: A work folder whose creator cannot be checked (another host, an older synth) is stale after this long.
STALE_AFTER_S = 3600
#: A version published this long ago with no runs-log line lost it to a crash (not to a publisher still running).
RECONCILE_AFTER_S = 600
#: Larger than any card; a bigger card.json or card.md is not read.
MAX_CARD_BYTES = 16 * 2**20
#: `<dataset>/.lock`: held (flock) around every read-compare-write of LATEST and around prune. Hidden, so never
#: taken for a dataset or a version.
LOCK_FILE = ".lock"
#: OS errors that are the environment's (disk full, read-only, permissions), reported as one line, not a bug.
_ENVIRONMENT_ERRORS = {  # errno: (what happened, how to fix it there)
    errno.ENOSPC: ("no space left on the device", "free some space there"),
    errno.EDQUOT: ("the disk quota is exceeded", "free some space there"),
    errno.EROFS: ("the file system is read-only", None),
    errno.EACCES: ("permission denied", "make it writable for this user"),
    errno.EPERM: ("operation not permitted", "make it writable for this user"),
    errno.ENOTDIR: ("a part of that path is a file, not a folder", None),
    errno.EEXIST: ("a file is in the way of a folder there", None),
}
_ROOT_HINT = "set publish.root in the spec (or SYNTH_CATALOG_ROOT) to a writable folder with free space"

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


# --- names and paths: everything a user names is checked, then resolved inside the root --------------

def _error(message: str):
    """A CatalogError whose message is one line whatever paths or names it quotes."""
    from synth.errors import CatalogError

    return CatalogError(re.sub(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+", " ", message))


def _shown(value: Any, limit: int = 80) -> str:
    """`value` quoted for a message: repr escapes control characters, and a hostile name is cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def check_name(name: Any) -> str:
    """`name` if it is a valid dataset name, else a CatalogError saying what a name may be."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise _error(f"dataset name {_shown(name)} is not valid: use 1 to 100 letters, digits, '_', '.' or '-', "
                     "starting with a letter or digit (no '/', no '..'), e.g. 'adult'")
    return name


def check_version(version: Any) -> str:
    """`version` if it is a version name (v1, v2, ...), else a CatalogError."""
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise _error(f"version {_shown(version)} is not valid: versions are named v1, v2, ... (e.g. adult@v2)")
    return version


def dataset_folder(root: str | Path, name: str) -> Path:
    """`<root>/<name>` for a valid `name`, refused if it resolves anywhere but directly inside the root.

    The folder need not exist. A dataset folder that is a symlink (to a place
    outside the root, or to another dataset, whose versions a prune would then
    delete) is refused, so nothing is ever read, renamed or deleted through one.
    """
    check_name(name)
    folder = Path(root) / name
    if folder.is_symlink() or folder.exists():
        real_root, real = Path(root).resolve(), folder.resolve()
        if real.parent != real_root:
            raise _error(f"{folder} resolves to {real}, outside the catalog root {real_root}; refused: "
                         "a dataset folder must be a real folder inside the root (remove the link)")
        if folder.is_symlink() or real != real_root / name:
            raise _error(f"{folder} is a symbolic link to {real}; refused: a dataset folder must be a real folder, "
                         "not a link to another one (remove the link)")
    return folder


def _versions(folder: Path, dir_fd: int | None = None) -> list[str]:
    """Version folders (real folders, never symlinks) in a dataset folder (or the open folder `dir_fd`),
    oldest first."""
    try:
        entries = list(os.scandir(folder if dir_fd is None else dir_fd))
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as error:
        raise _error(f"cannot read {folder}: {error.strerror}") from None
    found = [(int(m.group(1)), e.name) for e in entries
             if (m := _VERSION.fullmatch(e.name)) and e.is_dir(follow_symlinks=False)]
    return [v for _, v in sorted(found)]


def versions_of(root: str | Path, name: str) -> list[str]:
    """Published versions of a dataset, oldest first."""
    return _versions(dataset_folder(root, name))


def _read_latest(folder: Path, dir_fd: int | None = None) -> str | None:
    """The stripped text of `<folder>/LATEST` (at most a few bytes are read), None when there is none."""
    try:
        return read_regular(folder / LATEST, 64, what="a plain file", dir_fd=dir_fd).decode("utf-8", "replace").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None


def latest_version(root: str | Path, name: str) -> str | None:
    """The version LATEST points at, or None when there is no (valid) LATEST."""
    text = _read_latest(dataset_folder(root, name))
    return text if text is not None and _VERSION.fullmatch(text) else None


def _latest(folder: Path, published: list[str], dir_fd: int | None = None) -> str:
    """The version LATEST points at (the newest when there is no LATEST); an error when it points nowhere."""
    text = _read_latest(folder, dir_fd=dir_fd)
    if text is None:
        return published[-1]
    if text not in published:
        raise _error(f"{folder / LATEST} points at {_shown(text)}, which is not a published version "
                     f"(versions: {published}); write one of them into it, e.g. {published[-1]}")
    return text


def root_folder(root: str | Path | None = None) -> Path:
    """`root`, or the SYNTH_CATALOG_ROOT setting when it is None."""
    if root is not None:
        return Path(root)
    from synth.settings import get_settings

    return get_settings().catalog_root


def datasets(root: str | Path | None = None) -> list[str]:
    """Names of the datasets with at least one published version, sorted.

    Folders whose names are not dataset names, and dataset folders linked to
    somewhere outside the root, are not part of the catalog and are skipped.
    """
    from synth.errors import CatalogError

    folder = root_folder(root)
    try:
        names = [e.name for e in os.scandir(folder) if _NAME.fullmatch(e.name)]
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as error:
        raise _error(f"cannot read the catalog root {folder}: {error.strerror}") from None
    found = []
    for name in sorted(names):
        try:
            if _versions(dataset_folder(folder, name)):
                found.append(name)
        except CatalogError:
            continue
    return found


# --- reading: only complete, gate-passed versions ---------------------------------------------------

def read_regular(path: Path, limit: int, fix: str = "replace it with a plain file", what: str = "a card",
                 dir_fd: int | None = None) -> bytes:
    """The bytes of `path`, a regular file of at most `limit` bytes, read without following a symlink.

    A link (to /etc/..., say), a device (/dev/zero never ends), a FIFO or an
    oversized file is one CatalogError naming the path; FileNotFoundError and
    NotADirectoryError are left to the caller (a missing file means different
    things to different readers). With `dir_fd`, `path`'s name is opened in that open folder.
    """
    try:
        handle = os.open(path if dir_fd is None else Path(path).name,
                         os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0), dir_fd=dir_fd)
    except (FileNotFoundError, NotADirectoryError):
        raise
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise _error(f"{path} is a symbolic link; refused: it must be a plain file inside the version folder; "
                         f"{fix}") from None
        raise _error(f"cannot read {path}: {error.strerror}") from None
    try:
        mode = os.fstat(handle).st_mode
        if not stat.S_ISREG(mode):
            raise _error(f"{path} is not a plain file (it is a device, FIFO, socket or folder); refused: {fix}")
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(handle, min(left, 2**20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as error:
        raise _error(f"cannot read {path}: {error.strerror}") from None
    finally:
        os.close(handle)
    data = b"".join(chunks)
    if len(data) > limit:
        raise _error(f"{path} is larger than {limit:,} bytes, far larger than {what}; refused: {fix}")
    return data


def _check_data_files(folder: Path) -> None:
    """Refuse a version whose data.parquet, data/ (or a part in it) or images.npz is a link or not a regular
    file/folder, before pandas or numpy opens it: a link could read a file outside the catalog, a device never ends."""
    fix = f"restore the version, or delete the version folder {folder}"
    for entry in ("data.parquet", "data", IMAGES_FILE):
        path = folder / entry
        try:
            mode = os.lstat(path).st_mode
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as error:
            raise _error(f"cannot read {path}: {error.strerror}") from None
        wanted = stat.S_ISDIR if entry == "data" else stat.S_ISREG
        if stat.S_ISLNK(mode) or not wanted(mode):
            kind = ("a symbolic link" if stat.S_ISLNK(mode)
                    else "not a plain " + ("folder" if entry == "data" else "file"))
            raise _error(f"{path} is {kind}; refused: {fix}")
        if entry == "data":
            for current, folders, files in os.walk(path):  # os.walk lists a linked folder but never enters it
                for part in folders + files:
                    part_mode = os.lstat(os.path.join(current, part)).st_mode
                    if not (stat.S_ISREG(part_mode) or stat.S_ISDIR(part_mode)):
                        raise _error(f"{os.path.join(current, part)} is a symbolic link or not a plain file; "
                                     f"refused: {fix}")


def _read_card_file(path: Path) -> dict[str, Any]:
    """A card.json as a dict; one clear CatalogError when it is missing, unreadable, truncated or not a card."""
    folder = path.parent
    try:
        data = read_regular(path, MAX_CARD_BYTES, f"restore it or delete the version folder {folder}")
        card = json.loads(data.decode("utf-8"))
    except FileNotFoundError:
        raise _error(f"{folder} has no card.json: not a complete published version") from None
    except (UnicodeDecodeError, ValueError) as error:  # JSONDecodeError is a ValueError
        reason = f"{error.msg} at line {error.lineno}" if isinstance(error, json.JSONDecodeError) else "not UTF-8 text"
        raise _error(f"{path} is not valid JSON ({reason}): the card was truncated or edited; "
                     f"restore it, or delete the version folder {folder}") from None
    if not isinstance(card, dict) or not isinstance(card.get("gate", {}), dict):
        raise _error(f"{path} is not a card (expected a JSON object with a 'gate' object); "
                     f"restore it, or delete the version folder {folder}")
    return card


def read_card(name: str, version: str | None = None, root: str | Path | None = None) -> dict[str, Any]:
    """The card of a published, gate-passed version (LATEST when `version` is None)."""
    return _read_card_file(version_folder(name, version, root) / "card.json")


def version_folder(name: str, version: str | None, root: str | Path | None) -> Path:
    """The folder of a published version whose card says the gate passed; clear errors otherwise."""
    root = root_folder(root)
    folder = dataset_folder(root, name)
    if version is not None:
        check_version(version)
    published = _versions(folder)
    if not published:
        known = datasets(root)
        raise _error(f"no dataset {name!r} in the catalog at {root}; published: {known or 'none'}")
    if version is None:
        version = _latest(folder, published)
    elif version not in published:
        raise _error(f"{name!r} has no version {version!r} in {root}; versions: {published}")
    card_path = folder / version / "card.json"
    card = _read_card_file(card_path)
    if not card.get("gate", {}).get("passed"):
        raise _error(f"{name} {version} did not pass the gate, so it is not served; see {card_path}")
    return folder / version


def load(name: str, version: str | None = None, root: str | Path | None = None) -> pd.DataFrame:
    """The synthetic table of a published dataset: the LATEST version, or `version` ("v3").

    Only complete, gate-passed versions are read; the catalog root defaults to
    the SYNTH_CATALOG_ROOT setting.
    """
    folder = version_folder(name, version, root)
    _check_data_files(folder)  # after this, is_file()/is_dir() below cannot be answered through a link
    single, parts = folder / "data.parquet", folder / "data"  # data/: a partitioned dataset
    if single.is_file() or parts.is_dir():
        path = single if single.is_file() else parts
        try:
            return pd.read_parquet(path)
        except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError, ArrowIOError an OSError
            raise _error(f"{path} cannot be read as Parquet ({type(error).__name__}): the version is damaged; "
                         f"delete the version folder {folder} or restore it") from None
    if (folder / IMAGES_FILE).is_file():
        raise _error(f"{name} {folder.name} is an image dataset; load it with catalog.load_images({name!r})")
    raise _error(f"{folder} holds neither data.parquet nor data/: not a complete tabular version")


#: The array file of a published image version (layout: `synth.images.layout`).
IMAGES_FILE = "images.npz"


def load_images(name: str, version: str | None = None, root: str | Path | None = None, transform=None):
    """The images of a published image dataset as a torch `Dataset` of (image, label) pairs.

    Each image is a float tensor (C, H, W) in [0, 1] (`transform`, if given, is
    applied to it), each label an int; `dataset.class_names[label]` names it.
    Reads `images.npz` of the LATEST (or the given) complete, gate-passed version.
    """
    folder = version_folder(name, version, root)
    _check_data_files(folder)
    if not (folder / IMAGES_FILE).is_file():
        hint = (f"; it is a table, load it with catalog.load({name!r})"
                if (folder / "data.parquet").is_file() or (folder / "data").is_dir() else "")
        raise _error(f"{name} {folder.name} has no {IMAGES_FILE}, so it is not an image dataset{hint}")
    from synth.images.dataset import ImageDataset

    try:
        return ImageDataset.from_published(folder, transform=transform)
    except (OSError, ValueError, KeyError) as error:  # a truncated or edited npz
        raise _error(f"{folder / IMAGES_FILE} cannot be read ({type(error).__name__}): the version is damaged; "
                     f"delete the version folder {folder} or restore it") from None


def model_folder(name: str, version: str | None = None, root: str | Path | None = None) -> Path:
    """The saved generator of a published version, for `synth.models.load_generator`."""
    return version_folder(name, version, root) / "model"


# --- the runs log -----------------------------------------------------------------------------------

#: Where every gate outcome is logged, one JSON line per run: `<root>/.runs/<name>.jsonl`.
#: Hidden, and outside the version folders, so readers never mistake a failed run for a version.
RUNS_FOLDER = ".runs"
#: The checks `synth list` shows, by column.
KEY_SCORES = {"quality": "quality_score", "detection": "detection_auc", "dcr": "dcr_closer_to_training"}


def _run_entry(name: str, card: dict[str, Any], version: str | None, run_id: str | None, run_at: str) -> dict[str, Any]:
    checks = [c for c in card.get("gate", {}).get("checks", []) if isinstance(c, dict) and "name" in c]
    return {
        "run_at": run_at,
        "dataset": name,
        "passed": bool(card.get("gate", {}).get("passed")),
        "version": version,
        "generator": (card.get("generator") or {}).get("kind"),
        "rows": (card.get("output") or {}).get("rows"),
        "scores": {c["name"]: c.get("value") for c in checks if c["name"] in KEY_SCORES.values()},
        "epsilon": (card.get("privacy") or {}).get("epsilon"),
        "failed_checks": [c["name"] for c in checks if c.get("required", True) and not c.get("passed")],
        "flow_run_id": run_id,
    }


def _runs_log(root: Path, name: str) -> Path:
    """`<root>/.runs/<name>.jsonl`, refused when it (or `.runs`) is a link: nothing is appended to or read from
    outside."""
    folder = Path(root) / RUNS_FOLDER
    path = folder / f"{check_name(name)}.jsonl"
    if folder.is_symlink() or path.is_symlink():
        raise _error(f"{path if path.is_symlink() else folder} is a symbolic link; refused: "
                     "the runs log must be a plain file inside the catalog root (remove the link)")
    return path


def _append_run(root: Path, name: str, entry: dict[str, Any]) -> None:
    path = _runs_log(Path(root), name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as log:
        log.write(json.dumps(entry, default=str) + "\n")


def record_run(root: str | Path, name: str, card: dict[str, Any], version: str | None,
               run_id: str | None = None) -> dict[str, Any]:
    """Append one gate outcome (passed and published as `version`, or failed) to the dataset's runs log.

    `card` is the card the run built (a failed run builds it too, it is just not
    published). One short line per run, written with a single append.
    """
    check_name(name)
    entry = _run_entry(name, card, version, run_id, datetime.now(UTC).isoformat(timespec="seconds"))
    _append_run(Path(root), name, entry)
    return entry


def runs(name: str, root: str | Path | None = None) -> list[dict[str, Any]]:
    """Every recorded gate outcome of a dataset, oldest first (empty when none was logged)."""
    path = _runs_log(root_folder(root), name)
    try:
        text = path.read_bytes().decode("utf-8", "replace")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return []
    except OSError as error:
        raise _error(f"cannot read the runs log {path}: {error.strerror}") from None
    entries = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a crash mid-write: skip it, keep the rest
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def reconcile_runs(root: str | Path, name: str) -> list[dict[str, Any]]:
    """Log the published versions that have no runs-log line (the run was killed right after publishing).

    Each gets one line built from its card (its publish time, `"reconciled": true`,
    no flow-run id). Only versions published more than RECONCILE_AFTER_S ago,
    so a publisher that is about to log its own run is never doubled.
    Returns the lines added.
    """
    from synth.errors import CatalogError

    root = Path(root)
    folder = dataset_folder(root, name)
    logged = {e.get("version") for e in runs(name, root)}
    now = datetime.now(UTC)
    added = []
    for version in _versions(folder):
        if version in logged:
            continue
        try:
            card = _read_card_file(folder / version / "card.json")
            published_at = datetime.fromisoformat(str(card.get("published_at")))
        except (CatalogError, ValueError):
            continue  # an unreadable card is shown as such by `synth list`; nothing to log from it
        if published_at.tzinfo is None or (now - published_at).total_seconds() < RECONCILE_AFTER_S:
            continue
        entry = {**_run_entry(name, card, version, None, published_at.isoformat(timespec="seconds")),
                 "reconciled": True}
        _append_run(root, name, entry)
        added.append(entry)
    return added


def _reconcile_quietly(root: Path, name: str) -> None:
    """`reconcile_runs`, for publish: the runs log is a convenience, and a problem with it must not stop a publish."""
    from synth.errors import CatalogError

    try:
        reconcile_runs(root, name)
    except (OSError, CatalogError):
        pass


def summary(root: str | Path | None = None, all_failed: bool = False) -> list[dict[str, Any]]:
    """One row per published version, plus failed runs, newest first within each dataset, for `synth list`.

    Failed runs come from the runs log: by default those after the newest
    published version (is the nightly failing now?); `all_failed` shows every
    one. They have no version: nothing of theirs can be loaded. A version
    whose card cannot be read is listed with gate "unreadable" and an `error`
    saying why, so one damaged version never hides the others.
    """
    from synth.errors import CatalogError

    rows = []
    root = root_folder(root)
    runs_folder = root / RUNS_FOLDER
    logged_names = (sorted(p.stem for p in runs_folder.glob("*.jsonl") if _NAME.fullmatch(p.stem))
                    if runs_folder.is_dir() else [])
    for name in sorted(set(datasets(root)) | set(logged_names)):
        try:
            folder = dataset_folder(root, name)
        except CatalogError:
            continue
        try:
            latest = latest_version(root, name)
        except CatalogError:
            latest = None  # a LATEST that is a link or unreadable: the versions are still listed
        dataset_rows = []
        for version in _versions(folder):
            row = {"dataset": name, "version": version + ("*" if version == latest else "")}
            try:
                card = _read_card_file(folder / version / "card.json")
                _check_data_files(folder / version)
                checks = {c["name"]: c.get("value") for c in card.get("gate", {}).get("checks", [])}
                row.update({
                    "_at": str(card.get("published_at", "")),
                    "when": str(card.get("published_at", "?"))[:16].replace("T", " "),
                    "generator": (card.get("generator") or {}).get("kind", "?"),
                    "rows": (card.get("output") or {}).get("rows"),
                    **{column: checks.get(check) for column, check in KEY_SCORES.items()},
                    "epsilon": (card.get("privacy") or {}).get("epsilon"),
                    "gate": "passed" if card.get("gate", {}).get("passed") else "FAILED",
                })
            except (CatalogError, AttributeError, KeyError, TypeError) as error:
                message = str(error) if isinstance(error, CatalogError) else (
                    f"{folder / version / 'card.json'} is not a valid card ({type(error).__name__}: {error}); "
                    f"restore it, or delete the version folder {folder / version}")
                try:  # placed among the others by when its folder was made
                    made = datetime.fromtimestamp((folder / version).stat().st_mtime, UTC).isoformat(timespec="seconds")
                except OSError:
                    made = ""
                row.update({"_at": made, "when": "?", "generator": "?", "rows": None,
                            **{column: None for column in KEY_SCORES}, "epsilon": None, "gate": "unreadable",
                            "error": message})
            dataset_rows.append(row)
        # recent: logged after the last passed run, and not before the newest version's card;
        # the log in time order (a line reconciled later carries its version's publish time)
        newest = max((r["_at"] for r in dataset_rows), default="")
        try:
            logged = sorted(runs(name, root), key=lambda e: str(e.get("run_at", "")))
        except CatalogError:
            logged = []  # a runs log that is a link, or unreadable: the versions are still listed
        last_passed = max((i for i, e in enumerate(logged) if e.get("passed")), default=-1)
        for i, entry in enumerate(logged):
            at = str(entry.get("run_at", ""))
            if entry.get("passed") or (not all_failed and (i < last_passed or at < newest)):
                continue
            scores = entry.get("scores") if isinstance(entry.get("scores"), dict) else {}
            dataset_rows.append({
                "_at": at, "dataset": name, "version": "-", "when": at[:16].replace("T", " ") or "?",
                "generator": entry.get("generator") or "?",
                "rows": entry.get("rows"),
                **{column: scores.get(check) for column, check in KEY_SCORES.items()},
                "epsilon": entry.get("epsilon"), "gate": "FAILED",
            })
        # newest first; within one second, the one recorded later first
        order = sorted(range(len(dataset_rows)), key=lambda i: (dataset_rows[i]["_at"], i), reverse=True)
        rows += [{k: v for k, v in dataset_rows[i].items() if k != "_at"} for i in order]
    return rows


# --- writing: publish, prune, and the checks before them --------------------------------------------

def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname())[:40] or "host"


def _owner_tag() -> str:
    """`<host>-<pid>`: written into every work name, so a later run can tell whether its creator still lives."""
    return f"{_host()}-{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # exists (another user's), or not a pid we can judge: treat as alive
    return True


def _is_stale(entry: os.DirEntry, now: float) -> bool:
    """A work folder/file left by a process that is gone (this host: age never matters, so a long publish keeps its
    staging), or older than STALE_AFTER_S (another host, or a name that records no creator)."""
    match = _WORK_NAME.fullmatch(entry.name)
    if match and match.group(1) == _host():  # this host: its creator's liveness decides, whatever its age
        return not _alive(int(match.group(2)))
    try:
        return now - entry.stat(follow_symlinks=False).st_mtime > STALE_AFTER_S
    except OSError:
        return False


def clean_stale(folder: str | Path) -> list[str]:
    """Remove `.incoming-*`, `.pruning-*`, `.LATEST-*` and `.probe-*` left in a dataset folder by a killed run.

    Only stale ones: their creating process (recorded in the name) is dead on
    this host, or (made on another host) they are older than STALE_AFTER_S, so a concurrent
    publisher's staging folder is never touched. Best effort; returns what was removed.
    """
    removed, now = [], time.time()
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(_WORK_PREFIXES)]
    except OSError:
        return removed
    for entry in entries:
        if not _is_stale(entry, now):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed.append(entry.name)
        except OSError:
            continue  # another cleaner got there first, or the disk is read-only: leave it
    return removed


def _environment_error(error: OSError, doing: str, hint: str = _ROOT_HINT):
    """One line for an OSError the user can fix (full, read-only, no permission); None for any other (a bug)."""
    if error.errno not in _ENVIRONMENT_ERRORS:
        return None
    reason, fix = _ENVIRONMENT_ERRORS[error.errno]
    return _error(f"{doing}: {reason} ({errno.errorcode[error.errno]}); " + (f"{fix}, or {hint}" if fix else hint))


def _raise_clearly(error: OSError, doing: str, hint: str = _ROOT_HINT) -> NoReturn:
    """Raise `error` as one CatalogError line when the user can fix it (see `_environment_error`), else as it is."""
    clear = _environment_error(error, doing, hint)
    if clear is None:
        raise error
    raise clear from None


def check_publishable(root: str | Path | None, name: str) -> Path:
    """Make sure a version of `name` can be published under `root` before any training starts.

    Creates `<root>/<name>` if needed, then writes, flushes and removes a small
    probe file there. Raises one CatalogError line when the root is a file,
    read-only, not writable or full. Returns the dataset folder.
    """
    root = root_folder(root)
    folder = dataset_folder(root, name)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in [folder, *folder.parents] if p.exists() and not p.is_dir()), root)
        raise _error(f"publish root {root} cannot hold the dataset folder: {blocker} is a file, not a folder; "
                     "set publish.root in the spec (or SYNTH_CATALOG_ROOT) to a folder") from None
    except OSError as error:
        _raise_clearly(error, f"cannot create {folder} under the publish root {root}")
    path = None
    try:
        handle, path = tempfile.mkstemp(prefix=f".probe-{_owner_tag()}-", dir=folder)
        try:
            probe = memoryview(b"\0" * 65536)
            while probe:  # a nearly full disk may take part of a write; the next one then fails
                probe = probe[os.write(handle, probe):]
            os.fsync(handle)
        finally:
            os.close(handle)
    except OSError as error:
        _raise_clearly(error, f"cannot write to the publish folder {folder}")
    finally:
        if path is not None:
            try:
                os.unlink(path)
            except OSError:
                pass
    return folder


def prune(name: str, keep: int, root: str | Path | None = None) -> list[str]:
    """Delete all but the newest `keep` versions; never the one LATEST points at. Returns what was removed.

    Each version is first renamed to a hidden name (readers stop seeing it at
    once), then deleted. Stale work folders of killed runs are removed too.
    Everything after the first check works through one open descriptor of the
    dataset folder (opened without following a link), so swapping the folder
    for a symlink meanwhile cannot redirect a rename or a delete.
    """
    if not isinstance(keep, int) or keep < 1:
        raise _error(f"--keep must be at least 1 (the LATEST version is never pruned), got {keep}")
    root = root_folder(root)
    folder = dataset_folder(root, name)
    if not _versions(folder):
        raise _error(f"no dataset {name!r} in the catalog at {root}; published: {datasets(root) or 'none'}")
    clean_stale(folder)
    try:
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:  # ELOOP/ENOTDIR: the folder was swapped for a link or a file since it was checked
        raise _error(f"cannot open the dataset folder {folder} ({error.strerror}); refused: it must be a real folder "
                     "inside the catalog root") from None
    try:
        return _prune_in(folder, dir_fd, name, keep, root)
    finally:
        os.close(dir_fd)


def _prune_in(folder: Path, dir_fd: int, name: str, keep: int, root: Path) -> list[str]:
    """`prune`'s work, every step relative to `dir_fd` (the open dataset folder); `folder` only names it in messages."""
    removed: list[tuple[str, str]] = []
    failure = None
    fix = f"make the catalog root {root} writable (e.g. remount it read-write) and prune again"
    # 1. under the dataset lock, so a publisher cannot move LATEST between our read of it and the renames
    with _dataset_lock(folder, f"cannot prune {name} (nothing was removed)", fix, dir_fd=dir_fd):
        published = _versions(folder, dir_fd)
        latest = _latest(folder, published, dir_fd)
        for version in [v for v in published[: max(len(published) - keep, 0)] if v != latest]:
            hidden = f".pruning-{_owner_tag()}-{version}"
            try:
                os.rename(version, hidden, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except OSError as error:
                failure = (error, version)
                break
            removed.append((version, hidden))  # gone for readers from here on
    # 2. delete what was renamed (outside the lock: readers and publishers no longer see it)
    for version, hidden in removed:
        try:
            shutil.rmtree(hidden, dir_fd=dir_fd)
        except OSError as error:
            raise _error(f"{name} {version} is no longer in the catalog, but deleting {folder / hidden} failed: "
                         f"{error.strerror}; delete that folder by hand") from None
    if failure is not None:
        error, version = failure
        done = f"removed so far: {', '.join(v for v, _ in removed)}" if removed else "nothing was removed"
        _raise_clearly(error, f"cannot prune {name}: renaming {folder / version} failed ({done})", fix)
    return [version for version, _ in removed]


@contextmanager
def _dataset_lock(folder: Path, doing: str, hint: str = _ROOT_HINT, dir_fd: int | None = None) -> Iterator[None]:
    """Hold an exclusive flock on `<folder>/.lock` (created with the umask's modes, never through a link).

    Serialises the read-compare-write of LATEST between publishers, and prune's
    read of LATEST and its renames against them; other processes and threads
    alike (each call opens its own file description). A lock file that cannot
    be made (read-only or full root) is one CatalogError line. With `dir_fd`, the lock is made in that open folder.
    """
    try:
        handle = os.open(folder / LOCK_FILE if dir_fd is None else LOCK_FILE,
                         os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o666, dir_fd=dir_fd)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise _error(f"{folder / LOCK_FILE} is a symbolic link; refused: remove it (it is recreated as a plain "
                         "file)") from None
        _raise_clearly(error, f"{doing}: cannot create the lock file {folder / LOCK_FILE}", hint)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # closing the last descriptor releases the lock


def _umask() -> int:
    """The process umask, read without changing it where the OS allows (changing it races with other threads)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:  # elsewhere: set and restore at once, under a lock
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


_UMASK_LOCK = threading.Lock()


def _apply_umask(folder: Path, mask: int) -> None:
    """Give `folder` and everything in it the modes mkdir/open would under `mask` (mkdtemp and mkstemp give
    0700/0600)."""
    for current, _, files in os.walk(folder):  # does not follow symlinked folders
        os.chmod(current, 0o777 & ~mask)
        for file_name in files:
            path = os.path.join(current, file_name)
            mode = os.lstat(path).st_mode
            if stat.S_ISREG(mode):  # never chmod through a symlink
                os.chmod(path, (0o777 if mode & stat.S_IXUSR else 0o666) & ~mask)


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
    version folder (e.g. "report.html", "validation/extra.json") to a file or
    folder that is copied there before the version becomes visible. Returns
    the published folder. A full, read-only or unwritable root is one
    CatalogError line, with nothing left behind.
    """
    from synth.errors import CatalogError

    root = Path(root)
    dataset_dir = dataset_folder(root, name)
    try:
        dataset_dir.mkdir(parents=True, exist_ok=True)
        clean_stale(dataset_dir)
        _reconcile_quietly(root, name)
        staging = Path(tempfile.mkdtemp(prefix=f".incoming-{_owner_tag()}-", dir=dataset_dir))
    except OSError as error:
        _raise_clearly(error, f"cannot publish {name} to {dataset_dir}")
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
            if (destination.resolve().parent != staging.resolve()
                    and staging.resolve() not in destination.resolve().parents):
                raise ValueError(f"attachment {relative!r} would land outside the version folder")
            destination.parent.mkdir(parents=True, exist_ok=True)
            if Path(source).is_dir():
                shutil.copytree(source, destination)
            else:
                shutil.copy2(source, destination)
        _apply_umask(staging, _umask())  # readable by whoever the umask allows, as a plain mkdir would be
        model_files = sorted(p.relative_to(staging / "model").as_posix()
                             for p in (staging / "model").rglob("*") if p.is_file())

        # 2. claim the next version number by renaming; a concurrent publisher
        #    that took it first makes the rename fail, and we take the next one
        existing = _versions(dataset_dir)
        number = int(existing[-1][1:]) + 1 if existing else 1
        while True:
            version = f"v{number}"
            _write_card(staging, {**card, "name": name, "version": version, "model_files": model_files})
            interrupts.check()  # after Ctrl-C / SIGTERM nothing is committed (the rename below is the commit)
            try:
                os.rename(staging, dataset_dir / version)
                break
            except OSError:
                if not (dataset_dir / version).exists():
                    raise
                number += 1
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(error, OSError):
            _raise_clearly(error, f"cannot publish {name} to {dataset_dir}")
        raise
    # 3. only now point LATEST at it (write-then-rename is atomic on POSIX); a concurrent
    #    publisher that already pointed it at a newer version keeps it
    try:
        with _dataset_lock(dataset_dir, f"cannot publish {name}"):  # read, compare and write as one step
            current = _read_latest(dataset_dir)
            match = _VERSION.fullmatch(current or "")
            if not match or int(match.group(1)) < number or current not in _versions(dataset_dir):
                _atomic_write(dataset_dir / LATEST, version + "\n")
    except (OSError, CatalogError) as error:  # roll back: a version LATEST never pointed at is not published
        hidden = dataset_dir / f".pruning-{_owner_tag()}-{version}"
        try:
            os.rename(dataset_dir / version, hidden)
            shutil.rmtree(hidden, ignore_errors=True)
            done = "nothing was published"
        except OSError:
            done = f"{version} is in place but LATEST still points at the previous version"
        if isinstance(error, CatalogError):  # a LATEST or lock that is a link, or a lock file that cannot be made
            raise _error(f"{error} ({done})") from None
        _raise_clearly(error, f"cannot update {dataset_dir / LATEST} ({done})")
    return dataset_dir / version


def _atomic_write(path: Path, text: str) -> None:
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}-{_owner_tag()}-", dir=path.parent)
    try:
        os.fchmod(handle, 0o666 & ~_umask())  # mkstemp makes 0600; LATEST is read by everyone the umask allows
        with os.fdopen(handle, "w") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _write_card(folder: Path, card: dict[str, Any]) -> None:
    card = {**card, "published_at": datetime.now(UTC).isoformat(timespec="seconds")}
    (folder / "card.json").write_text(json.dumps(card, indent=2, default=str))
    (folder / "card.md").write_text(render_card(card))


# --- card.md: every user-controlled value is escaped ------------------------------------------------

#: Markdown renderers pass raw HTML through, so &, < and > become entities; the other characters that
#: start markdown constructs (links, code, emphasis, table cells, headings) are backslash-escaped.
_MD_SPECIAL = {"&": "&amp;", "<": "&lt;", ">": "&gt;", **{c: "\\" + c for c in "\\`*[]|#"}}
_LINE_BREAKS = re.compile(r"[\t\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SAFE_LINK = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]*")
#: What GitHub/GitLab autolink in plain text (`https://x`, `www.x`, `a@b.c`); an entity in the middle renders the
#: same characters but is no longer recognised, so the text never becomes a link.
_AUTOLINK = re.compile(r"://|(?i:www)\.|@")
_AUTOLINK_BREAK = {"://": "&#58;//", "@": "&#64;"}


def _md(value: Any) -> str:
    """`value` as inline markdown text that renders as exactly that text: no HTML, no link (bare URLs included),
    one line.

    Lists and dicts keep their brackets, with each item escaped; control
    characters (which could drive a terminal that prints card.md) become U+FFFD.
    """
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_md(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_md(k)}: {_md(v)}" for k, v in value.items()) + "}"
    text = _CONTROL.sub("\ufffd", _LINE_BREAKS.sub(" ", str(value)))
    text = "".join(_MD_SPECIAL.get(c, c) for c in text)
    return _AUTOLINK.sub(lambda m: _AUTOLINK_BREAK.get(m.group(0), m.group(0)[:3] + "&#46;"), text)


def _code(value: Any) -> str:
    """`value` as a markdown code span (shown verbatim, HTML never interpreted): a fence longer than any run of
    backticks inside, so the value cannot close it; one line. Not for table cells (a pipe would split the cell)."""
    text = _CONTROL.sub("\ufffd", _LINE_BREAKS.sub(" ", str(value)))
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_tree(value: Any) -> Any:
    """Every string inside `value` escaped with `_md` (numbers and structure kept), for templates written elsewhere."""
    if isinstance(value, str):
        return _md(value)
    if isinstance(value, dict):
        return {k: _md_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_md_tree(v) for v in value]
    return value


def _link(label: str, target: Any) -> str:
    """A markdown link to a file inside the version folder; anything else is shown as text, never linked."""
    target = str(target)
    if _SAFE_LINK.fullmatch(target) and ".." not in target.split("/"):
        return f"[{_md(label)}]({target})"
    return f"{_md(label)} ({_md(target)})"


def render_card(card: dict[str, Any]) -> str:
    """The dataset card as Markdown: how it was made and how it scored.

    Everything that comes from the user or the data (name, description, paths,
    column names, categories, spec values, check details) is escaped, so the
    page shows it as text and no HTML or link in it reaches a reader.
    """
    src, gen, split, out = card["source"], card["generator"], card["split"], card["output"]
    gate = card["gate"]
    partitions = (f" ({out['partitions']} Parquet partitions, every row schema-checked; the other checks scored "
                  f"a random {out['gate_sample_rows']:,} rows)" if out.get("partitions") else "")
    files = card.get("model_files")
    saved = f"as {' + '.join(_code(f) for f in files)} " if files else ""
    lines = [
        f"# {_md(card['name'])} {_md(card['version'])}",
        "",
        *[_md(line) for line in str(card.get("description") or "").splitlines()],
        "",
        f"Published {_md(card['published_at'])}. Synthetic rows: **{out['rows']:,}** in "
        f"{_code(out.get('file', 'data.parquet'))}"
        f"{partitions}. Gate: **{'passed' if gate['passed'] else 'FAILED'}** ({len(gate['checks'])} checks).",
        "",
        *([f"Evidence: {_link('report.html', card['report'])} (checks and plots, self-contained; each GX suite's "
           f"result as JSON under {_code('validation/')})", ""] if card.get("report") else []),
        "## Source",
        f"- file: {_code(src['path'])} ({_md(src['format'])}), sha256 {_code(src['sha256'])}",
        f"- {src['rows']:,} rows × {len(src['columns'])} columns; target column: {_md(card.get('target') or 'none')}",
        f"- split (seed {_md(split['seed'])}): {split['train_rows']:,} training rows, "
        f"{split['holdout_rows']:,} holdout rows never seen by the generator",
        "",
        "## Generator",
        f"- kind: {_code(gen['kind'])} on {_code(gen['device'])}, seed {_md(gen['seed'])}",
        "- hyperparameters: " + ", ".join(f"{_md(k)}={_md(v)}" for k, v in gen["hyperparameters"].items()),
        "- final losses: " + ", ".join(f"{_md(k)} {v:.4f}" for k, v in (gen.get("final_losses") or {}).items()),
        *_training_line(gen),
        f"- saved under `model/` {saved}(safetensors and JSON: no pickle, no training rows)",
        "",
        *_privacy_section(card),
        *_columns_section(card),
        *_constraints_section(card),
        "## Timings (seconds)",
        "| " + " | ".join(_md(k) for k in card["timings"]) + " |",
        "|" + "---|" * len(card["timings"]),
        "| " + " | ".join(f"{v:.1f}" for v in card["timings"].values()) + " |",
        "",
        "## Checks",
        "| suite | check | passed | observed | required | detail |",
        "|---|---|---|---|---|---|",
    ]
    for c in gate["checks"]:
        cells = [_md(c["suite"]), _md(c["name"]), "yes" if c["passed"] else "**no**", _md(c["value"]),
                 _md(c["threshold"]), _md(c.get("detail", ""))]
        lines.append("| " + " | ".join(cells) + " |")
    scored = (gate.get("details") or {}).get("scored") or {}
    if scored:  # large outputs: which checks read every row and which a stated random sample
        lines += ["", "## Rows scored", *(f"- {_md(checks)}: {_md(rows)}" for checks, rows in scored.items())]
    lines += ["", "## Package versions", ", ".join(f"{_md(k)} {_md(v)}" for k, v in card["packages"].items()), ""]
    return "\n".join(lines)


def _training_line(gen: dict[str, Any]) -> list[str]:
    """One line on why training stopped (synth.models.stopping); none for a model not trained in epochs."""
    stopped = gen.get("training")
    if not stopped:
        return []
    hyper = gen.get("hyperparameters") or {}
    why = {
        "epochs": "all planned epochs ran",
        "max_minutes": f"the time budget ran out (max_minutes={_md(hyper.get('max_minutes'))})",
        "early_stopping": (f"early stopping: the {_md(stopped.get('metric'))} did not improve for "
                           f"{_md(hyper.get('patience'))} scores in a row"),
    }.get(stopped["reason"], _md(stopped["reason"]))
    line = f"- training stopped after epoch {stopped['epoch']:,} of {stopped['epochs']:,}: {why}"
    if stopped.get("best_epoch") is not None:
        score = stopped.get("score")
        shown = f"{score:.4f}" if isinstance(score, (int, float)) else "n/a"
        line += f"; kept the weights of epoch {stopped['best_epoch']:,} ({_md(stopped.get('metric'))} {shown})"
    return [line]


def _columns_section(card: dict[str, Any]) -> list[str]:
    """What profiling found in each column the generator treated specially, and what it did (synth.column_plan)."""
    if not card.get("columns"):
        return []
    lines = ["## Columns", "| column | detected | done |", "|---|---|---|"]
    lines += [f"| {_md(c['column'])} | {_md(c['detected'])} | {_md(c['done'])} |" for c in card["columns"]]
    return lines + [""]


def _constraints_section(card: dict[str, Any]) -> list[str]:
    """Each declared constraint, how sampling kept it, and the share of candidate rows it rejected."""
    if not card.get("constraints"):
        return []
    lines = ["## Constraints", "Every published row keeps each rule; the gate checked it again.", "",
             "| constraint | kept by | candidate rows rejected |", "|---|---|---|"]
    for c in card["constraints"]:
        rate = f"{c['rejection_rate']:.2%}" if "rejection_rate" in c else "none (exact)"
        lines.append(f"| {_md(c['constraint'])} | {_md(c['enforced_by'])} | {rate} |")
    return lines + [""]


def _privacy_section(card: dict[str, Any]) -> list[str]:
    """The privacy ledger of a differentially private version (nothing for the others); its strings escaped."""
    if not card.get("privacy"):
        return []
    from synth.privacy.ledger import ledger_markdown

    return ledger_markdown(_md_tree(card["privacy"]))
