"""Hostile inputs and faults for the catalog (issue 13, items 1, 5, 7, 8, 9, 13).

Names that escape the root, symlinked dataset folders, damaged cards and
pointers, read-only and full roots, stale staging folders of killed runs.
Each case asserts the exit code, one line naming what was wrong, no
traceback, and that nothing outside the catalog was read, deleted or left.
None of them trains a model: every `synth run` case must stop before
training (the flow is replaced by one that fails the test if it starts).
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from synth import catalog
from synth.errors import CatalogError
from tests.hostile.conftest import leftovers
from tests.unit.test_catalog import CARD, FakeModel

LATEST_NAME = catalog.LATEST


def _publish(root: Path, name: str = "demo", card: dict | None = None) -> Path:
    return catalog.publish(root, name, synthetic=pd.DataFrame({"a": [1, 2, 3]}), model=FakeModel(),
                           card=card or CARD, validation={"gate": {"passed": True}})


@pytest.fixture()
def catalog_root(tmp_path) -> Path:
    """A catalog with demo v1..v3, and beside it (outside the root) a decoy that looks like a dataset."""
    root = tmp_path / "root"
    for _ in range(3):
        _publish(root)
    for outside in (tmp_path / "x", tmp_path / "other" / "x"):
        for version in ("v1", "v2", "v3"):
            (outside / version).mkdir(parents=True)
            (outside / version / "card.json").write_text(json.dumps({"gate": {"passed": True}}))
            (outside / version / "card.md").write_text("SECRET outside the catalog")
        (outside / "LATEST").write_text("v3\n")
    return root


def _decoys_intact(tmp_path: Path) -> None:
    for outside in (tmp_path / "x", tmp_path / "other" / "x"):
        assert sorted(p.name for p in outside.iterdir()) == ["LATEST", "v1", "v2", "v3"]


# --- 1. names that escape the root --------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../x", "../other/x", "..", ".", "x/..", "demo/../../x", ".hidden", "a\nb", "", "a b",
                                  "x;rm", "a" * 101, "c:\\x"])
def test_prune_refuses_a_name_outside_the_pattern_and_deletes_nothing(cli, catalog_root, tmp_path, name):
    line = cli("prune", name, "--keep", "1", "--root", catalog_root).one_line_error(
        2, "dataset name", "letters, digits")
    assert "synth prune: error:" in line
    _decoys_intact(tmp_path)
    assert catalog.versions_of(catalog_root, "demo") == ["v1", "v2", "v3"]


def test_prune_refuses_an_absolute_path(cli, catalog_root, tmp_path):
    cli("prune", tmp_path / "x", "--keep", "1", "--root", catalog_root).one_line_error(
        2, str(tmp_path / "x"), "not valid")
    _decoys_intact(tmp_path)


def test_prune_through_the_settings_root_refuses_a_relative_escape(cli, catalog_root, tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTH_CATALOG_ROOT", str(catalog_root))
    cli("prune", "../x", "--keep", "1").one_line_error(2, "'../x'")
    _decoys_intact(tmp_path)


@pytest.mark.parametrize("name", ["../other/x", "../x", str(Path("/") / "etc"), "../x@v1"])
def test_show_refuses_a_name_outside_the_root_and_reads_nothing(cli, catalog_root, name):
    outcome = cli("show", name, "--root", catalog_root)
    outcome.one_line_error(2, "dataset name", "not valid")
    assert "SECRET" not in outcome.out + outcome.err


@pytest.mark.parametrize("version", ["../../x/v1", "2", "v1/..", "", "v1@v2", "V1", "v-1", "v1 "])
def test_show_refuses_a_malformed_version(cli, catalog_root, version):
    cli("show", f"demo@{version}", "--root", catalog_root).one_line_error(2, "version", "v1, v2")


def test_a_dataset_folder_linked_outside_the_root_is_refused(cli, catalog_root, tmp_path):
    (catalog_root / "linked").symlink_to(tmp_path / "x", target_is_directory=True)
    outcome = cli("show", "linked", "--root", catalog_root)
    outcome.one_line_error(2, "linked", "outside the catalog root")
    assert "SECRET" not in outcome.out
    cli("prune", "linked", "--keep", "1", "--root", catalog_root).one_line_error(
        2, "linked", "outside the catalog root")
    _decoys_intact(tmp_path)
    with pytest.raises(CatalogError, match="outside the catalog root"):
        _publish(catalog_root, "linked")
    _decoys_intact(tmp_path)
    assert not list((tmp_path / "x").glob(".incoming-*"))
    # and `synth list` does not list what lies outside
    assert cli("list", "--root", catalog_root).code == 0
    assert "linked" not in cli("list", "--root", catalog_root).out


def test_a_version_folder_linked_outside_is_not_a_version(cli, catalog_root, tmp_path):
    (catalog_root / "demo" / "v9").symlink_to(tmp_path / "x" / "v1", target_is_directory=True)
    assert catalog.versions_of(catalog_root, "demo") == ["v1", "v2", "v3"]
    cli("show", "demo@v9", "--root", catalog_root).one_line_error(2, "no version 'v9'")
    assert cli("prune", "demo", "--keep", "1", "--root", catalog_root).code == 0
    _decoys_intact(tmp_path)


@pytest.mark.parametrize("call", [
    lambda root: catalog.load("../x", root=root),
    lambda root: catalog.load("demo", "../../x/v1", root=root),
    lambda root: catalog.load_images("../x", root=root),
    lambda root: catalog.read_card("/abs", root=root),
    lambda root: catalog.model_folder("..", root=root),
    lambda root: catalog.versions_of(root, "../x"),
    lambda root: catalog.prune("../x", 1, root=root),
    lambda root: catalog.runs("../x", root),
    lambda root: catalog.record_run(root, "../x", CARD, None),
    lambda root: catalog.check_publishable(root, "../x"),
    lambda root: _publish(root, "../x"),
], ids=["load", "load-version", "load_images", "read_card", "model_folder", "versions_of", "prune", "runs",
        "record_run", "check_publishable", "publish"])
def test_every_library_entry_point_validates_the_name(catalog_root, tmp_path, call):
    with pytest.raises(CatalogError, match="is not valid"):
        call(catalog_root)
    _decoys_intact(tmp_path)
    assert not (tmp_path / ".runs").exists() and not list(tmp_path.glob("*.incoming-*"))


# --- 8. damaged cards and pointers: one bad version never hides the others ------------------------------

@pytest.mark.parametrize("damage", ['{"name": "demo", "gate": {"pa', "", "[1, 2]", '{"gate": 3}', "\xff\xfe"])
def test_a_damaged_card_is_one_line_and_list_still_shows_the_others(cli, catalog_root, damage):
    card_path = catalog_root / "demo" / "v2" / "card.json"
    card_path.write_bytes(damage.encode("latin-1"))
    outcome = cli("list", "--root", catalog_root)
    assert outcome.code == 0 and "Traceback" not in outcome.err
    rows = [line.split() for line in outcome.out.splitlines()[1:]]
    assert [(r[1], r[-1]) for r in rows] == [("v3*", "passed"), ("v2", "unreadable"), ("v1", "passed")]
    warnings = outcome.err.splitlines()
    assert len(warnings) == 1 and str(card_path) in warnings[0] and "warning" in warnings[0]
    cli("show", "demo@v2", "--root", catalog_root).one_line_error(2, str(card_path))
    with pytest.raises(CatalogError, match="card.json"):
        catalog.load("demo", "v2", root=catalog_root)
    assert catalog.load("demo", root=catalog_root)["a"].tolist() == [1, 2, 3]  # LATEST is fine


def test_a_damaged_latest_card_is_one_line_for_show_and_load(cli, catalog_root):
    (catalog_root / "demo" / "v3" / "card.json").write_text('{"gate": {"passed": tr')
    cli("show", "demo", "--root", catalog_root).one_line_error(2, "v3/card.json", "not valid JSON")
    with pytest.raises(CatalogError, match="not valid JSON"):
        catalog.model_folder("demo", root=catalog_root)


@pytest.mark.parametrize("pointer", ["../../x/v1", "v9", "garbage\n\n\nmore", "\x00\xff"])
def test_a_latest_pointing_nowhere_is_one_line_and_blocks_prune(cli, catalog_root, tmp_path, pointer):
    (catalog_root / "demo" / LATEST_NAME).write_bytes(pointer.encode("latin-1"))
    cli("show", "demo", "--root", catalog_root).one_line_error(2, "LATEST", "not a published version")
    cli("prune", "demo", "--keep", "1", "--root", catalog_root).one_line_error(2, "LATEST")
    assert catalog.versions_of(catalog_root, "demo") == ["v1", "v2", "v3"]
    _decoys_intact(tmp_path)
    assert cli("show", "demo@v2", "--root", catalog_root).code == 0  # a named version still works


def test_a_damaged_data_file_is_one_line(catalog_root):
    (catalog_root / "demo" / "v3" / "data.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(CatalogError, match="data.parquet cannot be read as Parquet"):
        catalog.load("demo", root=catalog_root)


def test_a_card_md_that_is_missing_is_one_line(cli, catalog_root):
    (catalog_root / "demo" / "v3" / "card.md").unlink()
    cli("show", "demo", "--root", catalog_root).one_line_error(2, "card.md")


# --- read-only and full roots (real mounts: tests run as root here and in CI) --------------------------

def _mount(target: Path, options: str) -> bool:
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True)
    return done.returncode == 0


@pytest.fixture()
def tmpfs(tmp_path):
    """Mount a small tmpfs under tmp_path (`mount(name, size, read_only=False, fill=None)`); unmounted afterwards.

    Read-only: mounted writable, filled by `fill(folder)`, then remounted ro,
    exactly as a disk that turned read-only. Without the right to mount, the
    test falls back to failing the system calls (see each test's fallback).
    """
    mounted = []

    def mount(name: str, size: str = "1m", read_only: bool = False, fill=None) -> Path | None:
        target = tmp_path / name
        if not _mount(target, f"size={size}"):
            return None
        mounted.append(target)
        if fill:
            fill(target)
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(target)], check=True, capture_output=True)
        return target

    yield mount
    for target in reversed(mounted):
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def _refuse(monkeypatch, code: int, module, name: str) -> None:
    """Fallback where this machine cannot mount: make `module.name` fail as that file system would."""
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(module, name, fail)


def test_prune_on_a_read_only_root_is_one_line_and_renames_nothing(cli, tmpfs, tmp_path, monkeypatch):
    root = tmpfs("ro_catalog", read_only=True, fill=lambda r: [_publish(r) for _ in range(3)])
    if root is None:  # cannot mount (not root): a read-only file system answers the first rename with EROFS
        root = tmp_path / "fallback"
        for _ in range(3):
            _publish(root)
        _refuse(monkeypatch, errno.EROFS, os, "rename")
    line = cli("prune", "demo", "--keep", "1", "--root", root).one_line_error(
        2, "read-only", "demo", "nothing was removed")
    assert "EROFS" in line and "v1" in line
    monkeypatch.undo()
    assert catalog.versions_of(root, "demo") == ["v1", "v2", "v3"] and leftovers(root) == []


def test_publish_on_a_full_disk_is_one_line_and_leaves_nothing(tmpfs, tmp_path):
    root = tmpfs("full", size="64k")
    model = FakeModel()
    if root is None:  # cannot mount (not root): the model's weights are what no longer fit
        root = tmp_path / "fallback"

        class Full(FakeModel):
            def save(self, folder):
                folder.mkdir()
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        model = Full()
    else:
        _fill(root)
    big = pd.DataFrame({"a": range(50_000)})
    with pytest.raises(CatalogError, match=r"no space left.*ENOSPC.*publish.root") as caught:
        catalog.publish(root, "demo", synthetic=big, model=model, card=CARD, validation={"gate": {}})
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 400
    assert leftovers(root) == [] and not catalog.versions_of(root, "demo")


def _fill(folder: Path) -> None:
    """Fill a small file system to the last byte."""
    with open(folder / "filler", "wb", buffering=0) as filler:
        try:
            while True:
                filler.write(b"\0" * 4096)
                filler.flush()
        except OSError as error:
            assert error.errno == errno.ENOSPC


# --- 9. `synth run` checks the publish root before training -------------------------------------------

@pytest.fixture()
def tiny_spec(tmp_path, monkeypatch):
    """A tiny copula spec and its data; the flow is replaced so that a test fails if training starts."""
    import synth.commands.run as run_command

    data = tmp_path / "tiny.csv"
    pd.DataFrame({"a": range(60), "b": ["x", "y"] * 30}).to_csv(data, index=False)

    def write(root: Path, name: str = "tiny") -> Path:
        spec = tmp_path / f"{name}.yaml"
        spec.write_text(f"name: {name}\nsource:\n  path: {data}\ngenerator:\n  kind: gaussian_copula\n"
                        f"publish:\n  root: {root}\n")
        return spec

    def no_training(spec):
        raise AssertionError("training started although the publish root is unusable")

    monkeypatch.setattr(run_command, "pipeline_flow", no_training)
    return write


def test_run_with_a_publish_root_that_is_a_file(cli, tiny_spec, tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    line = cli("run", tiny_spec(tmp_path / "afile")).one_line_error(2, str(tmp_path / "afile"), "is a file")
    assert "publish.root" in line and "SYNTH_CATALOG_ROOT" in line


def test_run_with_a_publish_root_under_a_file(cli, tiny_spec, tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    cli("run", tiny_spec(tmp_path / "afile" / "deeper")).one_line_error(2, str(tmp_path / "afile"), "is a file")


def test_run_with_a_read_only_publish_root(cli, tiny_spec, tmpfs, tmp_path, monkeypatch):
    root = tmpfs("ro_root", read_only=True)
    if root is None:  # cannot mount (not root): the probe file is refused as on a read-only file system
        root = tmp_path / "fallback"
        _refuse(monkeypatch, errno.EROFS, catalog.tempfile, "mkstemp")
    line = cli("run", tiny_spec(root)).one_line_error(2, str(root), "read-only", "EROFS")
    assert "publish.root" in line


def test_run_with_a_read_only_dataset_folder_that_exists(cli, tiny_spec, tmpfs, tmp_path, monkeypatch):
    root = tmpfs("ro_existing", read_only=True, fill=lambda r: (r / "tiny").mkdir())
    if root is None:  # cannot mount (not root): the probe file is refused as on a read-only file system
        root = tmp_path / "fallback"
        (root / "tiny").mkdir(parents=True)
        _refuse(monkeypatch, errno.EROFS, catalog.tempfile, "mkstemp")
    cli("run", tiny_spec(root)).one_line_error(2, str(root / "tiny"), "read-only")


def test_run_with_a_full_publish_root(cli, tiny_spec, tmpfs, tmp_path, monkeypatch):
    root = tmpfs("full_root", size="64k")
    if root is None:  # cannot mount (not root): the probe file is refused as on a full disk
        root = tmp_path / "fallback"
        _refuse(monkeypatch, errno.ENOSPC, catalog.tempfile, "mkstemp")
    else:
        _fill(root)
    line = cli("run", tiny_spec(root)).one_line_error(2, str(root), "no space left", "ENOSPC")
    assert "SYNTH_CATALOG_ROOT" in line
    assert leftovers(root) == [] and not list((root / "tiny").iterdir())  # the probe file is gone


def test_run_names_the_spec_name_when_it_cannot_be_a_folder(cli, tiny_spec, tmp_path):
    (tmp_path / "root" / "tiny").mkdir(parents=True)
    (tmp_path / "root" / "tiny2").write_text("a file where the dataset folder goes")
    cli("run", tiny_spec(tmp_path / "root", "tiny2")).one_line_error(2, "tiny2", "is a file")


# --- 13. work folders left by killed runs -------------------------------------------------------------

def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_prune_removes_staging_left_by_a_killed_run_but_not_a_live_one(cli, catalog_root):
    folder = catalog_root / "demo"
    host = catalog._host()
    dead = folder / f".incoming-{host}-{_dead_pid()}-abc"
    half_pruned = folder / f".pruning-{host}-{_dead_pid()}-v0"
    live = folder / f".incoming-{host}-{os.getpid()}-xyz"
    elsewhere = folder / ".incoming-otherhost-1-old"  # another machine's: judged by age only
    for work in (dead, half_pruned, live, elsewhere):
        (work / "model").mkdir(parents=True)
        (work / "data.parquet").write_text("partial")
    old = os.path.getmtime(elsewhere) - catalog.STALE_AFTER_S - 60
    os.utime(elsewhere, (old, old))
    assert cli("prune", "demo", "--keep", "3", "--root", catalog_root).code == 0
    assert not dead.exists() and not half_pruned.exists() and not elsewhere.exists()
    assert live.exists()  # a concurrent publisher's staging folder is never touched


def test_an_interrupted_publish_leaves_nothing_and_latest_alone(tmp_path):
    class Interrupted(FakeModel):
        def save(self, folder):
            super().save(folder)
            raise KeyboardInterrupt

    _publish(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        catalog.publish(tmp_path, "demo", synthetic=pd.DataFrame({"a": [1]}), model=Interrupted(), card=CARD,
                        validation={})
    assert leftovers(tmp_path) == [] and catalog.latest_version(tmp_path, "demo") == "v1"


def test_a_publish_killed_with_sigkill_is_cleaned_by_the_next_publish(tmp_path):
    """A real kill -9 while the staging folder is being written: the next publish removes what it left."""
    script = (
        "import os, signal, pandas as pd\n"
        "from synth import catalog\n"
        "class Killed:\n"
        "    def save(self, folder):\n"
        "        folder.mkdir(); (folder / 'config.json').write_text('{}')\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        f"catalog.publish({str(tmp_path)!r}, 'demo', synthetic=pd.DataFrame({{'a': [1]}}), model=Killed(),"
        " card={}, validation={})\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    assert subprocess.run([sys.executable, "-c", script], env=env).returncode == -9
    assert leftovers(tmp_path) and all(".incoming-" in p for p in leftovers(tmp_path))  # what a kill leaves
    _publish(tmp_path)
    assert leftovers(tmp_path) == [] and catalog.versions_of(tmp_path, "demo") == ["v1"]


def test_a_runs_log_linked_outside_is_never_written_or_read(cli, catalog_root, tmp_path):
    outside = tmp_path / "precious.txt"
    outside.write_text('{"passed": false, "run_at": "9999", "generator": "SECRET"}\n')
    (catalog_root / ".runs").mkdir(exist_ok=True)
    (catalog_root / ".runs" / "demo.jsonl").symlink_to(outside)
    with pytest.raises(CatalogError, match="symbolic link"):
        catalog.record_run(catalog_root, "demo", CARD, "v3")
    assert outside.read_text().count("\n") == 1
    outcome = cli("list", "--root", catalog_root, "--all-failed")
    assert outcome.code == 0 and "SECRET" not in outcome.out and len(outcome.out.splitlines()) == 4


# --- 3. links and devices inside a version folder are never followed or read ----------------------------

def _secret_outside(tmp_path: Path) -> Path:
    secret = tmp_path / "host-secret"
    secret.write_text("SECRET host file\n")
    return secret


@pytest.mark.parametrize("target", ["secret", "/dev/zero"])
def test_show_never_follows_a_card_md_link(cli, catalog_root, tmp_path, target):
    card_md = catalog_root / "demo" / "v3" / "card.md"
    card_md.unlink()
    card_md.symlink_to(_secret_outside(tmp_path) if target == "secret" else target)
    outcome = cli("show", "demo", "--root", catalog_root)
    outcome.one_line_error(2, str(card_md), "symbolic link")
    assert "SECRET" not in outcome.out
    assert cli("show", "demo@v2", "--root", catalog_root).code == 0


def test_show_refuses_a_card_md_that_is_a_fifo(cli, catalog_root):
    card_md = catalog_root / "demo" / "v3" / "card.md"
    card_md.unlink()
    os.mkfifo(card_md)  # opening it for reading would block for ever without O_NONBLOCK
    cli("show", "demo", "--root", catalog_root).one_line_error(2, str(card_md), "not a plain file")


@pytest.mark.parametrize("target", ["/dev/zero", "secret"])
def test_a_card_json_link_is_unreadable_in_list_and_refused_elsewhere(cli, catalog_root, tmp_path, target):
    card_json = catalog_root / "demo" / "v2" / "card.json"
    real_card = card_json.read_text()
    card_json.unlink()
    if target == "secret":
        outside = tmp_path / "card.json"
        outside.write_text(real_card)  # a valid card, but outside the catalog
        card_json.symlink_to(outside)
    else:
        card_json.symlink_to(target)  # stat size 0, and read_bytes() would never end
    outcome = cli("list", "--root", catalog_root)
    assert outcome.code == 0 and "Traceback" not in outcome.err
    rows = [line.split() for line in outcome.out.splitlines()[1:]]
    assert [(r[1], r[-1]) for r in rows] == [("v3*", "passed"), ("v2", "unreadable"), ("v1", "passed")]
    warnings = outcome.err.splitlines()
    assert len(warnings) == 1 and str(card_json) in warnings[0] and "symbolic link" in warnings[0]
    cli("show", "demo@v2", "--root", catalog_root).one_line_error(2, str(card_json), "symbolic link")
    with pytest.raises(CatalogError, match="symbolic link"):
        catalog.load("demo", "v2", root=catalog_root)


def test_a_card_json_that_is_a_device_is_refused(catalog_root):
    card_json = catalog_root / "demo" / "v2" / "card.json"
    card_json.unlink()
    os.mkfifo(card_json)
    with pytest.raises(CatalogError, match="not a plain file"):
        catalog.read_card("demo", "v2", root=catalog_root)


def test_an_oversized_card_json_is_refused_without_reading_it_all(catalog_root, monkeypatch):
    monkeypatch.setattr(catalog, "MAX_CARD_BYTES", 100)
    with pytest.raises(CatalogError, match="larger than 100 bytes"):
        catalog.read_card("demo", "v2", root=catalog_root)


def test_a_latest_link_is_refused(cli, catalog_root, tmp_path):
    outside = tmp_path / "pointer"
    outside.write_text("v1\n")
    latest = catalog_root / "demo" / LATEST_NAME
    latest.unlink()
    latest.symlink_to(outside)
    cli("show", "demo", "--root", catalog_root).one_line_error(2, str(latest), "symbolic link")
    cli("prune", "demo", "--keep", "1", "--root", catalog_root).one_line_error(2, str(latest), "symbolic link")
    assert catalog.versions_of(catalog_root, "demo") == ["v1", "v2", "v3"]
    outcome = cli("list", "--root", catalog_root)  # the versions are still listed, none marked LATEST
    assert outcome.code == 0 and [line.split()[1] for line in outcome.out.splitlines()[1:]] == ["v3", "v2", "v1"]


def _parquet_outside(tmp_path: Path) -> Path:
    outside = tmp_path / "outside.parquet"
    pd.DataFrame({"a": ["SECRET"]}).to_parquet(outside)
    return outside


@pytest.mark.parametrize("damage", ["link", "device", "fifo"])
def test_a_data_parquet_link_or_device_is_refused_before_pandas_opens_it(cli, catalog_root, tmp_path, damage):
    data = catalog_root / "demo" / "v3" / "data.parquet"
    data.unlink()
    if damage == "link":
        data.symlink_to(_parquet_outside(tmp_path))
    elif damage == "device":
        data.symlink_to("/dev/zero")
    else:
        os.mkfifo(data)
    with pytest.raises(CatalogError, match="data.parquet is (a symbolic link|not a plain file)"):
        catalog.load("demo", root=catalog_root)
    outcome = cli("list", "--root", catalog_root)
    assert outcome.code == 0 and len(outcome.err.splitlines()) == 1 and str(data) in outcome.err
    assert [line.split()[-1] for line in outcome.out.splitlines()[1:]] == ["unreadable", "passed", "passed"]
    assert catalog.load("demo", "v2", root=catalog_root)["a"].tolist() == [1, 2, 3]


@pytest.mark.parametrize("damage", ["linked-folder", "linked-part"])
def test_a_partitioned_data_folder_with_links_is_refused(catalog_root, tmp_path, damage):
    version = catalog_root / "demo" / "v3"
    (version / "data.parquet").unlink()
    if damage == "linked-folder":
        outside = tmp_path / "parts"
        outside.mkdir()
        _parquet_outside(tmp_path).rename(outside / "part-0.parquet")
        (version / "data").symlink_to(outside, target_is_directory=True)
        match = "data is a symbolic link"
    else:
        (version / "data").mkdir()
        pd.DataFrame({"a": [1]}).to_parquet(version / "data" / "part-0.parquet")
        (version / "data" / "part-1.parquet").symlink_to(_parquet_outside(tmp_path))
        match = "part-1.parquet is a symbolic link"
    with pytest.raises(CatalogError, match=match):
        catalog.load("demo", root=catalog_root)


def test_an_images_npz_link_is_refused(catalog_root, tmp_path):
    version = catalog_root / "demo" / "v3"
    (version / "data.parquet").unlink()
    outside = tmp_path / "images.npz"
    outside.write_bytes(b"SECRET")
    (version / catalog.IMAGES_FILE).symlink_to(outside)
    with pytest.raises(CatalogError, match="images.npz is a symbolic link"):
        catalog.load_images("demo", root=catalog_root)


# --- 4. a dataset folder linked to a sibling dataset ----------------------------------------------------

def test_a_dataset_folder_linked_to_a_sibling_is_refused_and_prune_deletes_nothing(cli, catalog_root):
    for _ in range(2):
        _publish(catalog_root, "b")
    (catalog_root / "a").symlink_to(catalog_root / "b", target_is_directory=True)
    with pytest.raises(CatalogError, match="symbolic link"):
        catalog.prune("a", 1, root=catalog_root)
    cli("prune", "a", "--keep", "1", "--root", catalog_root).one_line_error(2, "a", "symbolic link")
    cli("show", "a", "--root", catalog_root).one_line_error(2, "a", "symbolic link")
    with pytest.raises(CatalogError, match="symbolic link"):
        _publish(catalog_root, "a")
    assert catalog.versions_of(catalog_root, "b") == ["v1", "v2"] and catalog.latest_version(catalog_root, "b") == "v2"
    assert catalog.datasets(catalog_root) == ["b", "demo"]


# --- 10. a live publisher's staging folder is never removed, however old ----------------------------------

def test_an_old_staging_folder_of_a_live_publisher_is_kept(catalog_root):
    folder = catalog_root / "demo"
    live = folder / f".incoming-{catalog._host()}-{os.getpid()}-long"
    (live / "model").mkdir(parents=True)
    old = os.path.getmtime(live) - 10 * catalog.STALE_AFTER_S
    os.utime(live, (old, old))  # a publish that has been running for ten hours
    assert catalog.clean_stale(folder) == []
    _publish(catalog_root)  # a concurrent publish cleans stale work first
    assert catalog.prune("demo", 1, root=catalog_root) == ["v1", "v2", "v3"]
    assert live.exists()


# --- 14. `synth show` never prints control characters from card.md -----------------------------------

def test_show_replaces_control_characters_in_card_md(cli, catalog_root):
    card_md = catalog_root / "demo" / "v3" / "card.md"
    card_md.write_text("# demo\x1b]0;pwned\x07 \x1b[2J\tcol\r\x9b31m\x7f\nnext line\n")
    outcome = cli("show", "demo", "--root", catalog_root)
    assert outcome.code == 0
    assert not any(c in outcome.out for c in "\x1b\x07\r\x9b\x7f")
    assert "\ufffd]0;pwned\ufffd \ufffd[2J\tcol\ufffd\ufffd31m\ufffd\nnext line" in outcome.out


# --- 11. prune works through the dataset folder's descriptor: a swap for a link cannot redirect it ----------

def _swap_for_link(catalog_root: Path) -> None:
    """Replace <root>/demo with a symlink to the sibling dataset b (what an attacker racing prune would do)."""
    (catalog_root / "demo").rename(catalog_root / "demo-moved")
    (catalog_root / "demo").symlink_to(catalog_root / "b", target_is_directory=True)


@pytest.mark.parametrize("when", ["before-open", "after-open"])
def test_prune_cannot_be_redirected_by_swapping_the_dataset_folder(catalog_root, monkeypatch, when):
    for _ in range(3):
        _publish(catalog_root, "b")
    real_clean, real_latest = catalog.clean_stale, catalog._latest

    def swap_then(real):
        def call(*args, **kwargs):
            _swap_for_link(catalog_root)
            return real(*args, **kwargs)
        return call

    if when == "before-open":  # between the check of the folder and the open of it
        monkeypatch.setattr(catalog, "clean_stale", swap_then(real_clean))
        with pytest.raises(CatalogError, match="must be a real folder"):
            catalog.prune("demo", 1, root=catalog_root)
        assert catalog.versions_of(catalog_root, "demo-moved") == ["v1", "v2", "v3"]
    else:  # while it holds the folder open: the renames and deletes still happen in the folder it opened
        monkeypatch.setattr(catalog, "_latest", swap_then(real_latest))
        assert catalog.prune("demo", 1, root=catalog_root) == ["v1", "v2"]
        assert catalog.versions_of(catalog_root, "demo-moved") == ["v3"]
        assert leftovers(catalog_root / "demo-moved") == []
    assert catalog.versions_of(catalog_root, "b") == ["v1", "v2", "v3"] and leftovers(catalog_root / "b") == []


def _staged(root: Path, name: str, token: str) -> Path:
    """A gate-evidence staging folder as a run makes it, owned by the process `token` on this host."""
    import socket

    folder = root / ".staging" / name
    folder.mkdir(parents=True)
    (folder / "owner").write_text(f"{socket.gethostname()} {token}")
    (folder / "report.html").write_text("real-data evidence")
    return folder


def test_prune_removes_the_evidence_a_killed_run_left_and_keeps_a_live_runs(cli, catalog_root):
    from flows.local_server import process_token

    dead = _staged(catalog_root, "demo-999999999-x", "999999999:1")
    live = _staged(catalog_root, f"demo-{os.getpid()}-y", process_token())
    cli("prune", "demo", "--keep", "5", "--root", catalog_root)
    assert not dead.exists() and live.is_dir()


def test_a_staging_area_linked_outside_the_root_is_never_cleaned(cli, catalog_root, tmp_path):
    victim = _staged(tmp_path, "elsewhere-run", "999999999:1")  # a dead run's folder, but outside the root
    (catalog_root / ".staging").symlink_to(victim.parent, target_is_directory=True)
    cli("prune", "demo", "--keep", "5", "--root", catalog_root)
    assert (victim / "report.html").is_file()
