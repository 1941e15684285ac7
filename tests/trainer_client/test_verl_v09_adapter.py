"""The verl 0.9 adapter's tests run in their own venv (``.venv-verl09``, verl 0.9.1), since
this one holds verl 0.7.1 for the 0.7 adapter; plus the version dispatch, tested here."""

from __future__ import annotations

import pytest

from tests.conftest import require
from tests.trainer_client.venv_cases import run_cases_in


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
    run_cases_in(".venv-verl09", "verl_v09_cases.py")
