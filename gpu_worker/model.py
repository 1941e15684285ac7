"""A tiny Llama-style model with a character-level tokenizer, for CPU runs.

The model is a `transformers.LlamaForCausalLM` built from a config (no download), with
**untied** input/output embeddings: on the CPU build of vLLM a tied output layer was seen to
stay stale after `reload_weights`, so the worker never ties them.

The tokenizer maps each printable ASCII character to one token (plus `<pad>`, `<bos>`,
`<eos>`, `<unk>`). It is a `tokenizers` WordLevel model behind a
`PreTrainedTokenizerFast`, saved with `save_pretrained`, so that both `transformers`
(`AutoTokenizer`) and vLLM load it from the model folder.

Build and save one:

    python -m gpu_worker.model --out runs/tiny-llama
"""

from __future__ import annotations

import argparse
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)
# Every printable ASCII character except the vertical whitespace characters.
CHARACTERS = tuple(c for c in string.printable if c not in "\t\n\r\x0b\x0c")


@dataclass(frozen=True)
class TinyModelSpec:
    """Size of the tiny Llama model (the defaults give about 0.85M parameters)."""

    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 384
    max_positions: int = 256
    rope_theta: float = 10000.0


def build_char_tokenizer() -> PreTrainedTokenizerFast:
    """Build the character-level tokenizer (one token per printable ASCII character).

    Encoding prepends `<bos>` when `add_special_tokens=True`; decoding concatenates
    characters without separators, and `skip_special_tokens=True` drops the specials.
    """
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS + CHARACTERS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    # Each character (spaces included) becomes its own pre-token, hence its own token.
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, vocab[BOS])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        model_max_length=TinyModelSpec.max_positions,
        clean_up_tokenization_spaces=False,
    )


def build_tiny_llama(
    tokenizer: PreTrainedTokenizerBase, spec: TinyModelSpec | None = None, seed: int = 0
) -> LlamaForCausalLM:
    """Build a randomly initialised, untied `LlamaForCausalLM` sized by `spec`.

    Args:
        tokenizer: gives the vocabulary size and the special token ids.
        spec: model size; `TinyModelSpec()` when omitted.
        seed: torch seed for the initial weights (the same seed gives the same weights).
    """
    spec = spec or TinyModelSpec()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_heads,
        max_position_embeddings=spec.max_positions,
        rope_parameters={"rope_type": "default", "rope_theta": spec.rope_theta},
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def save_model(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, folder: str | Path
) -> Path:
    """Save model weights (safetensors), config and tokenizer into `folder`; return it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def load_model(folder: str | Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a causal LM and its tokenizer from a local folder (never from a hub)."""
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(
        str(folder), local_files_only=True, dtype=torch.float32
    )
    if getattr(model.config, "tie_word_embeddings", False):
        # Why: vLLM's CPU engine was seen to keep a stale output layer on reload when tied.
        raise ValueError(
            f"{folder}: tie_word_embeddings=True; the worker needs untied embeddings so that "
            "weight sync into vLLM updates the output layer (re-save the model untied)"
        )
    return model, tokenizer


def encode_prompt(tokenizer: PreTrainedTokenizerBase, text: str, chat: bool = False) -> list[int]:
    """Token ids of a prompt: plain (with `<bos>` where the tokenizer adds one) or, with
    `chat=True`, as one user message in the tokenizer's chat template, ready for the reply."""
    if not chat:
        return list(tokenizer(text)["input_ids"])
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError("chat=True needs a tokenizer with a chat_template (an instruct model)")
    encoded: Any = tokenizer.apply_chat_template(
        [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=True
    )
    # transformers 5 answers a BatchEncoding, older versions a plain list of ids.
    ids = encoded["input_ids"] if hasattr(encoded, "keys") else encoded
    return [int(i) for i in ids]


def count_parameters(model: torch.nn.Module) -> int:
    """Number of parameters of `model`."""
    return sum(p.numel() for p in model.parameters())


def main(argv: list[str] | None = None) -> int:
    """Build a tiny model with the char tokenizer and save it to `--out`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder to write the model into")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights")
    args = parser.parse_args(argv)
    tokenizer = build_char_tokenizer()
    model = build_tiny_llama(tokenizer, seed=args.seed)
    save_model(model, tokenizer, args.out)
    print(f"saved {count_parameters(model):,} parameters to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
