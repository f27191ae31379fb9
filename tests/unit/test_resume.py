"""Resumable training (synth.models.checkpoint, synth.resume): interrupted after epoch k and resumed, every
generator that checkpoints trains bitwise the same model as an uninterrupted run; a changed spec or data is refused."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from synth.errors import GeneratorInputError, ModelError, SpecError
from synth.models import build_generator
from synth.models.checkpoint import CURRENT, STATE_NAME, TENSORS_NAME, TrainingCheckpoint, latest, read
from synth.resume import check_resume, checkpoint_folder, discard_checkpoints, training_checkpoint, training_fingerprint
from synth.spec import spec_from_dict
from tests.conftest import TINY, mixed_table
from tests.unit.test_image_generators import TINY as TINY_IMAGES
from tests.unit.test_image_generators import tiny_images

EPOCHS = 3
#: Each generator that checkpoints, at a size that trains in about a second, for EPOCHS epochs.
KINDS = {
    "ctgan": ({**TINY["ctgan"], "epochs": EPOCHS}, lambda: mixed_table(300)),
    "tvae": ({**TINY["tvae"], "epochs": EPOCHS}, lambda: mixed_table(300)),
    "tab_ddpm": ({**TINY["tab_ddpm"], "steps": 3 * EPOCHS}, lambda: mixed_table(300)),  # 3 batches of 100 an epoch
    "ddpm": ({**TINY_IMAGES["ddpm"], "epochs": EPOCHS}, lambda: tiny_images(48)),
    "dcgan": ({**TINY_IMAGES["dcgan"], "epochs": EPOCHS}, lambda: tiny_images(48)),
    "conv_vae": ({**TINY_IMAGES["conv_vae"], "epochs": EPOCHS}, lambda: tiny_images(48)),
}
FINGERPRINT = {"generator.epochs": str(EPOCHS), "data.sha256": "a" * 64}


class Interrupted(Exception):
    """Stands in for Ctrl-C or a kill inside fit."""


class StopAfter(TrainingCheckpoint):
    """Checkpoints every epoch, then interrupts the training right after epoch `stop` was saved."""

    def __init__(self, folder, stop: int, **kwargs):
        super().__init__(folder, FINGERPRINT, every_minutes=0, **kwargs)
        self.stop = stop

    def end_of_epoch(self, epoch, total, parts, history):
        super().end_of_epoch(epoch, total, parts, history)
        if epoch == self.stop:
            raise Interrupted(f"after epoch {epoch}")


def weights(model, folder) -> dict[str, torch.Tensor]:
    """Every tensor the saved model holds, by file and name."""
    from safetensors.torch import load_file

    model.save(folder)
    return {f"{f.name}:{k}": v for f in sorted(folder.glob("*.safetensors")) for k, v in load_file(str(f)).items()}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_resumed_training_gives_bitwise_the_same_model(kind, tmp_path):
    hyper, data = KINDS[kind]
    train = data()
    build = lambda: build_generator(kind, hyper, device="cpu", seed=3, verbose=False)  # noqa: E731

    uninterrupted = build().fit(train)
    with pytest.raises(Interrupted):
        build().fit(train, checkpoint=StopAfter(tmp_path / "ckpt", stop=2))
    assert read(latest(tmp_path / "ckpt"))[0]["epoch"] == 2
    torch.manual_seed(123)  # the caller's RNG is elsewhere now: the checkpoint's RNG state must win
    resumed = build().fit(train, checkpoint=TrainingCheckpoint(tmp_path / "ckpt", FINGERPRINT, resume=True,
                                                               every_minutes=0))

    expected, got = weights(uninterrupted, tmp_path / "a"), weights(resumed, tmp_path / "b")
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), f"{kind}: {name} differs after resuming"
    assert resumed.loss_history_ == uninterrupted.loss_history_  # the losses before the interruption come back too


def test_checkpoint_layout_is_safetensors_and_json_without_pickle_or_rows(tmp_path):
    table = mixed_table(300)
    hyper = KINDS["ctgan"][0]
    with pytest.raises(Interrupted):
        build_generator("ctgan", hyper, device="cpu", seed=0, verbose=False).fit(
            table, checkpoint=StopAfter(tmp_path, stop=1))
    current = latest(tmp_path)
    assert (tmp_path / CURRENT).read_text().strip() == current.name
    assert sorted(p.name for p in current.iterdir()) == [STATE_NAME, TENSORS_NAME]
    assert sorted(p.name for p in tmp_path.iterdir()) == [CURRENT, current.name]  # no older or incoming folders
    state, tensors = read(current)
    assert state["epoch"] == 1 and state["epochs"] == EPOCHS and state["fingerprint"] == FINGERPRINT
    assert {p["type"] for p in state["parts"].values()} == {"module", "optimizer"}
    assert tensors["rng.cpu"].dtype == torch.uint8
    assert any(k.startswith("opt_g.state.") and k.endswith(".exp_avg") for k in tensors)
    # nothing of the training rows: no tensor has a row per training row
    assert all(len(t.shape) == 0 or t.shape[0] != len(table) for t in tensors.values())


def test_cadence_every_n_epochs_and_always_the_last(tmp_path):
    saved = []

    class Counting(TrainingCheckpoint):
        def save(self, epoch, total, parts, history):
            saved.append(epoch)
            return super().save(epoch, total, parts, history)

    hyper = {**KINDS["tvae"][0], "epochs": 5}
    checkpoint = Counting(tmp_path, FINGERPRINT, every_minutes=60, every_epochs=2)
    build_generator("tvae", hyper, device="cpu", seed=0, verbose=False).fit(mixed_table(300), checkpoint=checkpoint)
    assert saved == [2, 4, 5]
    assert len(checkpoint.write_seconds) == 3
    assert read(latest(tmp_path))[0]["epoch"] == 5


def test_resume_refuses_a_different_fingerprint_naming_what_changed(tmp_path):
    hyper = KINDS["tvae"][0]
    with pytest.raises(Interrupted):
        build_generator("tvae", hyper, device="cpu", seed=0, verbose=False).fit(
            mixed_table(300), checkpoint=StopAfter(tmp_path, stop=1))
    changed = {**FINGERPRINT, "data.sha256": "b" * 64}
    with pytest.raises(SpecError, match=r"\(data\.sha256: aaaaaaaaaaaa… → bbbbbbbbbbbb…\); "
                                        r"undo the change, or run without --resume"):
        build_generator("tvae", hyper, device="cpu", seed=0, verbose=False).fit(
            mixed_table(300), checkpoint=TrainingCheckpoint(tmp_path, changed, resume=True))


def test_resume_without_a_checkpoint_and_corrupt_checkpoints_are_one_clear_error(tmp_path):
    hyper = KINDS["tvae"][0]
    fit = lambda folder: build_generator("tvae", hyper, device="cpu", seed=0, verbose=False).fit(  # noqa: E731
        mixed_table(300), checkpoint=TrainingCheckpoint(folder, FINGERPRINT, resume=True))
    with pytest.raises(ModelError, match="no checkpoint to resume from; run without --resume"):
        fit(tmp_path / "none")
    with pytest.raises(Interrupted):
        build_generator("tvae", hyper, device="cpu", seed=0, verbose=False).fit(
            mixed_table(300), checkpoint=StopAfter(tmp_path, stop=1))
    tensors = latest(tmp_path) / TENSORS_NAME
    tensors.write_bytes(tensors.read_bytes()[:100])  # truncated
    with pytest.raises(ModelError, match="tensors are unreadable"):
        fit(tmp_path)
    (tmp_path / CURRENT).write_text("../../etc\n")  # a pointer out of the folder is not followed
    with pytest.raises(ModelError, match="not a complete checkpoint"):
        fit(tmp_path)


def test_an_unwritable_checkpoint_folder_warns_and_training_goes_on(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    checkpoint = TrainingCheckpoint(blocker / "ckpt", FINGERPRINT, every_minutes=0)
    with pytest.warns(UserWarning, match="could not write a training checkpoint"):
        model = build_generator("tvae", KINDS["tvae"][0], device="cpu", seed=0, verbose=False).fit(
            mixed_table(300), checkpoint=checkpoint)
    assert len(model.loss_history_) == EPOCHS


def test_checkpoints_respect_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with pytest.raises(Interrupted):
            build_generator("tvae", KINDS["tvae"][0], device="cpu", seed=0, verbose=False).fit(
                mixed_table(300), checkpoint=StopAfter(tmp_path / "ckpt", stop=1))
    finally:
        os.umask(old)
    current = latest(tmp_path / "ckpt")
    assert current.stat().st_mode & 0o777 == 0o755
    assert (current / STATE_NAME).stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "ckpt" / CURRENT).stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("kind", ["dp_ctgan", "dp_tvae"])
def test_private_generators_refuse_checkpoints(kind, tmp_path):
    with pytest.raises(GeneratorInputError, match="does not checkpoint or resume"):
        build_generator(kind, {"epochs": 1}, device="cpu", seed=0, verbose=False).fit(
            mixed_table(300), checkpoint=TrainingCheckpoint(tmp_path, FINGERPRINT))


# -- the pipeline side: synth.resume ---------------------------------------------------------------
def _spec(tmp_path, **changes):
    path = tmp_path / "table.csv"
    if not path.exists():
        mixed_table(300).to_csv(path, index=False)
    raw = {"name": "resumable", "source": {"path": str(path)}, "generator": {"kind": "tvae", **KINDS["tvae"][0]},
           "publish": {"root": str(tmp_path / "catalog")}, **changes}
    return spec_from_dict(json.loads(json.dumps(raw)))


def _interrupted_run(spec, tmp_path):
    """What the flow's train task does, interrupted after epoch 1."""
    from synth.data import fingerprint, load_table, split_holdout

    table = load_table(spec.source)
    train, _ = split_holdout(table, spec.holdout_fraction, spec.seed)
    checkpoint = training_checkpoint(spec, train, fingerprint(spec.source.path), "cpu")
    stop = StopAfter(checkpoint.folder, stop=1)
    stop.fingerprint = checkpoint.fingerprint
    with pytest.raises(Interrupted):
        build_generator("tvae", spec.generator.hyperparameters(), device="cpu", seed=spec.seed, verbose=False).fit(
            train, checkpoint=stop)
    return table


