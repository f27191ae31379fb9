"""Hostile model folders and `synth generate` outputs (issue 13, items 3, 6 and 8).

A model folder is untrusted input: damaged weights, an edited or crafted
`config.json`, links out of the folder, a UNet config that names a path or a
hub repository. Each must end in exit 2 with one line naming the file and
saying the folder is damaged, before anything outside the folder is read.
`--out` is written under a unique temporary name and moved into place in one
step; an existing target is replaced only with `--force`.

Every generator kind is trained once, tiny, for the module; each case damages
its own copy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import TINY, mixed_table
from tests.hostile.conftest import leftovers, synth_env
from tests.unit.test_image_generators import TINY as IMAGE_TINY
from tests.unit.test_image_generators import tiny_images
from tests.unit.test_privacy import PRIVACY, private_table
from tests.unit.test_privacy import TINY as PRIVATE_TINY

KINDS = ["ctgan", "tvae", "tab_ddpm", "gaussian_copula", "dp_ctgan", "dp_tvae", "ddpm", "dcgan", "conv_vae"]
IMAGE_KINDS = {"ddpm", "dcgan", "conv_vae"}
#: The weights file(s) each kind's `save` writes (fixed names, never taken from the config).
WEIGHTS = {
    "ctgan": ["generator.safetensors"], "dp_ctgan": ["generator.safetensors"],
    "tvae": ["decoder.safetensors", "latent_stats.safetensors"],
    "dp_tvae": ["decoder.safetensors", "latent_stats.safetensors"],
    "tab_ddpm": ["denoiser.safetensors"], "gaussian_copula": ["copula.safetensors"], "ddpm": ["unet.safetensors"],
    "dcgan": ["generator.safetensors"], "conv_vae": ["decoder.safetensors"],
}
#: An edit of `kind` to another valid kind, for each kind.
OTHER_KIND = {"ctgan": "tvae", "tvae": "ctgan", "tab_ddpm": "tvae", "gaussian_copula": "ctgan", "dp_ctgan": "ctgan",
              "dp_tvae": "dp_ctgan", "ddpm": "dcgan", "dcgan": "conv_vae", "conv_vae": "ddpm"}


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, Path]:
    """kind → a model folder saved by a tiny fitted generator of that kind."""
    from synth.models import build_generator

    root = tmp_path_factory.mktemp("models")
    folders = {}
    for kind in KINDS:
        if kind in IMAGE_KINDS:
            model = build_generator(kind, IMAGE_TINY[kind], device="cpu", seed=0, verbose=False).fit(tiny_images())
        elif kind in PRIVATE_TINY:
            hyper = {**PRIVATE_TINY[kind], **PRIVACY}
            model = build_generator(kind, hyper, device="cpu", seed=0, verbose=False).fit(private_table(400))
        else:
            model = build_generator(kind, TINY[kind], device="cpu", seed=0, verbose=False).fit(mixed_table(300))
        folders[kind] = model.save(root / kind)
    return folders


@pytest.fixture()
def copy(saved, tmp_path):
    """A fresh copy of a kind's saved folder under this test's tmp_path: `copy(kind) -> folder`."""

    def make(kind: str) -> Path:
        return Path(shutil.copytree(saved[kind], tmp_path / "model"))

    return make


def out_for(kind: str, tmp_path: Path) -> Path:
    return tmp_path / ("batch.npz" if kind in IMAGE_KINDS else "rows.parquet")


def generate(cli, folder: Path, out: Path, *extra: str):
    return cli("generate", folder, "--rows", "5", "--out", out, "--seed", "1", *extra)


def assert_refused(outcome, tmp_path: Path, out: Path, *names: str) -> str:
    """Exit 2, one line naming `names`, nothing written at `out` and no temporary file left."""
    line = outcome.one_line_error(2, *names)
    assert not out.exists()
    assert leftovers(tmp_path) == []
    return line


def edit_config(folder: Path, change) -> None:
    path = folder / "config.json"
    config = json.loads(path.read_text())
    change(config)
    path.write_text(json.dumps(config))


# -- damaged weights (item 8): every kind's load path ------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_corrupt_weights(kind, copy, cli, tmp_path):
    folder = copy(kind)
    (folder / WEIGHTS[kind][0]).write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header}" + os.urandom(64))
    out = out_for(kind, tmp_path)
    assert_refused(generate(cli, folder, out), tmp_path, out, WEIGHTS[kind][0], "damaged", "re-publish")


@pytest.mark.parametrize("kind", KINDS)
def test_truncated_weights(kind, copy, cli, tmp_path):
    folder = copy(kind)
    weights = folder / WEIGHTS[kind][-1]
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    out = out_for(kind, tmp_path)
    assert_refused(generate(cli, folder, out), tmp_path, out, weights.name, "damaged", "re-train")


@pytest.mark.parametrize("kind", KINDS)
def test_missing_weights(kind, copy, cli, tmp_path):
    folder = copy(kind)
    (folder / WEIGHTS[kind][-1]).unlink()
    out = out_for(kind, tmp_path)
    assert_refused(generate(cli, folder, out), tmp_path, out, WEIGHTS[kind][-1], "missing", "re-publish")


@pytest.mark.parametrize("kind", ["ctgan", "ddpm"])
def test_weights_that_are_a_directory(kind, copy, cli, tmp_path):
    folder = copy(kind)
    (folder / WEIGHTS[kind][0]).unlink()
    (folder / WEIGHTS[kind][0]).mkdir()
    out = out_for(kind, tmp_path)
    assert_refused(generate(cli, folder, out), tmp_path, out, WEIGHTS[kind][0], "not a regular file")


def test_weights_of_another_shape(copy, cli, tmp_path):
    """A config that passes the schema but describes other networks than the weights hold."""
    folder = copy("ctgan")
    edit_config(folder, lambda c: c["hyperparameters"].update(embedding_dim=17))
    out = out_for("ctgan", tmp_path)
    assert_refused(generate(cli, folder, out), tmp_path, out, "generator.safetensors", "do not match", "damaged")


def test_layer_sizes_no_machine_can_allocate(copy, cli, tmp_path):
    """Sizes past any address space (2^50 units: petabytes even with memory overcommit) fail at once, as one line."""
    folder = copy("ctgan")
    edit_config(folder, lambda c: c["hyperparameters"].update(generator_dim=[2**50]))
    out = out_for("ctgan", tmp_path)
    assert_refused(generate(cli, folder, out), tmp_path, out,
                   "config.json", "generator_dim[0]", "wider than", "damaged")


#: The address space a `synth generate` of a tiny model gets in the size tests: far above what it needs, far
#: below what a network built from an edited size would take, so a regression fails here instead of the machine.
ADDRESS_SPACE = 4 * 2**30


@pytest.mark.parametrize("kind, size, says", [
    ("ctgan", 10**8, "wider than any network"), ("tvae", 10**8, "wider than any network"),
    ("ctgan", 60_000, "more than generator.safetensors holds"), ("tvae", 60_000, "more than decoder.safetensors holds"),
])
def test_sizes_the_weights_cannot_fill_are_refused_before_allocating(kind, size, says, copy, tmp_path):
    """embedding_dim edited up (review item 7): refused from config and safetensors headers, in a capped process."""
    import resource

    folder = copy(kind)
    edit_config(folder, lambda c: c["hyperparameters"].update(embedding_dim=size))
    out = out_for(kind, tmp_path)

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))

    done = subprocess.run([*synth_cmd(), "generate", str(folder), "--rows", "5", "--out", str(out)],
                          capture_output=True, text=True, env=synth_env(), timeout=120, stdin=subprocess.DEVNULL,
                          preexec_fn=cap)
    from tests.hostile.conftest import Outcome

    assert_refused(Outcome(done.returncode, done.stdout, done.stderr), tmp_path, out,
                   "config.json", "embedding_dim", says, "damaged")


# -- edited or crafted config.json (items 6 and 8) -----------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_kind_edited_to_another_valid_kind(kind, copy, cli, tmp_path):
    folder = copy(kind)
    edit_config(folder, lambda c: c.update(kind=OTHER_KIND[kind]))
    out = tmp_path / ("batch.npz" if OTHER_KIND[kind] in IMAGE_KINDS else "rows.parquet")
    assert_refused(generate(cli, folder, out), tmp_path, out, "config.json", OTHER_KIND[kind], "damaged")


@pytest.mark.parametrize(
    "text, says",
    [
        ("{\"kind\": \"ctgan\", ", "not valid JSON"),
        ("", "not valid JSON"),
        ("[\"ctgan\", 1]", "JSON list"),
        ("\"ctgan\"", "JSON str"),
        ("[" * 200_000 + "]" * 200_000, "not valid JSON"),  # deeper than the parser's recursion limit
        ("\xff\xfe{}", "not valid JSON"),
    ],
    ids=["truncated", "empty", "list", "string", "deep-nesting", "not-utf8"],
)
def test_config_that_is_not_a_json_object(text, says, copy, cli, tmp_path):
    folder = copy("ctgan")
    (folder / "config.json").write_bytes(text.encode("latin-1"))
    out = out_for("ctgan", tmp_path)
    assert_refused(generate(cli, folder, out), tmp_path, out, "config.json", says, "damaged")


@pytest.mark.parametrize("kind_value", ["pwned", None, 3, ["ctgan"], "x" * 10_000])
def test_kind_unknown_or_garbage(kind_value, copy, cli, tmp_path):
    folder = copy("tvae")
    edit_config(folder, lambda c: c.update(kind=kind_value))
    out = out_for("tvae", tmp_path)
    line = assert_refused(generate(cli, folder, out), tmp_path, out, "config.json", "not a generator synth knows")
    assert len(line) < 500  # a hostile value is cut, not echoed whole


@pytest.mark.parametrize(
    "change, names",
    [
        (lambda c: c.update(extra_key=1), "extra_key: unexpected key"),
        (lambda c: c.pop("transformer"), "transformer: missing"),
        (lambda c: c["hyperparameters"].update(embedding_dim="16"), "hyperparameters.embedding_dim"),
        (lambda c: c["hyperparameters"].update(embedding_dim=True), "hyperparameters.embedding_dim"),
        (lambda c: c["hyperparameters"].update(weights_path="/etc/passwd"),
         "hyperparameters.weights_path: unexpected key"),
        (lambda c: c["transformer"]["columns"][0].update(spans="x"), "transformer.columns.0.spans"),
        (lambda c: c.update(seed="0"), "seed"),
        (lambda c: c.update(format_version=99), "format_version"),
    ],
    ids=["extra-key", "missing-key", "string-for-int", "bool-for-int", "path-hyperparameter", "bad-spans", "seed",
         "format-version"],
)
def test_config_that_breaks_the_schema(change, names, copy, cli, tmp_path):
    folder = copy("ctgan")
    edit_config(folder, change)
    out = out_for("ctgan", tmp_path)
    assert_refused(generate(cli, folder, out), tmp_path, out, "config.json", names, "damaged")


def test_config_too_large_to_be_one(copy, cli, tmp_path):
    folder = copy("gaussian_copula")
    with open(folder / "config.json", "r+b") as handle:  # sparse: costs no disk
        handle.truncate(65 * 2**20)
    out = out_for("gaussian_copula", tmp_path)
    assert_refused(generate(cli, folder, out), tmp_path, out, "config.json", "bytes", "damaged")


# -- nothing in a model folder may name a file outside it or a remote location (item 6) ----------------------------


@pytest.fixture()
def unet_elsewhere(saved, tmp_path) -> Path:
    """A folder outside the model holding a *valid* UNet config.json: if loading followed a path to it, it would
    parse."""
    outside = tmp_path / "outside"
    outside.mkdir()
    unet = json.loads((saved["ddpm"] / "config.json").read_text())["unet"]
    (outside / "config.json").write_text(json.dumps({"_class_name": "UNet2DModel", **unet}))
    return outside


@pytest.mark.parametrize("where", ["../../etc/passwd", "/etc/passwd", "google/ddpm-cifar10-32", "outside-folder",
                                   "outside-file"])
def test_ddpm_unet_config_naming_a_path_or_hub_id(where, copy, cli, tmp_path, unet_elsewhere):
    folder = copy("ddpm")
    target = {
        "outside-folder": str(unet_elsewhere), "outside-file": str(unet_elsewhere / "config.json"),
    }.get(where, where)
    edit_config(folder, lambda c: c.update(unet=target))
    out = out_for("ddpm", tmp_path)
    line = assert_refused(generate(cli, folder, out), tmp_path, out, "config.json", "unet", "damaged")
    assert "root:" not in line  # nothing of /etc/passwd echoed


@pytest.mark.parametrize("key, value", [("_name_or_path", "google/ddpm-cifar10-32"),
                                        ("pretrained_model_name_or_path", "/etc"), ("cache_dir", "/tmp")])
def test_ddpm_unet_config_with_a_loading_key(key, value, copy, cli, tmp_path):
    folder = copy("ddpm")
    edit_config(folder, lambda c: c["unet"].update({key: value}))
    out = out_for("ddpm", tmp_path)
    assert_refused(generate(cli, folder, out), tmp_path, out, "config.json", f"unet.{key}: unexpected key")


def test_ddpm_unet_config_that_does_not_fit_the_images(copy, cli, tmp_path):
    folder = copy("ddpm")
    edit_config(folder, lambda c: c["unet"].update(num_class_embeds=1000))
    out = out_for("ddpm", tmp_path)
    assert_refused(generate(cli, folder, out), tmp_path, out, "config.json", "class embeddings", "damaged")


@pytest.mark.parametrize(
    "change, names",
    [
        (lambda h: h.update(sampling_steps=0), "hyperparameters.sampling_steps"),
        (lambda h: h.update(sample_batch_size=-5), "hyperparameters.sample_batch_size"),
        (lambda h: h.update(guidance_scale=float("nan")), "hyperparameters.guidance_scale"),
        (lambda h: h.update(beta_schedule="../../scheduler"), "hyperparameters.beta_schedule"),
    ],
    ids=["zero-steps", "negative-batch", "nan", "scheduler-mismatch"],
)
def test_ddpm_hyperparameters_that_sampling_cannot_use(change, names, copy, cli, tmp_path):
    """Values sampling would only trip over later (a traceback mid-run) are refused at load."""
    folder = copy("ddpm")
    edit_config(folder, lambda c: change(c["hyperparameters"]))
    out = out_for("ddpm", tmp_path)
    assert_refused(generate(cli, folder, out), tmp_path, out, "config.json", names, "damaged")


@pytest.mark.parametrize("kind", ["ctgan", "ddpm"])
def test_weights_linked_to_a_file_outside_the_folder(kind, saved, copy, cli, tmp_path):
    """The link leads to *valid* weights of the same model: loading them would succeed, so refusing proves they
    were not read."""
    folder = copy(kind)
    name = WEIGHTS[kind][0]
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copy(saved[kind] / name, outside / name)
    (folder / name).unlink()
    (folder / name).symlink_to(outside / name)
    out = out_for(kind, tmp_path)
    assert_refused(generate(cli, folder, out), tmp_path, out, name, "outside the model folder")


def test_config_linked_to_a_file_outside_the_folder(saved, copy, cli, tmp_path):
    folder = copy("gaussian_copula")
    (folder / "config.json").unlink()
    (folder / "config.json").symlink_to(saved["gaussian_copula"] / "config.json")  # valid, but not in this folder
    out = out_for("gaussian_copula", tmp_path)
    assert_refused(generate(cli, folder, out), tmp_path, out, "config.json", "outside the model folder")


def test_weights_that_are_a_fifo_are_never_opened(copy, synth_process, tmp_path):
    """Opening a FIFO blocks forever: the check must refuse it from its type alone (a subprocess, so a hang fails)."""
    folder = copy("gaussian_copula")
    (folder / "copula.safetensors").unlink()
    os.mkfifo(folder / "copula.safetensors")
    out = out_for("gaussian_copula", tmp_path)
    outcome = synth_process("generate", folder, "--rows", "5", "--out", out, timeout=120)
    assert_refused(outcome, tmp_path, out, "copula.safetensors", "not a regular file")


def test_links_inside_the_folder_still_load(saved, copy, cli, tmp_path):
    folder = copy("tvae")
    (folder / "decoder.safetensors").rename(folder / "decoder-v1.safetensors")
    (folder / "decoder.safetensors").symlink_to("decoder-v1.safetensors")
    out = tmp_path / "rows.parquet"
    assert generate(cli, folder, out).code == 0 and len(pd.read_parquet(out)) == 5


@pytest.mark.parametrize("kind", KINDS)
def test_models_saved_before_still_load(kind, copy, cli, tmp_path):
    """A config from before a hyperparameter existed (the key absent) takes the class default, as before."""
    from synth.models import load_generator

    folder = copy(kind)
    dropped = {"ctgan": "marginal_weight", "tvae": "precision", "tab_ddpm": "dropout",
               "gaussian_copula": "max_categories",
               "dp_ctgan": "marginal_weight", "dp_tvae": "marginal_weight", "ddpm": "sample_batch_size",
               "dcgan": "beta1", "conv_vae": "beta"}[kind]
    edit_config(folder, lambda c: c["hyperparameters"].pop(dropped))
    model = load_generator(folder)
    assert model.kind == kind and len(model.sample(3, seed=0)) == 3


# -- --out: never overwritten by accident, never half-written (item 3) ---------------------------------------------


def test_existing_out_needs_force(saved, cli, tmp_path):
    out = tmp_path / "rows.parquet"
    out.write_text("keep me")
    line = generate(cli, saved["gaussian_copula"], out).one_line_error(2, str(out), "--force")
    assert "already exists" in line and out.read_text() == "keep me"
    assert generate(cli, saved["gaussian_copula"], out, "--force").code == 0
    assert len(pd.read_parquet(out)) == 5 and leftovers(tmp_path) == []


@pytest.mark.parametrize("force", [[], ["--force"]], ids=["plain", "force"])
def test_out_that_is_a_directory(force, saved, cli, tmp_path):
    out = tmp_path / "rows.csv"
    (out / "inside").mkdir(parents=True)
    generate(cli, saved["ctgan"], out, *force).one_line_error(2, str(out), "is a directory")
    assert (out / "inside").is_dir() and leftovers(tmp_path) == []


def test_out_in_a_missing_folder(saved, cli, tmp_path):
    out = tmp_path / "nope" / "rows.parquet"
    assert_refused(generate(cli, saved["tvae"], out), tmp_path, out, str(out.parent), "does not exist")


@pytest.fixture()
def tmpfs(tmp_path):
    """`mount(options) -> folder`: a small tmpfs mounted for this test (root can mount one here and in CI)."""
    mounted = []

    def mount(options: str) -> Path:
        point = tmp_path / f"mnt{len(mounted)}"
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)],
                              capture_output=True, text=True)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); needs root")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", str(point)], check=True)


def test_out_on_a_read_only_file_system(saved, cli, tmpfs, tmp_path):
    out = tmpfs("ro,size=64k") / "rows.parquet"
    assert_refused(generate(cli, saved["gaussian_copula"], out), tmp_path, out, str(out.parent), "not writable")


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".npz"])
def test_out_on_a_full_disk(suffix, saved, cli, tmpfs, tmp_path):
    disk = tmpfs("size=16k")
    out = disk / f"big{suffix}"
    model = saved["dcgan" if suffix == ".npz" else "gaussian_copula"]
    outcome = cli("generate", model, "--rows", "20000", "--out", out, "--seed", "1")
    outcome.one_line_error(2, str(out), "No space left on device", "nothing was written")
    assert list(disk.iterdir()) == []  # no temporary file either


@pytest.mark.parametrize("force", [True, False], ids=["force", "plain"])
def test_two_concurrent_writers_of_one_out(force, saved, tmp_path):
    """With --force both exit 0 (the last rename wins); without, exactly one wins and the other exits 2.
    Either way the file is one complete Parquet file and no temporary file is left."""
    out = tmp_path / "rows.parquet"
    command = [*synth_cmd(), "generate", str(saved["tvae"]), "--rows", "30000", "--out", str(out), "--seed", "4"]
    if force:
        command.append("--force")
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=synth_env(),
                                  stdin=subprocess.DEVNULL) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in processes]
    codes = sorted(code for code, _ in results)
    assert codes == ([0, 0] if force else [0, 2]), results
    for code, err in results:
        assert "Traceback" not in err
        if code == 2:
            assert "already exists" in err and "--force" in err
    rows = pd.read_parquet(out)
    assert len(rows) == 30000
    assert leftovers(tmp_path) == []


def synth_cmd() -> list[str]:
    from tests.hostile.conftest import SYNTH

    return SYNTH


def test_image_folder_of_other_files_is_never_replaced(saved, cli, tmp_path):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"precious")
    generate(cli, saved["conv_vae"], out, "--force").one_line_error(2, str(out), "not an empty folder")
    assert [p.name for p in out.iterdir()] == ["holiday.jpg"] and leftovers(tmp_path) == []


def test_image_outputs_replaced_only_with_force(saved, cli, tmp_path):
    folder, npz = tmp_path / "batch", tmp_path / "batch.npz"
    for out in (folder, npz):
        assert generate(cli, saved["dcgan"], out).code == 0
        generate(cli, saved["dcgan"], out).one_line_error(2, str(out), "--force")
        assert generate(cli, saved["dcgan"], out, "--force").code == 0
    with np.load(npz) as archive:
        assert archive["images"].shape[0] == 5
    assert len(pd.read_csv(folder / "labels.csv")) == 5
    assert leftovers(tmp_path) == []


def test_outputs_follow_the_umask(saved, cli, tmp_path):
    """Temporary names are created 0666/0777 less the umask, like any new file (mkstemp's 0600 would survive the
    rename)."""
    old = os.umask(0o022)
    try:
        assert generate(cli, saved["gaussian_copula"], tmp_path / "rows.csv").code == 0
        assert generate(cli, saved["dcgan"], tmp_path / "batch").code == 0
    finally:
        os.umask(old)
    assert (tmp_path / "rows.csv").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "batch").stat().st_mode & 0o777 == 0o755
