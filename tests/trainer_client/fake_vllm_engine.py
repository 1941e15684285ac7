"""A stand-in for OpenRLHF's vLLM engine actor (which needs a GPU), in a module of its own so
that Ray's worker process imports nothing heavy to run it."""

from __future__ import annotations

from typing import Any

# Passes out of 4 per difficulty (the label is "difficulty:row").
PASSES = {1: 4, 2: 2, 3: 0}


class FakeVLLMEngine:
    """Answers ``generate_responses`` with the response dicts OpenRLHF's agent executor returns
    (``openrlhf/utils/agent.py``), with a reward fixed by the problem's difficulty."""

    def get_num_unfinished_requests(self) -> int:
        return 0

    def generate_responses(
        self, prompt: str, label: str, sampling_params: Any, max_length: int,
        hf_tokenizer: Any, num_samples: int = 1, images: Any = None,
    ) -> list[dict[str, Any]]:  # fmt: skip
        passes = PASSES[int(label.split(":")[0])]
        return [
            {
                "prompt": prompt, "label": label, "images": images, "mm_train_inputs": None,
                "observation_tokens": [2, 5, 6, 7, 3], "action_ranges": [(2, 5)],
                "rollout_log_probs": None, "truncated": False,
                "reward": float(k < passes), "scores": float(k < passes), "extra_logs": {},
            }
            for k in range(num_samples)
        ]  # fmt: skip
