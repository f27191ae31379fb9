import fcntl
import json
import os
import threading

import pandas as pd
import pytest

from synth import catalog


class FakeModel:
    """Stands in for a generator: publishing only needs `save(folder)`."""

    def __init__(self, fail: bool = False):
        self.fail = fail

    def save(self, folder):
        folder.mkdir()
        if self.fail:
            raise OSError("disk full")
        (folder / "config.json").write_text("{}")


CARD = {
    "description": "d", "target": None,
    "source": {"path": "x.csv", "format": "csv", "sha256": "0" * 64, "rows": 3, "columns": ["a"]},
    "split": {"train_rows": 2, "holdout_rows": 1, "holdout_fraction": 0.3, "seed": 0},
    "generator": {"kind": "ctgan", "hyperparameters": {"epochs": 1}, "seed": 0, "device": "cpu",
                  "final_losses": {"g": 1.0}},
    "output": {"rows": 3, "file": "data.parquet"},
    "timings": {"load": 0.1, "total": 0.1},
    "gate": {"passed": True, "checks": [
        {"suite": "privacy", "name": "exact_copy_rate", "passed": True, "value": 0.0, "threshold": 0.01, "detail": ""},
    ]},
    "packages": {"torch": "x"},
}


def _publish(root, model=None):
    return catalog.publish(
        root, "demo", synthetic=pd.DataFrame({"a": [1, 2, 3]}), model=model or FakeModel(), card=CARD,
        validation={"gate": {"passed": True}},
    )


def test_publish_writes_a_complete_version_and_moves_latest(tmp_path):
    first = _publish(tmp_path)
    assert first == tmp_path / "demo" / "v1"
    assert sorted(p.name for p in first.iterdir()) == ["card.json", "card.md", "data.parquet", "model", "validation"]
    card = json.loads((first / "card.json").read_text())
    assert card["version"] == "v1" and card["name"] == "demo" and card["published_at"]
    assert "exact_copy_rate" in (first / "card.md").read_text()
    assert catalog.latest_version(tmp_path, "demo") == "v1"
    second = _publish(tmp_path)
    assert second.name == "v2" and catalog.latest_version(tmp_path, "demo") == "v2"
    assert catalog.versions_of(tmp_path, "demo") == ["v1", "v2"]


def test_failed_publish_leaves_nothing_and_latest_alone(tmp_path):
    _publish(tmp_path)
    with pytest.raises(OSError, match="disk full"):
        _publish(tmp_path, FakeModel(fail=True))
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == [".lock", "LATEST", "v1"]
    assert catalog.latest_version(tmp_path, "demo") == "v1"


def test_versions_sort_numerically(tmp_path):
    for name in ["v2", "v10", "v1", ".incoming-x"]:
        (tmp_path / "demo" / name).mkdir(parents=True)
    assert catalog.versions_of(tmp_path, "demo") == ["v1", "v2", "v10"]
    assert _publish(tmp_path).name == "v11"


# --- reading the catalog: what consumers and `synth list/show/prune` see ---------------------------

def _three_versions(root):
    for _ in range(3):
        _publish(root)
    return root


def test_load_reads_latest_or_a_named_version(tmp_path):
    root = _three_versions(tmp_path)
    assert catalog.datasets(root) == ["demo"]
    assert catalog.load("demo", root=root)["a"].tolist() == [1, 2, 3]
    assert catalog.read_card("demo", "v2", root=root)["version"] == "v2"
    (root / "demo" / "LATEST").write_text("v2\n")
    assert catalog.read_card("demo", root=root)["version"] == "v2"


def test_load_never_serves_a_failed_or_unknown_version(tmp_path):
    from synth.errors import CatalogError

    root = _three_versions(tmp_path)
    card_path = root / "demo" / "v3" / "card.json"
    card = json.loads(card_path.read_text())
    card["gate"]["passed"] = False
    card_path.write_text(json.dumps(card))
    with pytest.raises(CatalogError, match="did not pass the gate"):
        catalog.load("demo", "v3", root=root)
    with pytest.raises(CatalogError, match=r"no version 'v9'.*\['v1', 'v2', 'v3'\]"):
        catalog.load("demo", "v9", root=root)
    with pytest.raises(CatalogError, match="no dataset 'adult'.*published: \\['demo'\\]"):
        catalog.load("adult", root=root)
    assert [r["gate"] for r in catalog.summary(root)] == ["FAILED", "passed", "passed"]


def test_prune_keeps_the_newest_and_latest(tmp_path):
    root = _three_versions(tmp_path)
    _publish(root)  # v4
    (root / "demo" / "LATEST").write_text("v1\n")  # someone pinned LATEST to an old version
    assert catalog.prune("demo", keep=2, root=root) == ["v2"]
    assert catalog.versions_of(root, "demo") == ["v1", "v3", "v4"]
    assert not list((root / "demo").glob(".pruning-*"))


def test_list_show_prune_commands(tmp_path, capsys, monkeypatch):
    from synth.cli import main

    root = _three_versions(tmp_path)
    monkeypatch.setenv("SYNTH_CATALOG_ROOT", str(root))  # the setting, not a flag
    assert main(["list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["dataset", "version", "when", "generator", "rows", "quality", "detection", "dcr",
                              "epsilon", "gate"]
    assert out[1].split()[:2] == ["demo", "v3*"] and out[1].split()[-1] == "passed" and len(out) == 4
    assert main(["show", "demo@v2"]) == 0
    assert "# demo v2" in capsys.readouterr().out
    assert main(["prune", "demo", "--keep", "1", "--root", str(root)]) == 0
    assert "removed v1, v2" in capsys.readouterr().out
    assert main(["show", "demo@v1"]) == 2
    assert "no version 'v1'" in capsys.readouterr().err
    assert main(["prune", "demo", "--keep", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err


def test_failed_runs_are_logged_outside_the_versions_and_listed(tmp_path, capsys):
    from synth.cli import main

    root = tmp_path
    _publish(root)
    failed = {**CARD, "gate": {"passed": False, "checks": [
        {"suite": "fidelity", "name": "quality_score", "passed": False, "value": 0.41, "threshold": 0.75},
        {"suite": "privacy", "name": "nndr_p5", "passed": False, "value": 0.0, "threshold": None, "required": False},
    ]}, "privacy": {"epsilon": 3.0}}
    entry = catalog.record_run(root, "demo", failed, None, run_id="abc")
    assert entry["failed_checks"] == ["quality_score"] and entry["epsilon"] == 3.0 and entry["version"] is None
    catalog.record_run(root, "never_passed", failed, None)
    # a failed run adds no version and is never served
    assert catalog.versions_of(root, "demo") == ["v1"] and catalog.datasets(root) == ["demo"]
    assert catalog.load("demo", root=root)["a"].tolist() == [1, 2, 3]
    assert [e["passed"] for e in catalog.runs("demo", root)] == [False]

    assert main(["list", "--root", str(root)]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    cells = [line.split() for line in lines]
    # newest first: the failed run (no version, its quality and ε shown), then v1; a never-published dataset too
    assert [(c[0], c[1], c[-1]) for c in cells] == [
        ("demo", "-", "FAILED"), ("demo", "v1*", "passed"), ("never_passed", "-", "FAILED"),
    ]
    assert "0.410" in lines[0] and "3.000" in lines[0]
    # once a newer version is published, the old failure drops out of the default listing (but not --all-failed)
    _publish(root)
    catalog.record_run(root, "demo", {**CARD}, "v2")  # a passed run is logged too, and never listed as a run
    assert [r["version"] for r in catalog.summary(root) if r["dataset"] == "demo"] == ["v2*", "v1"]
    # (all within one second here, so the order among them is not asserted)
    every_run = catalog.summary(root, all_failed=True)
    assert sorted(r["version"] for r in every_run if r["dataset"] == "demo") == ["-", "v1", "v2*"]


def _image_version(root, name, version, passed=True):
    import numpy as np

    from synth.images import ImageSet
    from synth.images.layout import write_published

    folder = root / name / version
    rng = np.random.default_rng(0)
    images = ImageSet(rng.integers(0, 256, (6, 8, 8), dtype=np.uint8), np.array([0, 1, 2, 0, 1, 2]),
                      ["zero", "one", "two"])
    write_published(images, folder)  # images.npz + a PNG folder per class + labels.csv
    card = {"name": name, "version": version, "gate": {"passed": passed, "checks": []}}
    (folder / "card.json").write_text(json.dumps(card))
    (root / name / "LATEST").write_text(version + "\n")
    return images


def test_load_images_returns_a_torch_dataset_of_a_passed_version(tmp_path):
    import torch
    from torch.utils.data import DataLoader, Dataset

    from synth.errors import CatalogError

    images = _image_version(tmp_path, "digits", "v1")
    dataset = catalog.load_images("digits", root=tmp_path)
    assert isinstance(dataset, Dataset) and len(dataset) == 6 and dataset.class_names == ["zero", "one", "two"]
    image, label = dataset[4]
    assert image.shape == (1, 8, 8) and image.dtype == torch.float32 and label == 1
    assert torch.allclose(image[0], torch.from_numpy(images.images[4, :, :, 0]).float() / 255)
    batch, labels = next(iter(DataLoader(dataset, batch_size=6)))
    assert batch.shape == (6, 1, 8, 8) and labels.tolist() == [0, 1, 2, 0, 1, 2]
    assert catalog.load_images("digits", "v1", root=tmp_path, transform=lambda x: x * 2)[4][0].max() <= 2

    # a version whose gate failed is never served, even when LATEST points at it
    _image_version(tmp_path, "digits", "v2", passed=False)
    with pytest.raises(CatalogError, match="did not pass the gate"):
        catalog.load_images("digits", root=tmp_path)
    assert len(catalog.load_images("digits", "v1", root=tmp_path)) == 6
    # tables and images are not mixed up
    _publish(tmp_path)
    with pytest.raises(CatalogError, match="not an image dataset.*catalog.load\\('demo'\\)"):
        catalog.load_images("demo", root=tmp_path)
    with pytest.raises(CatalogError, match="is an image dataset.*load_images"):
        catalog.load("digits", "v1", root=tmp_path)


def test_card_of_a_partitioned_version_says_what_was_sampled():
    card = {**CARD, "name": "big", "version": "v1", "published_at": "2026-01-01T00:00:00+00:00",
            "output": {"rows": 10_000_000, "file": "data/", "partitions": 10, "gate_sample_rows": 20000}}
    text = catalog.render_card(card)
    assert "**10,000,000** in `data/` (10 Parquet partitions, every row schema-checked" in text
    assert "scored a random 20,000 rows" in text
    assert "in `data.parquet`." in catalog.render_card({**card, "output": CARD["output"]})


# --- issue 13: permissions, card.md escaping, the runs log after a crash --------------------------------

@pytest.mark.parametrize("umask, folder_mode, file_mode",
                         [(0o022, 0o755, 0o644), (0o077, 0o700, 0o600), (0o002, 0o775, 0o664)])
def test_published_versions_and_latest_respect_the_umask(tmp_path, umask, folder_mode, file_mode):
    import os
    import stat

    previous = os.umask(umask)
    try:
        version = _publish(tmp_path)
    finally:
        os.umask(previous)
    folders = [version, *(p for p in version.rglob("*") if p.is_dir())]
    files = [version.parent / "LATEST", *(p for p in version.rglob("*") if p.is_file())]
    assert {stat.S_IMODE(p.stat().st_mode) for p in folders} == {folder_mode}
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {file_mode}
    assert catalog._umask() == previous  # reading it changed nothing


HOSTILE = '<script>alert("x")</script>'


def test_card_md_escapes_everything_user_controlled():
    card = {
        **CARD, "name": "demo", "version": "v1", "published_at": "2026-01-01T00:00:00+00:00",
        "description": f"Line one {HOSTILE}\n<img src=x onerror=alert(1)> [click](javascript:alert(1)) & more",
        "target": "<b>t</b>", "report": "javascript:alert(1)",
        "source": {**CARD["source"], "path": "`x`<i>.csv", "columns": [HOSTILE, "b"]},
        "generator": {**CARD["generator"], "hyperparameters": {"epochs": 1, "columns": [HOSTILE, "a|b"]}},
        "gate": {"passed": True, "checks": [
            {"suite": "schema", "name": f"categories:{HOSTILE}", "passed": True, "value": [HOSTILE],
             "threshold": "|r| < 1", "detail": "max |r| over pairs\nsecond line"},
        ]},
    }
    text = catalog.render_card(card)
    outside_code = text.replace("`` `x`<i>.csv ``", "")
    assert "<" not in outside_code and ">" not in outside_code  # no raw HTML at all
    assert "&lt;script&gt;alert(\"x\")&lt;/script&gt;" in text
    assert "\\[click\\](javascript:alert(1))" in text  # a link in the description stays text
    assert "](javascript:" not in text.replace("\\](javascript:", "")  # ... and the report link is not a link:
    assert "Evidence: report.html (javascript:alert(1))" in text  # it is shown as text
    check_row = next(line for line in text.splitlines() if line.startswith("| schema"))
    assert check_row.count(" | ") == 5  # pipes inside cells are escaped, not cell separators
    assert "\\|r\\| &lt; 1" in check_row and "max \\|r\\| over pairs second line" in check_row  # |r| is not /r/
    assert "`` `x`<i>.csv ``" in text  # a code span shows the path verbatim (HTML is never interpreted in one)


def test_card_md_names_the_model_files_the_folder_really_holds(tmp_path):
    class TwoFiles(FakeModel):
        def save(self, folder):
            folder.mkdir()
            for name in ("config.json", "decoder.safetensors", "latent_stats.safetensors"):
                (folder / name).write_text("{}")

    version = _publish(tmp_path, TwoFiles())
    text = (version / "card.md").read_text()
    assert "`config.json` + `decoder.safetensors` + `latent_stats.safetensors`" in text
    assert "generator.safetensors" not in text
    assert json.loads((version / "card.json").read_text())["model_files"] == [
        "config.json", "decoder.safetensors", "latent_stats.safetensors"]


def test_a_version_published_without_a_runs_log_line_gets_one_on_the_next_publish(tmp_path):
    """kill -9 right after the rename: v1 is published but was never logged. The next publish logs it from its card."""
    _publish(tmp_path)  # v1, and the process "died" before record_run
    card_path = tmp_path / "demo" / "v1" / "card.json"
    card = json.loads(card_path.read_text())
    card["published_at"] = "2026-01-01T00:00:00+00:00"  # long enough ago that no publisher is still about to log it
    card_path.write_text(json.dumps(card))
    catalog.record_run(tmp_path, "demo", {**CARD, "gate": {"passed": False, "checks": []}}, None)  # a later failure
    log = tmp_path / ".runs" / "demo.jsonl"
    log.write_text(log.read_text().replace(json.loads(log.read_text())["run_at"], "2026-02-01T00:00:00+00:00"))
    assert [e["version"] for e in catalog.runs("demo", tmp_path)] == [None]
    _publish(tmp_path)  # v2: reconciles v1
    entries = catalog.runs("demo", tmp_path)
    reconciled = [e for e in entries if e.get("reconciled")]
    assert [(e["version"], e["passed"], e["run_at"]) for e in reconciled] == [("v1", True, "2026-01-01T00:00:00+00:00")]
    assert catalog.reconcile_runs(tmp_path, "demo") == []  # v1 is logged now; v2 is too recent to judge
    # the log is read in time order: the line added later for v1 sits before the failure that followed v1
    assert [r["version"] for r in catalog.summary(tmp_path, all_failed=True)] == ["v2*", "-", "v1"]


def test_latest_never_moves_back_to_an_older_version(tmp_path, monkeypatch):
    """Two concurrent publishers: A claims v1, B claims v2; both find LATEST empty. B must not be overtaken by A."""
    real_read_latest = catalog._read_latest
    a_has_read, b_done = threading.Event(), threading.Event()

    def slow_reader_in_a(folder):
        text = real_read_latest(folder)
        if threading.current_thread().name == "A":  # A read LATEST and now waits, B publishes meanwhile
            a_has_read.set()
            b_done.wait(timeout=1.5)  # without the dataset lock B finishes here; with it B waits for A
        return text

    monkeypatch.setattr(catalog, "_read_latest", slow_reader_in_a)
    published = {}

    def publisher():
        published[threading.current_thread().name] = _publish(tmp_path).name
        if threading.current_thread().name == "B":
            b_done.set()

    a = threading.Thread(target=publisher, name="A")
    a.start()
    assert a_has_read.wait(timeout=30)
    b = threading.Thread(target=publisher, name="B")
    b.start()
    a.join(timeout=30)
    b.join(timeout=30)
    assert published == {"A": "v1", "B": "v2"}
    assert catalog.latest_version(tmp_path, "demo") == "v2"
    monkeypatch.undo()
    (tmp_path / "demo" / "LATEST").write_text("v1\n")  # someone pinned an older version: a new publish moves it on
    assert _publish(tmp_path).name == "v3" and catalog.latest_version(tmp_path, "demo") == "v3"
    assert catalog.datasets(tmp_path) == ["demo"] and catalog.versions_of(tmp_path, "demo") == ["v1", "v2", "v3"]
    assert oct((tmp_path / "demo" / ".lock").stat().st_mode & 0o777) == oct(0o666 & ~_current_umask())


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_prune_holds_the_dataset_lock(tmp_path):
    """prune reads LATEST and renames under the same lock a publisher holds while moving LATEST."""
    _three_versions(tmp_path)
    folder = tmp_path / "demo"
    held = os.open(folder / ".lock", os.O_RDONLY)
    fcntl.flock(held, fcntl.LOCK_EX)
    result = {}
    pruner = threading.Thread(target=lambda: result.update(removed=catalog.prune("demo", 1, root=tmp_path)))
    pruner.start()
    pruner.join(timeout=0.5)
    assert pruner.is_alive() and catalog.versions_of(tmp_path, "demo") == ["v1", "v2", "v3"]  # waiting for the lock
    (folder / "LATEST").write_text("v2\n")  # what a publisher holding the lock might do
    os.close(held)
    pruner.join(timeout=30)
    assert result["removed"] == ["v1"] and catalog.versions_of(tmp_path, "demo") == ["v2", "v3"]  # never the new LATEST



@pytest.mark.parametrize("name", ["adult", "adult_dp-ctgan.v2", "A1", "x" * 100])
def test_valid_dataset_names_pass(name):
    assert catalog.check_name(name) == name


@pytest.mark.parametrize("name", ["", ".", "..", "../x", "a/b", "/abs", ".hidden", "a\n", "x" * 101, None, "a b", "é"])
def test_invalid_dataset_names_are_one_line_errors(name):
    from synth.errors import CatalogError

    with pytest.raises(CatalogError, match="is not valid") as caught:
        catalog.check_name(name)
    assert "\n" not in str(caught.value)


def test_card_md_breaks_bare_url_autolinks():
    """GitHub/GitLab turn `https://...`, `www.` and `a@b.c` into links even without markdown link syntax."""
    card = {
        **CARD, "name": "demo", "version": "v1", "published_at": "2026-01-01T00:00:00+00:00",
        "description": "Log in at https://evil/login or WWW.evil.example, mail admin@evil.example, ftp://x",
        "generator": {**CARD["generator"], "hyperparameters": {"epochs": 1, "url": "http://evil/x"}},
        "gate": {"passed": True, "checks": [
            {"suite": "s", "name": "c", "passed": True, "value": "www.a.b", "threshold": 1, "detail": "see https://x.y"},
        ]},
    }
    text = catalog.render_card(card)
    assert "://" not in text.replace("&#58;//", "") and "www." not in text.lower().replace("www&#46;", "")
    assert "@" not in text.replace("&#64;", "")
    assert "https&#58;//evil/login" in text and "WWW&#46;evil.example" in text and "admin&#64;evil.example" in text
    assert "url=http&#58;//evil/x" in text and "| www&#46;a.b |" in text
