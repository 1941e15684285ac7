"""The tiny model and its char tokenizer: save/load round trips in transformers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import require

require("torch")
require("transformers")

import torch  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

from gpu_worker.model import (  # noqa: E402
    CHARACTERS,
    build_char_tokenizer,
    build_tiny_llama,
    count_parameters,
    load_model,
    save_model,
)


def test_char_tokenizer_is_one_token_per_character() -> None:
    tokenizer = build_char_tokenizer()
    text = "State: 12 - 345 = -333 <x>!"
    ids = tokenizer(text)["input_ids"]
    assert ids[0] == tokenizer.bos_token_id
    assert len(ids) == len(text) + 1
    assert tokenizer.decode(ids, skip_special_tokens=True) == text
    assert tokenizer.decode(ids[1:] + [tokenizer.eos_token_id], skip_special_tokens=True) == text
    assert len(tokenizer) == len(CHARACTERS) + 4
    assert tokenizer("a\tb", add_special_tokens=False)["input_ids"][1] == tokenizer.unk_token_id


def test_model_is_small_and_untied() -> None:
    tokenizer = build_char_tokenizer()
    model = build_tiny_llama(tokenizer)
    assert 0.5e6 < count_parameters(model) < 1.5e6
    assert model.config.tie_word_embeddings is False
    assert model.lm_head.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr()
    assert build_tiny_llama(tokenizer, seed=1).lm_head.weight.ne(model.lm_head.weight).any()


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    tokenizer = build_char_tokenizer()
    model = build_tiny_llama(tokenizer, seed=5)
    save_model(model, tokenizer, tmp_path / "m")
    loaded, loaded_tokenizer = load_model(tmp_path / "m")
    auto = AutoTokenizer.from_pretrained(str(tmp_path / "m"), local_files_only=True)
    text = "98-7="
    assert (
        loaded_tokenizer(text)["input_ids"]
        == tokenizer(text)["input_ids"]
        == auto(text)["input_ids"]
    )
    ids = torch.tensor([tokenizer(text)["input_ids"]])
    with torch.no_grad():
        assert torch.equal(model(ids).logits, loaded(ids).logits)


def test_load_refuses_tied_embeddings(tmp_path: Path) -> None:
    tokenizer = build_char_tokenizer()
    model = build_tiny_llama(tokenizer)
    model.config.tie_word_embeddings = True
    save_model(model, tokenizer, tmp_path / "tied")
    with pytest.raises(ValueError, match="untied"):
        load_model(tmp_path / "tied")


def test_encode_prompt_plain_and_with_a_chat_template() -> None:
    from gpu_worker.model import encode_prompt

    tokenizer = build_char_tokenizer()
    assert encode_prompt(tokenizer, "1+2=") == tokenizer("1+2=")["input_ids"]
    with pytest.raises(ValueError, match="chat_template"):
        encode_prompt(tokenizer, "1+2=", chat=True)
    tokenizer.chat_template = (
        "{% for m in messages %}[{{ m['role'] }}]{{ m['content'] }}{% endfor %}"
        "{% if add_generation_prompt %}[assistant]{% endif %}"
    )
    ids = encode_prompt(tokenizer, "1+2=", chat=True)
    assert tokenizer.decode(ids) == "[user]1+2=[assistant]"
