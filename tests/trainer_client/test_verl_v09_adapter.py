"""The verl 0.9 adapter's tests run in their own venv (``.venv-verl09``, verl 0.9.1), since
this one holds verl 0.7.1 for the 0.7 adapter; plus the version dispatch, tested here."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import IN_CI, require
from tests.trainer_client.conftest import REPO_ROOT

VERL09_PYTHON = REPO_ROOT / ".venv-verl09" / "bin" / "python"


def test_dispatch_by_version() -> None:
    require("verl")
    from trainer_client.adapters import verl as adapter

    assert adapter.adapter_module("0.7.1") == "verl_v07"
    assert adapter.adapter_module("0.6.0") == "verl_v07"
    assert adapter.adapter_module("0.9.1") == "verl_v09"
    for unsupported in ("0.8.0", "0.5.0", "1.0.0", "main"):
        with pytest.raises(ImportError, match="0.9.x"):
            adapter.adapter_module(unsupported)
    # This venv has verl 0.7.1: the sampler is exported, the 0.9 dataset is not.
    assert hasattr(adapter, "ZPDCurriculumSampler") and not hasattr(adapter, "ZPDDataset")


@pytest.mark.slow
def test_verl09_cases_in_their_own_venv() -> None:
    if not VERL09_PYTHON.exists():
        message = f"{VERL09_PYTHON} is missing: run `make install-ml`"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run(
        [str(VERL09_PYTHON), "-m", "pytest", "tests/trainer_client/verl_v09_cases.py", "-q",
         "-p", "no:cacheprovider"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout
