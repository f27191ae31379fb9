"""Where a run stages the gate's evidence before publishing: inside the catalog root, never in /tmp.

The evidence (GX Data Docs, report.html, partitions, a model copy for Dask
workers) is derived from real rows, so it stays on the disk the catalog's
owner chose: `<root>/.staging/<name>-<pid>-<random>/`, hidden (readers and
`synth list` skip dot-folders) and removed when the run ends, however it
ends short of kill -9. A folder whose run was killed is removed by the next
run that stages under the same root: each folder names its run's host and
process (`owner`: host, pid and start time), and one whose process on this
host is gone is stale (another host's, only after a day).
While the folder exists, Python's temporary files (`tempfile`, used by GX's
Data Docs site and Dask) go into its `tmp/` as well. Being on the catalog's
disk also makes moving partitions into the version a rename, not a copy.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flows.local_server import process_token, token_alive
from synth.errors import CatalogError

STAGING = ".staging"
OWNER = "owner"


#: A staging folder that cannot be judged by its process (no owner file yet, or written by another host
#: sharing the catalog's disk) is stale only after this long: no gate and publish take a day.
UNJUDGED_STALE_AFTER_S = 24 * 3600


def _owner() -> str:
    return f"{socket.gethostname()} {process_token()}"


def remove_stale(root: Path) -> list[Path]:
    """Remove staging folders under `root` whose run is no longer alive; returns what was removed."""
    removed = []
    if (Path(root) / STAGING).is_symlink():  # never follow a link out of the catalog root to delete there
        return removed
    for folder in sorted((Path(root) / STAGING).glob("*")):
        try:
            host, _, token = (folder / OWNER).read_text().partition(" ")
        except OSError:  # no owner file: created this instant by a live run, or killed before writing it
            host, token = None, ""
        if host == socket.gethostname():
            stale = not token_alive(token)
        else:
            try:
                stale = time.time() - folder.stat().st_mtime > UNJUDGED_STALE_AFTER_S
            except OSError:  # removed meanwhile
                continue
        if stale:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


@contextmanager
def evidence_folder(root: Path, name: str) -> Iterator[Path]:
    """A fresh private staging folder for one run under `root`, removed at the end of the block."""
    base = Path(root) / STAGING
    try:
        for attempt in range(5):  # a run ending now may remove the empty .staging between our mkdir and mkdtemp
            base.mkdir(parents=True, exist_ok=True)
            remove_stale(root)
            try:
                folder = Path(tempfile.mkdtemp(prefix=f"{name}-{process_token().partition(':')[0]}-", dir=base))
                break
            except FileNotFoundError:
                if attempt == 4:
                    raise
    except OSError as error:
        raise CatalogError(f"publish root {root}: cannot create a staging folder in it ({error.strerror}); "
                           "make it a writable folder or set publish.root / SYNTH_CATALOG_ROOT to one") from None
    previous_tmp, own_tmp = tempfile.tempdir, str(folder / "tmp")
    try:
        (folder / OWNER).write_text(_owner())
        # libraries' temporary files during the gate and publish (GX's docs site, Dask's spill) stay here too
        (folder / "tmp").mkdir()
        tempfile.tempdir = own_tmp
        yield folder
    finally:
        # only if it is still ours (a pipeline started meanwhile in this process set its own, and restores it),
        # and never back to a folder that is gone (an enclosing pipeline's, which ended first): then the default
        if tempfile.tempdir == own_tmp:
            tempfile.tempdir = previous_tmp if previous_tmp is None or Path(previous_tmp).is_dir() else None
        shutil.rmtree(folder, ignore_errors=True)
        try:
            base.rmdir()  # only when empty: no other run is staging here
        except OSError:
            pass


FAILED = ".failed"
#: Failed runs kept per dataset name (the oldest go first).
FAILED_KEPT = 5
#: Synthetic rows kept with a failed run's report, for a look at what the model made.
FAILED_SAMPLE_ROWS = 200


def keep_failed_run(root: Path, name: str, evidence: Path, synthetic, gate: dict) -> Path | None:
    """Move a failed run's evidence to `<root>/.failed/<name>/<UTC time>-<pid>/`: report.html, gate.json and a
    small sample of the synthetic rows, so a failure can be inspected without loosening a threshold.

    Inside the catalog root (it is derived from real rows, like the staging folder) and hidden: `synth list` and
    `catalog.load` never read dot-folders, and `.failed` is not a dataset name. The last `FAILED_KEPT` runs per
    name are kept. Returns the folder, or None when it could not be written (a failed run must still say why it
    failed, so this never raises)."""
    import json
    import os

    base = Path(root) / FAILED / name
    if (Path(root) / FAILED).is_symlink() or base.is_symlink():  # never write through a link out of the root
        return None
    try:
        base.mkdir(parents=True, exist_ok=True)
        folder = base / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{os.getpid()}"
        folder.mkdir()
        if (evidence / "report.html").is_file():
            shutil.move(str(evidence / "report.html"), folder / "report.html")
        (folder / "gate.json").write_text(json.dumps(gate, indent=2, default=str))
        sample = synthetic.sample(min(FAILED_SAMPLE_ROWS, len(synthetic)), random_state=0)
        sample.to_csv(folder / "synthetic_sample.csv", index=False)
        for old in sorted(p for p in base.iterdir() if p.is_dir() and not p.is_symlink())[:-FAILED_KEPT]:
            shutil.rmtree(old, ignore_errors=True)
        return folder
    except OSError:
        return None
