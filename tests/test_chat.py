"""Chat templates from GGUF files are untrusted code: rendered in a sandbox, failures are errors."""

from pathlib import Path

import pytest

from edgejudge.errors import ModelFileError
from edgejudge.formats import chat

TEMPLATES = Path(__file__).resolve().parent / "data" / "templates"
CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def test_renders_a_chatml_template():
    text = chat.render(CHATML, [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}])
    assert text == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"


def test_sandbox_blocks_python_internals():
    evil = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    with pytest.raises(ModelFileError):
        chat.render(evil, [{"role": "user", "content": "x"}])


def test_template_exceptions_are_model_file_errors():
    refusing = "{{ raise_exception('System role not supported') }}"
    with pytest.raises(ModelFileError, match="System role not supported"):
        chat.render(refusing, [{"role": "system", "content": "x"}])
    with pytest.raises(ModelFileError):
        chat.render("{% for %}", [])


def test_tojson_keeps_unicode():
    assert chat.render("{{ messages[0]['content'] | tojson }}", [{"role": "user", "content": "é"}]) == '"é"'


def test_qwen3_reference_template_renders_the_documented_bytes():
    template = (TEMPLATES / "Qwen-Qwen3-0.6B.jinja").read_text()
    text = chat.render(template, [{"role": "system", "content": "SYS"}, {"role": "user", "content": "USR"}])
    assert text == "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nUSR<|im_end|>\n<|im_start|>assistant\n"
    off = chat.render(template, [{"role": "user", "content": "USR"}], enable_thinking=False)
    assert off == "<|im_start|>user\nUSR<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
