"""`synth run SPEC --resume` (issue 13, item 15): Ctrl-C in the middle of training, then --resume, publishes bitwise
the model an uninterrupted run trains; every --resume that cannot continue is refused before anything starts, with
exit 2 and one line naming the spec and what is wrong, and nothing published.

The refusals run in this process (they fail before Prefect is touched); their checkpoints are made by the library,
interrupted after an epoch. The Ctrl-C case runs real `synth` subprocesses in their own process group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml

from synth import catalog
from synth.data import fingerprint, load_table, split_holdout
from synth.models import build_generator
from synth.models.checkpoint import CURRENT, STATE_NAME, latest, read_state
from synth.resume import checkpoint_folder, training_checkpoint, training_fingerprint
from synth.spec import load_spec
from tests.conftest import ADULT_COLUMNS, ROOT
from tests.hostile.conftest import SYNTH, leftovers, synth_env

RELAXED = {  # 300 rows cannot reach the default bars; these tests are about resuming
    "min_quality": 0, "min_column_shapes": 0, "min_pair_trends": 0, "max_detection_auc": 1.0, "max_dcr_share": 1.0,
    "max_membership_auc": 1.0, "null_tolerance": 1, "max_exact_copy_rate": 1.0,
}
TINY_TVAE = {
    "kind": "tvae", "epochs": 4, "batch_size": 100, "compress_dims": [16], "decompress_dims": [16], "embedding_dim": 8,
}


@pytest.fixture(scope="module")
def source(tmp_path_factory, adult) -> Path:
    path = tmp_path_factory.mktemp("resume-data") / "adult_300.data"
    adult.sample(300, random_state=3).to_csv(path, header=False, index=False, na_rep="?")
    return path


def write_spec(folder: Path, source: Path, **changes) -> Path:
    raw = {
        "name": "resumable", "seed": 0, "rows": 150,
        "source": {"path": str(source), "header": False, "columns": ADULT_COLUMNS, "na_values": ["?"]},
        "generator": dict(TINY_TVAE), "validation": dict(RELAXED), "publish": {"root": str(folder / "published")},
        **changes,
    }
    path = folder / "resumable.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


class _Stop(Exception):
    pass


def interrupt_training(spec_path: Path, after: int = 1) -> Path:
    """Train the spec's generator as the flow would, with a checkpoint after every epoch, and stop after `after`."""
    spec = load_spec(spec_path)
    train, _ = split_holdout(load_table(spec.source), spec.holdout_fraction, spec.seed)
    checkpoint = training_checkpoint(spec, train, fingerprint(spec.source.path), "cpu")
    checkpoint.every_minutes = 0
    save = checkpoint.end_of_epoch

    def end_of_epoch(epoch, total, parts, history):
        save(epoch, total, parts, history)
        if epoch == after:
            raise _Stop

    checkpoint.end_of_epoch = end_of_epoch
    with pytest.raises(_Stop):
        build_generator(spec.generator.kind, spec.generator.hyperparameters(), device="cpu", seed=spec.seed,
                        verbose=False).fit(train, checkpoint=checkpoint)
    return checkpoint.folder


def run_folder(spec_path: Path) -> Path:
    """The checkpoint folder of the spec's run on the CPU: `<name>/<run key>` (`synth.resume`)."""
    spec = load_spec(spec_path)
    train, _ = split_holdout(load_table(spec.source), spec.holdout_fraction, spec.seed)
    return checkpoint_folder(spec, training_fingerprint(spec, train, fingerprint(spec.source.path), "cpu"))


def nothing_published(root: Path) -> None:
    assert catalog.versions_of(root, "resumable") == []
    assert leftovers(root) == []


# -- refused before anything starts ----------------------------------------------------------------------
def test_resume_without_a_checkpoint(cli, source, tmp_path):
    spec = write_spec(tmp_path, source)
    line = cli("run", spec, "--resume").one_line_error(2, str(spec), "--resume", "no checkpoint of an interrupted run",
                                                      "run without --resume")
    assert ".runs/checkpoints/resumable" in line
    nothing_published(tmp_path / "published")


@pytest.mark.parametrize("change, named", [
    (["--set", "seed=1"], "seed: 0 → 1"),
    (["--set", "generator.embedding_dim=4"], "generator.embedding_dim: 8 → 4"),
    (["--set", "holdout_fraction=0.3"], "holdout_fraction: 0.2 → 0.3"),
    (["--set", "source.na_values=[]"], "source.na_values"),
])
def test_resume_refuses_a_changed_spec_naming_the_key(cli, source, tmp_path, change, named):
    spec = write_spec(tmp_path, source)
    folder = interrupt_training(spec)
    cli("run", spec, *change, "--resume").one_line_error(2, str(spec), "cannot resume", named, "run without --resume")
    nothing_published(tmp_path / "published")
    assert latest(folder) is not None  # a refused resume leaves the checkpoint for the right spec


