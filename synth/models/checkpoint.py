"""Checkpoints of a training run, so that a long training survives an interruption.

A checkpoint holds everything a training loop carries from one epoch to the
next: the networks' weights and buffers (batch-norm statistics, an EMA copy),
the optimisers' state (Adam's moments and step counts), torch's RNG state
(the CPU generator, and the CUDA device's when training there) and the
losses so far. Restored at an epoch boundary, the remaining epochs draw the
same random numbers and make the same updates as an uninterrupted run, so on
a CPU the resumed model is bitwise the same (tests/unit/test_resume.py).
Everything a loop builds *before* its first epoch (the encoded table, the
samplers, the networks' shapes) is rebuilt from the same seed and data, and
never stored: a checkpoint holds no training row. What decides when training
stops (synth.models.stopping: the time used, early stopping's counters) is
`carry`-ed as plain JSON, and the best weights so far as extra parts.

No pickle: tensors go into safetensors, everything else is plain JSON.
Optimiser state dicts are flattened (each tensor under
`<part>.state.<param index>.<key>`, the rest into `state.json`):

    <folder>/
        CURRENT                     # "epoch-00012-3f9a0c": replaced atomically once that folder is complete
        epoch-00012-3f9a0c/
            state.json              # epoch, fingerprint, losses, carried state, optimisers, which tensor is what
            tensors.safetensors     # weights, buffers, optimiser moments, RNG states

A checkpoint is written into a hidden `.incoming-*` folder, renamed to its
final name, and only then named in `CURRENT` (write a temporary file, then
rename), so a kill at any moment leaves the previous checkpoint readable.
Older checkpoint folders and `.incoming-*` leftovers of a killed run are
removed after each successful write. Files and folders are created with the
process's umask, like the catalog's.

When: at the end of an epoch once `every_minutes` have passed since the last
save (default 10; 0 saves every epoch), every `every_epochs` epochs if set,
and after the last epoch (an interruption while sampling or validating then
resumes without training again). A checkpoint that cannot be written (a full
disk) is a warning, not a failure: the training itself goes on.

Which run a checkpoint belongs to is its `fingerprint` (a flat dict of
strings chosen by the caller, e.g. `synth.resume`: the spec's model fields,
the data's sha256, the training split, the device); `start` refuses to
resume from a checkpoint whose fingerprint differs, naming what changed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from synth.errors import ModelError, SpecError

#: The file naming the current checkpoint folder.
CURRENT = "CURRENT"
STATE_NAME = "state.json"
TENSORS_NAME = "tensors.safetensors"
FORMAT_VERSION = 1
#: Default cadence: save at the end of the first epoch that ends this long after the last save.
EVERY_MINUTES = 10.0

#: What a training loop hands over to be checkpointed, by name: its networks and its optimisers.
Part = nn.Module | torch.optim.Optimizer


class NoCheckpoint:
    """What `fit` uses when no checkpoint is asked for: start at epoch 0, never save."""

    #: What the last checkpoint carried besides parts and losses (see `carry`); a fresh start has nothing.
    carried: dict[str, Any] = {}

    def start(self, parts: dict[str, Part], history: list, device: torch.device) -> int:
        return 0

    def carry(self, state: dict[str, Any]) -> None:
        """Plain JSON the next save holds besides parts and losses (the training stop's counters,
        synth.models.stopping); `start` gives it back as `carried` when resuming."""

    def end_of_epoch(self, epoch: int, total: int, parts: dict[str, Part], history: list) -> None:
        return None


NO_CHECKPOINT = NoCheckpoint()


class TrainingCheckpoint(NoCheckpoint):
    """Periodic checkpoints of one training run in `folder`, and resuming from the last one.

    `fit(data, checkpoint=...)` calls `start` once its networks and
    optimisers exist and right before its first epoch, and `end_of_epoch`
    after each epoch; both take the same named `parts`.
    """

    def __init__(self, folder: str | Path, fingerprint: dict[str, str], *, resume: bool = False,
                 every_minutes: float = EVERY_MINUTES, every_epochs: int | None = None):
        self.folder = Path(folder)
        self.fingerprint = {str(k): str(v) for k, v in fingerprint.items()}
        self.resume = resume
        self.every_minutes = every_minutes
        self.every_epochs = every_epochs
        #: seconds each write took (measured; the flow logs them)
        self.write_seconds: list[float] = []
        #: the epoch `start` resumed after (None: a fresh start)
        self.resumed_from: int | None = None
        #: what the next save carries besides parts and losses (`carry`); after `start`, what the last one carried
        self.carried: dict[str, Any] = {}

    # -- the two calls a training loop makes --------------------------------------------
    def start(self, parts: dict[str, Part], history: list, device: torch.device) -> int:
        """Resuming: load the last checkpoint into `parts` and `history`, restore the RNG, return the epoch
        to continue from. Otherwise: 0. Call it right before the first epoch, after everything that draws
        random numbers while setting up (weight initialisation, samplers)."""
        self._device = torch.device(device)
        self._last_save = time.monotonic()
        if not self.resume:
            return 0
        found = latest(self.folder)
        if found is None:
            raise ModelError(f"{self.folder}: no checkpoint to resume from; run without --resume to start fresh")
        state, tensors = read(found)
        check_fingerprint(state, self.fingerprint, found)
        for name, part in parts.items():
            layout = state["parts"].get(name)
            if layout is None:
                what = (f"no best weights for early stopping ({name!r}): a run without early_stopping saved it"
                        if name.startswith("best_") else f"no {name!r}")  # synth.models.stopping's parts
                raise ModelError(f"{found}: the checkpoint has {what}; run without --resume to start fresh")
            _load_part(name, part, layout, tensors, found)
        _set_rng(tensors, self._device)
        history[:] = state["loss_history"]
        carried = state.get("carry")  # absent in checkpoints written before it existed
        self.carried = dict(carried) if isinstance(carried, dict) else {}
        self.resumed_from = int(state["epoch"])
        return self.resumed_from

    def carry(self, state: dict[str, Any]) -> None:
        self.carried = dict(state)

    def end_of_epoch(self, epoch: int, total: int, parts: dict[str, Part], history: list) -> None:
        """`epoch` epochs of `total` are done: save a checkpoint if one is due."""
        last = epoch == total
        by_epochs = self.every_epochs is not None and epoch % self.every_epochs == 0
        by_time = time.monotonic() - self._last_save >= self.every_minutes * 60
        if last or by_epochs or by_time:
            self.save(epoch, total, parts, history)

    # -- writing ---------------------------------------------------------------------------
    def save(self, epoch: int, total: int, parts: dict[str, Part], history: list) -> Path | None:
        """Write a checkpoint now (atomically: see the module docstring); None, with a warning, if the disk refused."""
        from safetensors.torch import save_file

        started = time.perf_counter()
        tensors: dict[str, torch.Tensor] = {}
        layout: dict[str, Any] = {}
        for name, part in parts.items():
            layout[name] = _flatten_part(name, part, tensors)
        tensors.update(_rng_tensors(self._device))
        state = {
            "format_version": FORMAT_VERSION,
            "epoch": epoch,
            "epochs": total,
            "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "fingerprint": self.fingerprint,
            "loss_history": list(history),
            "carry": self.carried,
            "parts": layout,
        }
        token = secrets.token_hex(4)
        incoming = self.folder / f".incoming-{token}"
        final = self.folder / f"epoch-{epoch:05d}-{token}"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            incoming.mkdir()  # not tempfile.mkdtemp: that ignores the umask (always 0700)
            save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(incoming / TENSORS_NAME))
            (incoming / STATE_NAME).write_text(json.dumps(state, indent=1))
            for path in (incoming / TENSORS_NAME, incoming / STATE_NAME):
                _fsync(path)
            os.rename(incoming, final)
            _replace_text(self.folder / CURRENT, final.name + "\n")
        except OSError as error:  # a full or read-only disk: the training goes on without this checkpoint
            shutil.rmtree(incoming, ignore_errors=True)
            warnings.warn(f"could not write a training checkpoint to {self.folder} ({error}); training continues",
                          stacklevel=2)
            return None
        except BaseException:  # interrupted mid-write: leave no half-written folder behind
            shutil.rmtree(incoming, ignore_errors=True)
            raise
        self._last_save = time.monotonic()
        self._remove_all_but(final)
        self.write_seconds.append(time.perf_counter() - started)
        return final

    def _remove_all_but(self, keep: Path) -> None:
        """Older checkpoints of this folder and `.incoming-*` leftovers of a killed run."""
        for path in self.folder.iterdir():
            if path.is_symlink():  # never written here: never followed (rmtree would refuse it anyway)
                continue
            if path.is_dir() and path != keep and path.name.startswith((".incoming-", "epoch-")):
                shutil.rmtree(path, ignore_errors=True)
            elif path.is_file() and path.name.startswith(f".{CURRENT}-"):  # a pointer update cut short
                path.unlink(missing_ok=True)


# -- reading ------------------------------------------------------------------------------------
def latest(folder: str | Path) -> Path | None:
    """The current checkpoint folder under `folder`, or None when there is none."""
    pointer = Path(folder) / CURRENT
    try:
        name = pointer.read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise ModelError(f"{pointer}: cannot read the checkpoint pointer "
                         f"({getattr(error, 'strerror', None) or type(error).__name__}); "
                         f"delete {folder} and run without --resume to start fresh") from None
    found = Path(folder) / name
    if not name.startswith("epoch-") or "/" in name or found.is_symlink() or not found.is_dir():
        raise ModelError(f"{pointer}: names {name[:80]!r}, which is not a complete checkpoint here; "
                         f"delete {folder} and run without --resume to start fresh")
    return found


def read_state(checkpoint: Path) -> dict[str, Any]:
    """A checkpoint's `state.json` (epoch, epochs, saved_at, fingerprint, ...)."""
    path = Path(checkpoint) / STATE_NAME
    try:
        state = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"{path}: the checkpoint's state is unreadable ({type(error).__name__}); "
                         f"delete {checkpoint.parent} and run without --resume to start fresh") from None
    expected = {"parts": dict, "fingerprint": dict, "loss_history": list, "epoch": int, "epochs": int}
    if (not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION
            or not all(isinstance(state.get(key), kind) for key, kind in expected.items())):
        raise ModelError(f"{path}: not a synth training checkpoint of format {FORMAT_VERSION}; "
                         f"delete {checkpoint.parent} and run without --resume to start fresh")
    return state


