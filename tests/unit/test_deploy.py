"""prefect.yaml points at a flow that exists and takes what it passes."""

import yaml

from tests.conftest import ROOT


def test_prefect_yaml_entrypoints_load():
    from prefect.flows import load_flow_from_entrypoint

    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    assert config["deployments"]
    for deployment in config["deployments"]:
        path, _, name = deployment["entrypoint"].partition(":")
        flow = load_flow_from_entrypoint(f"{ROOT / path}:{name}")
        assert set(deployment["parameters"]) <= set(flow.parameters.properties)
        assert (ROOT / deployment["parameters"]["spec_path"]).is_file()
        assert deployment["work_pool"]["name"]
