"""Exact resume through the verl 0.9 adapter, run in its own venv (``.venv-verl09``)."""

from __future__ import annotations

import pytest

from tests.trainer_client.venv_cases import run_cases_in


@pytest.mark.slow
def test_verl09_resume_cases_in_their_own_venv() -> None:
    run_cases_in(".venv-verl09", "verl_v09_resume_cases.py")