def test_resume_refuses_changed_data(cli, source, tmp_path):
    data = tmp_path / "copy.data"
    data.write_bytes(source.read_bytes())
    spec = write_spec(tmp_path, data)
    interrupt_training(spec)
    lines = data.read_text().splitlines()
    data.write_text("\n".join(lines[:-1]) + "\n")  # one row fewer
    cli("run", spec, "--resume").one_line_error(2, str(spec), "cannot resume", "data.sha256", "training rows")
    nothing_published(tmp_path / "published")


@pytest.mark.parametrize("changes, named", [
    ({"generator": {"kind": "gaussian_copula"}}, "gaussian_copula fits in one pass"),
    ({"privacy": {"epsilon": 3}}, "privacy: a differentially private training is not resumed"),
    ({"checkpoint": None}, "checkpoint: null turns checkpoints off"),
])
def test_specs_that_do_not_resume_say_why(cli, source, tmp_path, changes, named):
    spec = write_spec(tmp_path, source, **changes)
    cli("run", spec, "--resume").one_line_error(2, str(spec), "--resume", named)
    nothing_published(tmp_path / "published")


def test_a_corrupt_checkpoint_is_one_line(cli, source, tmp_path):
    spec = write_spec(tmp_path, source)
    folder = interrupt_training(spec)
    (latest(folder) / STATE_NAME).write_text('{"format_version": 1, "epo')  # cut short
    cli("run", spec, "--resume").one_line_error(2, STATE_NAME, "unreadable", "run without --resume")
    (folder / CURRENT).write_text("../../../../etc\n")  # a pointer out of the checkpoint folder is never followed
    cli("run", spec, "--resume").one_line_error(2, CURRENT, "not a complete checkpoint")
    nothing_published(tmp_path / "published")


def test_a_linked_checkpoint_area_is_refused_and_left_alone(cli, source, tmp_path):
    """Review item 6: a `.runs` that links out of the catalog root is never followed (rmtree would delete there)."""
    spec = write_spec(tmp_path, source)
    folder = interrupt_training(spec)
    root = tmp_path / "published"
    outside = tmp_path / "elsewhere"
    os.rename(root / ".runs", outside)
    (root / ".runs").symlink_to(outside, target_is_directory=True)
    cli("run", spec, "--resume").one_line_error(
        2, ".runs", "a symbolic link in the catalog's checkpoint area", "remove the link")
    assert latest(outside / folder.relative_to(root / ".runs")) is not None
    assert catalog.versions_of(root, "resumable") == []


def test_resume_takes_one_spec(cli, source, tmp_path):
    spec = write_spec(tmp_path, source)
    other = tmp_path / "other.yaml"
    other.write_text(spec.read_text().replace("name: resumable", "name: other"))
    cli("run", spec, other, "--resume").one_line_error(2, "--resume continues one interrupted run")
    nothing_published(tmp_path / "published")


# -- Ctrl-C while training, then --resume ------------------------------------------------------------------
def test_ctrl_c_while_training_then_resume_publishes_the_uninterrupted_model(source, tmp_path):
    epochs = 1000
    spec = write_spec(tmp_path, source, generator={**TINY_TVAE, "epochs": epochs},
                      checkpoint={"every_minutes": 60, "every_epochs": 10})
    root = tmp_path / "published"
    env = synth_env(OMP_NUM_THREADS="1", SYNTH_PREFECT_SERVER_IDLE="10")
    folder = checkpoint_folder(load_spec(spec))  # the name's folder; this run's checkpoints are in `run` below it
    run = run_folder(spec)

    # 1. a run, Ctrl-C (SIGINT to its process group, as a terminal sends it) once a checkpoint exists
    with open(tmp_path / "first.err", "w") as err:
        first = subprocess.Popen([*SYNTH, "run", spec], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 240
        while latest(run) is None and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.poll() is None, (
            f"the run ended before its first checkpoint:\n{(tmp_path / 'first.err').read_text()}")
        os.killpg(first.pid, signal.SIGINT)
        assert first.wait(timeout=60) == 130
    saved = read_state(latest(run))["epoch"]
    assert 10 <= saved < epochs, saved
    nothing_published(root)

    # 2. --resume continues after that epoch and publishes
    done = subprocess.run([*SYNTH, "run", spec, "--resume"], cwd=ROOT, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert f"resuming resumable after epoch {saved} of {epochs}" in done.stdout
    assert catalog.versions_of(root, "resumable") == ["v1"]
    assert not folder.exists() and leftovers(root) == []  # the run is over: its checkpoints are gone

    # 3. the published model is bitwise the one an uninterrupted training makes
    from safetensors.torch import load_file

    loaded = load_spec(spec)
    train, _ = split_holdout(load_table(loaded.source), loaded.holdout_fraction, loaded.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        reference = build_generator("tvae", loaded.generator.hyperparameters(), device="cpu", seed=loaded.seed,
                                    verbose=False).fit(train).save(tmp_path / "reference")
    finally:
        torch.set_num_threads(threads)
    published = root / "resumable" / "v1" / "model"
    for weights in sorted(p.name for p in reference.glob("*.safetensors")):
        expected, got = load_file(str(reference / weights)), load_file(str(published / weights))
        assert expected.keys() == got.keys()
        assert all(torch.equal(expected[k], got[k]) for k in expected), (
            f"{weights} differs from the uninterrupted model")