def test_check_resume_accepts_the_same_run_and_names_each_change(tmp_path):
    from synth.data import load_table

    spec = _spec(tmp_path)
    assert checkpoint_folder(spec) == tmp_path / "catalog" / ".runs" / "checkpoints" / "resumable"
    with pytest.raises(SpecError, match="no checkpoint of an interrupted run of 'resumable'"):
        check_resume(spec, load_table(spec.source), "spec.yaml", "cpu")
    table = _interrupted_run(spec, tmp_path)
    assert check_resume(spec, table, "spec.yaml", "cpu").startswith("resuming resumable after epoch 1 of 3")
    # publishing keys and the cadence may change; the model's may not
    assert check_resume(_spec(tmp_path, rows=50, checkpoint={"every_minutes": 1}), table, "spec.yaml", "cpu")
    for changes, named in [({"seed": 1}, "seed: 0 → 1"), ({"holdout_fraction": 0.3}, "holdout_fraction: 0.2 → 0.3")]:
        with pytest.raises(SpecError, match=f"spec.yaml: cannot resume: .*{named}.*training rows"):
            check_resume(_spec(tmp_path, **changes), table, "spec.yaml", "cpu")
    bigger = _spec(tmp_path, generator={"kind": "tvae", **KINDS["tvae"][0], "epochs": 9})
    with pytest.raises(SpecError, match="generator.epochs: 3 → 9"):
        check_resume(bigger, table, "spec.yaml", "cpu")
    with pytest.raises(SpecError, match="device: cpu → cuda"):
        check_resume(spec, table, "spec.yaml", "cuda")
    # the data: a column changed in the source file
    edited = table.copy()
    edited["age"] += 1
    edited.to_csv(spec.source.path, index=False)
    with pytest.raises(SpecError, match=r"data\.sha256: .*training rows"):
        check_resume(spec, edited, "spec.yaml", "cpu")
    discard_checkpoints(spec)
    assert not (tmp_path / "catalog" / ".runs" / "checkpoints").exists()


def test_two_runs_of_one_name_keep_their_own_checkpoints(tmp_path):
    """Review item 6: a finishing run removes its own checkpoints, never those of another run of the same name."""
    from synth.data import load_table

    spec, other = _spec(tmp_path), _spec(tmp_path, seed=1)
    table = _interrupted_run(spec, tmp_path)
    _interrupted_run(other, tmp_path)
    runs = sorted(checkpoint_folder(spec).iterdir())
    assert len(runs) == 2 and all(latest(run) is not None for run in runs)
    discard_checkpoints(other)
    assert [latest(run) is not None for run in checkpoint_folder(spec).iterdir()] == [True]
    assert check_resume(spec, table, "spec.yaml", "cpu").startswith("resuming resumable after epoch 1 of 3")
    with pytest.raises(SpecError, match="cannot resume: .*seed: 0 → 1"):  # the other's is gone: compared with this one
        check_resume(other, load_table(other.source), "spec.yaml", "cpu")
    discard_checkpoints(spec)
    assert not (tmp_path / "catalog" / ".runs" / "checkpoints").exists()


@pytest.mark.parametrize("linked", [".runs", ".runs/checkpoints", ".runs/checkpoints/resumable"])
def test_a_link_in_the_checkpoint_area_is_refused_and_nothing_outside_is_removed(tmp_path, linked):
    """Review item 6: rmtree through a linked `.runs` (or below) would delete outside the catalog root."""
    from synth.errors import CatalogError

    spec = _spec(tmp_path)
    _interrupted_run(spec, tmp_path)
    (tmp_path / "catalog" / ".runs" / "checkpoints" / "resumable").rename(tmp_path / "saved")
    outside = tmp_path / "outside"
    (outside / ".runs" / "checkpoints" / "resumable").mkdir(parents=True)
    os.rename(tmp_path / "saved", outside / ".runs" / "checkpoints" / "resumable" / "keep")
    target = tmp_path / "catalog" / linked
    if target.exists():
        os.rename(target, tmp_path / "moved")
    target.symlink_to(outside / linked, target_is_directory=True)
    with pytest.raises(CatalogError, match=f"{linked}: a symbolic link in the catalog's checkpoint area"):
        discard_checkpoints(spec)
    with pytest.raises(CatalogError, match="a symbolic link"):
        training_checkpoint(spec, mixed_table(10), "s" * 64, "cpu")
    kept = list((outside / ".runs" / "checkpoints" / "resumable" / "keep").iterdir())
    assert len(kept) == 1 and latest(kept[0]) is not None