def read(checkpoint: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """A checkpoint's state and its tensors (on the CPU)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    state = read_state(checkpoint)
    try:
        tensors = load_file(str(Path(checkpoint) / TENSORS_NAME), device="cpu")
    except (OSError, SafetensorError) as error:
        raise ModelError(f"{Path(checkpoint) / TENSORS_NAME}: the checkpoint's tensors are unreadable "
                         f"({str(error).splitlines()[0][:200] if str(error) else type(error).__name__}); "
                         f"delete {checkpoint.parent} and run without --resume to start fresh") from None
    return state, tensors


def changes(saved: dict[str, str], now: dict[str, str]) -> list[str]:
    """What differs between two fingerprints, one "key: before → now" each (long hashes shortened)."""
    def show(value: str | None) -> str:
        if value is None:
            return "(not set)"
        if len(value) == 64 and all(c in "0123456789abcdef" for c in value):
            return value[:12] + "…"  # a sha256
        return value if len(value) <= 60 else value[:57] + "…"

    return [f"{key}: {show(saved.get(key))} → {show(now.get(key))}"
            for key in sorted(set(saved) | set(now)) if saved.get(key) != now.get(key)]


def check_fingerprint(state: dict[str, Any], fingerprint: dict[str, str], where: Path) -> None:
    """Refuse (one line, naming what changed) to resume a checkpoint made by a different spec, data or split."""
    different = changes(state.get("fingerprint", {}), fingerprint)
    if different:
        shown = "; ".join(different[:5]) + (f"; and {len(different) - 5} more" if len(different) > 5 else "")
        raise SpecError(f"cannot resume: the checkpoint in {where.parent} was made by a different run ({shown}); "
                        "undo the change, or run without --resume to start fresh")


def discard(folder: str | Path) -> None:
    """Remove every checkpoint under `folder` (the run's training part is over), the folder itself, and its
    parent and grandparent once empty (`synth.resume`'s `<name>/` and `checkpoints/`).

    The caller checks that no part of `folder`'s path is a link (`synth.resume.checkpoint_folder`);
    `folder` itself being one is refused here too, as rmtree would follow nothing but the link's target.
    """
    folder = Path(folder)
    if folder.is_symlink():
        raise ModelError(f"{folder}: a symbolic link where a checkpoint folder should be; remove the link")
    shutil.rmtree(folder, ignore_errors=True)
    for parent in (folder.parent, folder.parent.parent):
        try:
            parent.rmdir()  # only once empty: another run's checkpoints keep it
        except OSError:
            break


# -- parts: modules, optimisers and RNG as tensors + JSON ------------------------------------------
def _flatten_part(name: str, part: Part, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Add `part`'s tensors to `tensors` under `name.`; return the JSON that puts them back together."""
    if isinstance(part, nn.Module):
        for key, value in part.state_dict().items():
            tensors[f"{name}.{key}"] = value
        return {"type": "module"}
    if isinstance(part, torch.optim.Optimizer):
        saved = part.state_dict()
        state: dict[str, Any] = {}
        for index, values in saved["state"].items():
            entry: dict[str, Any] = {"tensors": [], "values": {}}
            for key, value in values.items():
                if torch.is_tensor(value):
                    tensors[f"{name}.state.{index}.{key}"] = value
                    entry["tensors"].append(key)
                else:
                    entry["values"][key] = value  # plain numbers (optimisers other than Adam)
            state[str(index)] = entry
        return {"type": "optimizer", "param_groups": saved["param_groups"], "state": state}
    raise TypeError(f"cannot checkpoint {name!r}: {type(part).__name__} is neither an nn.Module nor an optimiser")


def _load_part(name: str, part: Part, layout: dict[str, Any], tensors: dict[str, torch.Tensor], where: Path) -> None:
    try:
        if isinstance(part, nn.Module):
            prefix = f"{name}."
            part.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        else:
            # JSON has no tuples: give back the type the optimiser uses now (Adam's betas)
            now = part.state_dict()["param_groups"]
            if len(now) != len(layout["param_groups"]):
                raise ValueError(f"{len(layout['param_groups'])} parameter groups saved, {len(now)} now")
            groups = [{k: tuple(v) if isinstance(current.get(k), tuple) else v for k, v in saved.items()}
                      for saved, current in zip(layout["param_groups"], now, strict=True)]
            state = {int(index): {**entry["values"],
                                  **{k: tensors[f"{name}.state.{index}.{k}"] for k in entry["tensors"]}}
                     for index, entry in layout["state"].items()}
            part.load_state_dict({"state": state, "param_groups": groups})
    except (RuntimeError, KeyError, ValueError) as error:
        raise ModelError(f"{where}: {name!r} does not fit the network this spec builds "
                         f"({str(error).splitlines()[0][:200]}); run without --resume to start fresh") from None


def _rng_tensors(device: torch.device) -> dict[str, torch.Tensor]:
    """torch's RNG states as uint8 tensors: the CPU generator, and the CUDA device's when training there."""
    states = {"rng.cpu": torch.get_rng_state()}
    if device.type == "cuda":
        states["rng.cuda"] = torch.cuda.get_rng_state(device)
    return states


def _set_rng(tensors: dict[str, torch.Tensor], device: torch.device) -> None:
    if device.type == "cuda" and "rng.cuda" not in tensors:
        raise ModelError("the checkpoint was saved while training on the CPU, so it cannot continue on CUDA "
                         "with the same random numbers; set SYNTH_DEVICE=cpu, or run without --resume")
    torch.set_rng_state(tensors["rng.cpu"])
    if device.type == "cuda":
        torch.cuda.set_rng_state(tensors["rng.cuda"], device)


# -- files ---------------------------------------------------------------------------------------
def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _replace_text(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (temporary file, then rename), with the umask's permissions."""
    tmp = path.with_name(f".{path.name}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "x") as out:  # mode 0666 & ~umask, unlike tempfile.mkstemp's 0600
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
