"""verl adapter: the one import path for every supported verl, chosen by the installed version.

verl changed its data hook between releases, so the adapter has two implementations:

- verl 0.6.x and 0.7.x: ``ZPDCurriculumSampler`` (:mod:`trainer_client.adapters.verl_v07`),
  set as ``data.sampler.class_path=pkg://trainer_client.adapters.verl``.
- verl 0.9.x: ``ZPDDataset`` (:mod:`trainer_client.adapters.verl_v09`), set as
  ``data.custom_cls.path=pkg://trainer_client.adapters.verl``; verl 0.8.0 removed the sampler
  hook (``AbstractCurriculumSampler``, ``data.sampler.class_path``).

Importing this module with another verl (or none) raises ``ImportError`` naming the
supported versions.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

SUPPORTED = {(0, 6): "verl_v07", (0, 7): "verl_v07", (0, 9): "verl_v09"}


def adapter_module(verl_version: str) -> str:
    """The adapter module for ``verl_version`` (``"0.9.1"`` -> ``"verl_v09"``).

    Raises:
        ImportError: a version no adapter supports.
    """
    parts = verl_version.split(".")
    try:
        key = (int(parts[0]), int(parts[1]))
    except (IndexError, ValueError):
        key = (-1, -1)
    if key not in SUPPORTED:
        raise ImportError(
            f"verl {verl_version} is not supported by the ZPD adapter; install verl 0.9.x "
            "(data.custom_cls hook) or 0.7.1 (data.sampler hook). verl 0.8 is untested."
        )
    return SUPPORTED[key]


def _installed_verl() -> str:
    try:
        return version("verl")
    except PackageNotFoundError as exc:
        raise ImportError("the verl adapter needs verl: pip install 'verl==0.9.1'") from exc


if adapter_module(_installed_verl()) == "verl_v07":
    from trainer_client.adapters.verl_v07 import ZPDCurriculumSampler

    __all__ = ["ZPDCurriculumSampler", "adapter_module"]
else:
    from trainer_client.adapters.verl_v09 import ZPDDataset

    __all__ = ["ZPDDataset", "adapter_module"]