@pytest.mark.parametrize("changes, named", [
    ({"generator": {"kind": "gaussian_copula"}}, "generator.kind gaussian_copula fits in one pass"),
    ({"checkpoint": None}, "checkpoint: null turns checkpoints off"),
    ({"privacy": {"epsilon": 3}}, "privacy: a differentially private training is not resumed"),
])
def test_specs_that_cannot_resume_say_why(tmp_path, changes, named):
    from synth.data import load_table

    spec = _spec(tmp_path, **changes)
    with pytest.raises(SpecError, match=f"spec.yaml: --resume: {named}"):
        check_resume(spec, load_table(spec.source), "spec.yaml", "cpu")
    assert training_checkpoint(spec, None, "", "cpu") is None  # and such runs write no checkpoints


def test_fingerprint_of_images_covers_pixels_labels_and_classes(tmp_path):
    images = tiny_images(48)
    spec = spec_from_dict({"name": "digits", "source": {"format": "sklearn_digits"}, "generator": {"kind": "dcgan"}})
    base = training_fingerprint(spec, images, "s" * 64, "cpu")
    changed = images.subset(np.arange(47))
    assert training_fingerprint(spec, changed, "s" * 64, "cpu")["training rows"] != base["training rows"]
    assert training_fingerprint(spec, images, "s" * 64, "cpu") == base
