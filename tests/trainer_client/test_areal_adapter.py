"""The AReaL adapter's tests run in their own venv (``.venv-areal``, AReaL 1.0.4 with
``--no-deps``): AReaL pins torch<2.11, the worker in this venv needs torch 2.13."""

from __future__ import annotations

import pytest

from tests.trainer_client.venv_cases import run_cases_in


@pytest.mark.slow
def test_areal_cases_in_their_own_venv() -> None:
    run_cases_in(".venv-areal", "areal_cases.py")
