"""The worker's strategy flags: any registered name, options as a JSON object, worked by hand."""

from __future__ import annotations

import pytest

from gpu_worker.config import TrainConfig


def test_any_strategy_name_passes_with_its_options() -> None:
    config = TrainConfig(strategy="thompson", strategy_options='{"objective": "pass_rate"}')
    assert config.strategy_spec() == {"name": "thompson", "objective": "pass_rate"}
    # a name the worker has never heard of goes on to the service, which decides
    assert TrainConfig(strategy="kmeans_2").strategy_spec() == {"name": "kmeans_2"}


def test_worker_defaults_then_options() -> None:
    # sec takes --alpha/--tau; an option of the same name wins over the flag
    assert TrainConfig(alpha=0.2, tau=0.4).strategy_spec() == {
        "name": "sec",
        "alpha": 0.2,
        "tau": 0.4,
    }
    spec = TrainConfig(tau=0.4, strategy_options='{"tau": 1, "objective": "pass_rate"}')
    assert spec.strategy_spec() == {
        "name": "sec",
        "alpha": 0.5,
        "tau": 1,
        "objective": "pass_rate",
    }
    # the schedules run over the worker's steps unless told otherwise
    assert TrainConfig(strategy="reverse", steps=9).strategy_spec() == {
        "name": "reverse",
        "total_steps": 9,
    }
    assert TrainConfig(
        strategy="ordered", steps=9, strategy_options='{"total_steps": 4}'
    ).strategy_spec() == {"name": "ordered", "total_steps": 4}
    # --alpha/--tau belong to sec only
    assert TrainConfig(strategy="ducb", tau=0.9).strategy_spec() == {"name": "ducb"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strategy": "Thompson"}, "strategy must be a strategy name"),
        ({"strategy": ""}, "strategy must be a strategy name"),
        ({"strategy": "sec:tau=1"}, "strategy must be a strategy name"),
        ({"strategy_options": "{tau: 1}"}, "must be a JSON object such as"),
        ({"strategy_options": "[1, 2]"}, "must be a JSON object, got list"),
        ({"strategy_options": "0.5"}, "must be a JSON object, got float"),
        ({"strategy_options": '{"name": "ducb"}'}, "cannot hold 'name'"),
    ],
)
def test_bad_strategy_flags_are_refused_with_the_fix(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_the_help_text_lists_exactly_the_service_strategies() -> None:
    """config.py keeps its own list (no service import at CLI build time): keep it true."""
    from gpu_worker.config import KNOWN_STRATEGIES
    from service.curricula import strategy_names

    assert sorted(KNOWN_STRATEGIES) == strategy_names()


def test_loss_normalisation_and_rollout_backend_flags() -> None:
    import argparse

    from gpu_worker.config import add_config_arguments, config_from_args

    default = TrainConfig()
    assert (default.loss_agg, default.rollout_backend) == ("token-mean", "vllm")  # verl's
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    args = parser.parse_args(
        ["--loss-agg", "nonzero-token-mean", "--rollout-backend", "transformers"]
    )
    config = config_from_args(args)
    assert (config.loss_agg, config.rollout_backend) == ("nonzero-token-mean", "transformers")
    with pytest.raises(SystemExit):  # argparse refuses a value outside the choices
        parser.parse_args(["--loss-agg", "mean"])
    with pytest.raises(ValueError, match="loss_agg must be one of token-mean"):
        TrainConfig(loss_agg="seq-mean")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rollout_backend must be one of vllm, transformers"):
        TrainConfig(rollout_backend="sglang")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="adv_std must be one of unbiased"):
        TrainConfig(adv_std="sample")  # type: ignore[arg-type]
