"""Machine settings: where things live and which device to train on.

Everything that differs between machines (not between pipelines) is read here,
once, from environment variables prefixed `SYNTH_`; nothing else in the code
reads `os.environ` for configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SYNTH_", extra="ignore")

    #: Root of the catalog of published datasets (`<root>/<name>/<version>/`).
    #: A relative path is taken from the current working directory.
    catalog_root: Path = Path("data/published")
    #: "auto" trains on CUDA when torch sees a GPU, else on the CPU.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    #: A running Dask scheduler for partitioned generation, e.g. "tcp://scheduler:8786";
    #: empty: a local cluster of `dask_workers` processes, started and stopped per run.
    dask_address: str = ""
    #: Workers of that local cluster (one thread each, inside the synth process).
    dask_workers: int = 2
    #: With no PREFECT_API_URL, runs share one local Prefect server (flows/local_server.py):
    #: seconds a run waits for it to answer when starting it (a busy machine needs more than Prefect's 20 s),
    prefect_server_wait: float = Field(120.0, gt=0)
    #: and seconds it keeps running once no run is using it (then it stops itself).
    prefect_server_idle: float = Field(120.0, gt=0)


def get_settings() -> Settings:
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as error:  # one line naming the variable, not a traceback
        from synth.errors import SynthError

        problems = "; ".join(f"SYNTH_{'_'.join(map(str, e['loc'])).upper()}={e.get('input')!r}: {e['msg']}"
                             for e in error.errors())
        raise SynthError(f"environment: {problems}"[:500]) from None


def resolve_device(requested: str = "auto") -> str:
    """Map a device setting to a torch device string ("cuda" or "cpu")."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        from synth.errors import SynthError

        raise SynthError(
            "SYNTH_DEVICE=cuda but torch sees no CUDA GPU; "
            "unset SYNTH_DEVICE (or set it to auto/cpu) to train on the CPU"
        )
    return requested
