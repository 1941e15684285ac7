"""TRL's GRPOTrainer with ZPD choosing the prompts (SEC over difficulty levels).

Task: a prompt "3:e" asks for a completion with at least three "e"s; difficulty 1-4. The
reward is 1 or 0; the curriculum learns which difficulty gives the most GRPO signal.

    python examples/trl_grpo.py --url http://127.0.0.1:8000 --max-steps 8

By default the policy is a tiny Llama built from scratch (CPU, no downloads); pass
--model PATH for a local model folder that holds its tokenizer too.
"""

from __future__ import annotations

import argparse
import string
from typing import Any

import torch
from datasets import Dataset
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)
from trl import GRPOConfig

from trainer_client.adapters.arms import ZPDSettings
from trainer_client.adapters.trl import ZPDGRPOTrainer

LETTERS = string.ascii_lowercase[:8]


def toy_dataset(rows_per_level: int = 8) -> Dataset:
    rows = [
        {"prompt": f"{d}:{LETTERS[i % len(LETTERS)]}", "difficulty": d}
        for d in (1, 2, 3, 4)
        for i in range(rows_per_level)
    ]
    return Dataset.from_list(rows)


def enough_letters(completions: list[str], prompts: list[str], **kwargs: Any) -> list[float]:
    """1.0 when the completion holds the prompt's letter at least <difficulty> times."""
    return [
        float(c.count(p.split(":")[1]) >= int(p.split(":")[0]))
        for p, c in zip(prompts, completions, strict=True)
    ]


def tiny_policy() -> tuple[Any, Any]:
    vocab = {t: i for i, t in enumerate(["<pad>", "<unk>", "<s>", "</s>", *LETTERS, *"1234:"])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    core.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", unk_token="<unk>", bos_token="<s>",
        eos_token="</s>",
    )  # fmt: skip
    config = LlamaConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
        tie_word_embeddings=False, pad_token_id=0, bos_token_id=2, eos_token_id=3,
    )  # fmt: skip
    return LlamaForCausalLM(config), tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--run-name", default="trl-letters")
    parser.add_argument("--model", default=None, help="local model folder (default: tiny)")
    parser.add_argument("--max-steps", type=int, default=8)
    parser.add_argument("--output-dir", default="artifacts/trl-grpo")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    if args.model:
        model = AutoModelForCausalLM.from_pretrained(args.model)
        tokenizer = AutoTokenizer.from_pretrained(args.model)
    else:
        model, tokenizer = tiny_policy()

    trainer = ZPDGRPOTrainer(
        model=model,
        reward_funcs=[enough_letters],
        args=GRPOConfig(
            output_dir=args.output_dir,
            use_cpu=not torch.cuda.is_available(),
            seed=0,
            per_device_train_batch_size=8,
            num_generations=4,
            max_completion_length=8,
            max_steps=args.max_steps,
            learning_rate=1e-2,
            logging_steps=1,
            save_strategy="no",
            report_to="none",
        ),  # fmt: skip
        train_dataset=toy_dataset(),
        processing_class=tokenizer,
        zpd=ZPDSettings(
            url=args.url,
            run_name=args.run_name,
            arm_fields=["difficulty"],
            strategy={"name": "sec", "alpha": 0.5, "tau": 0.5, "advantage_std": "unbiased"},
        ),  # fmt: skip
    )
    trainer.train()
    run = trainer.curriculum.run()
    print(f"run {run.run_id}: {run.step} steps reported")
    for arm in run.arms:
        print(f"  {arm.name}: q={arm.q:.3f} p={arm.probability:.2f} sampled={arm.times_sampled}")


if __name__ == "__main__":
    main()
