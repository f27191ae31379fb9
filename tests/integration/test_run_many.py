"""`synth run A.yaml B.yaml`: several pipelines at once, each in its own process, one failing not stopping the other."""

from __future__ import annotations

import yaml

from synth import catalog
from synth.cli import main
from tests.conftest import ROOT

RELAXED = {  # the copula baseline does not reach the default detection and utility bars; this is about the mechanics
    "max_detection_auc": 1.0, "min_utility_ratio": 0, "min_rare_class_f1_ratio": 0, "max_target_share_ratio": 1000,
    "null_tolerance": 0.2, "min_pair_trends": 0.5,
}


def _spec(folder, name, source, root, **validation):
    spec = yaml.safe_load((ROOT / "pipelines" / "adult_copula.yaml").read_text())
    spec.update(name=name, rows=1000, publish={"root": str(root)})
    spec["source"]["path"] = str(source)
    spec["validation"].update(RELAXED, **validation)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_several_specs_run_concurrently(prefect_server, tmp_path, adult_sample_csv, capsys):
    root = tmp_path / "published"
    good = _spec(tmp_path, "first", adult_sample_csv, root)
    failing = _spec(tmp_path, "second", adult_sample_csv, root, min_quality=1.0)

    assert main(["run", str(good), str(failing), "--jobs", "2"]) == 1  # the worst outcome: a failed gate
    out, err = capsys.readouterr()
    assert f"published first v1 to {root / 'first' / 'v1'}" in out
    assert "second.yaml: gate failed" in err and "[FAIL] fidelity/quality_score" in err
    assert catalog.load("first", root=root).shape == (1000, 15)
    assert not catalog.versions_of(root, "second")
    assert [r["passed"] for r in catalog.runs("second", root)] == [False]  # logged, outside any version

    # both ran as child flow runs of one parent run, at the same time
    from prefect import get_client

    async def child_runs():
        async with get_client() as client:
            runs = await client.read_flow_runs()
            return {r.name: r for r in runs if r.name in ("first", "second")}, {r.id: r for r in runs}

    import asyncio

    children, by_id = asyncio.run(child_runs())
    assert set(children) == {"first", "second"}
    first, second = children["first"], children["second"]
    assert first.parent_task_run_id and second.parent_task_run_id
    assert first.start_time < second.end_time and second.start_time < first.end_time  # their runs overlapped


def test_every_bad_spec_is_reported_before_any_runs(tmp_path, adult_sample_csv, capsys):
    root = tmp_path / "published"
    good = _spec(tmp_path, "good", adult_sample_csv, root)
    bad = _spec(tmp_path, "bad", tmp_path / "missing.csv", root)
    typo = tmp_path / "typo.yaml"
    typo.write_text(good.read_text().replace("holdout_fraction", "holdout_fractoin"))

    assert main(["run", str(good), str(bad), str(typo)]) == 2
    err = capsys.readouterr().err
    assert "2 of 3 specs are invalid, nothing was run" in err and "missing.csv" in err and "holdout_fractoin" in err
    assert not root.exists()
