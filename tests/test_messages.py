"""What a learner reads: every config documents every field, and bad input is explained.

``help(pl.LoRAConfig)`` (``?`` in Jupyter) shows the class docstring, so each registered config's
numpy-style ``Attributes`` section must describe each dataclass field, say what is allowed and
state the real default. Errors must name the field, the value and what is allowed, and the
file when a saved adapter is damaged.
"""
import ast
import dataclasses
import inspect
import json
import pydoc
import re

import pytest

import peft_lab as pl

CONFIGS = sorted(pl.REGISTRY.values(), key=lambda c: c.__name__)


def documented_fields(cls) -> dict[str, str]:
    """{name: description} from the docstring's ``Attributes`` section (numpy style)."""
    doc = inspect.cleandoc(cls.__dict__.get("__doc__") or "")
    section = re.search(r"^Attributes\n-+\n(.*?)(?=\n\S[^\n]*\n-+\n|\Z)", doc, re.S | re.M)
    if section is None:
        return {}
    entries, name = {}, None
    for line in section.group(1).splitlines():
        header = re.fullmatch(r"(\w+) : \S.*", line)
        if header:
            name = header.group(1)
            entries[name] = ""
        elif line.startswith("    ") and name is not None:
            entries[name] += " " + line.strip()
        elif line.strip():
            raise AssertionError(f"{cls.__name__}: unexpected line in Attributes: {line!r}")
    return {n: d.strip() for n, d in entries.items()}


def stated_default(description: str):
    """The Python literal after the description's final "Default:"."""
    match = re.search(r"Default: (.+)\.$", description)
    assert match, f"no 'Default: <value>.' at the end of {description!r}"
    return ast.literal_eval(match.group(1))


def real_default(field: dataclasses.Field):
    return field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default


def test_the_docstring_parser_reads_what_it_is_given():
    class Example:
        """Example.

        Attributes
        ----------
        r : int
            Rank r. Allowed: an integer >= 1.
            Default: 8.
        target_modules : tuple of str
            Names. Allowed: names. Default: ("q_proj", "v_proj").

        Notes
        -----
        not_a_field : int
        """
    found = documented_fields(Example)
    assert found == {"r": "Rank r. Allowed: an integer >= 1. Default: 8.",
                     "target_modules": 'Names. Allowed: names. Default: ("q_proj", "v_proj").'}
    assert stated_default(found["r"]) == 8
    assert stated_default(found["target_modules"]) == ("q_proj", "v_proj")
    with pytest.raises(AssertionError):
        stated_default("Rank r, 8 by default.")


def test_every_config_is_registered_and_has_a_docstring_of_its_own():
    exported = {getattr(pl, n) for n in pl.__all__ if n.endswith("Config") and n != "ModelConfig"}
    assert exported == set(pl.REGISTRY.values())
    for cls in CONFIGS:
        doc = cls.__dict__.get("__doc__") or ""
        # @dataclass writes "LoRAConfig(r: int = 8, ...)" when the class has no docstring
        assert doc.strip() and not doc.startswith(cls.__name__ + "("), cls.__name__


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_every_field_is_documented_with_what_is_allowed_and_its_real_default(cls):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    documented = documented_fields(cls)
    assert set(documented) == set(fields), (f"{cls.__name__}: undocumented {sorted(set(fields) - set(documented))}, "
                                            f"documented but not fields {sorted(set(documented) - set(fields))}")
    for name, description in documented.items():
        assert len(description.split("Allowed:")[0].split()) >= 4, f"{cls.__name__}.{name}: say what it is"
        assert "Allowed:" in description, f"{cls.__name__}.{name}: say what values are allowed"
        stated, real = stated_default(description), real_default(fields[name])
        assert stated == real and type(stated) is type(real), \
            f"{cls.__name__}.{name}: the docstring says default {stated!r}, the field's default is {real!r}"


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_help_shows_the_field_documentation(cls):
    text = pydoc.render_doc(cls, renderer=pydoc.plaintext)  # what help(cls) prints
    for name, description in documented_fields(cls).items():
        assert f"{name} : " in text and description.split()[0] in text


# ----------------------------------------------------------------------------- target_modules as a string

def wrapped(model):
    return sorted(n for n, m in model.named_modules() if isinstance(m, pl.methods.PeftLayer))


def test_a_string_is_a_regular_expression_over_the_full_name(make_model):
    by_regex = wrapped(pl.apply(make_model(), pl.LoRAConfig(r=2, target_modules=r".*\.(q_proj|v_proj)")))
    by_names = wrapped(pl.apply(make_model(), pl.LoRAConfig(r=2, target_modules=("q_proj", "v_proj"))))
    assert by_regex == by_names and len(by_names) == 4
    assert wrapped(pl.apply(make_model(), pl.LoRAConfig(r=2, target_modules="all-linear")))  # still special


@pytest.mark.parametrize("config, field, names", [
    (lambda t: pl.LoRAConfig(r=2, target_modules=t), "target_modules", ("q_proj",)),
    (lambda t: pl.LoRAConfig(r=2, target_modules=t), "target_modules", ("q_proj", "v_proj")),
    (lambda t: pl.IA3Config(target_modules=("k_proj", "down_proj"), feedforward_modules=t), "feedforward_modules",
     ("down_proj",)),
])
def test_bare_names_as_one_string_are_explained_and_the_suggestion_works(make_model, config, field, names):
    model = make_model()
    string = "|".join(names)  # "q_proj", "q_proj|v_proj": what a newcomer types
    with pytest.raises(ValueError) as err:
        pl.apply(model, config(string))
    message = str(err.value)
    assert f"{field}={string!r} matches no" in message
    assert "regular expression" in message and "full module name" in message
    examples = re.findall(r"'((?:\w+\.)+\w+)'", message.split("module names that exist")[0])
    assert 2 <= len(examples) <= 3 and set(examples) <= {n for n, _ in model.named_modules()}
    suggested = ast.literal_eval(re.search(rf"{field}=(\(.*?\))", message).group(1))
    assert suggested == names
    assert getattr(model, "peft_config", None) is None and not wrapped(model)  # nothing changed
    assert wrapped(pl.apply(model, config(suggested)))  # and the suggestion works


def test_a_regular_expression_that_does_not_compile_is_caught_at_the_config():
    with pytest.raises(ValueError, match=r"target_modules='q_proj\(': .*regular expression.*does not compile") as err:
        pl.LoRAConfig(target_modules="q_proj(")
    assert isinstance(err.value.__cause__, re.error)


# ----------------------------------------------------------------------------- bad field values

BAD_VALUES = [  # (config, keyword arguments): each must be refused naming the field and the value
    (pl.LoRAConfig, {"r": 0}), (pl.LoRAConfig, {"r": 2.5}), (pl.LoRAConfig, {"r": True}),
    (pl.LoRAConfig, {"alpha": 0}), (pl.LoRAConfig, {"alpha": "16"}), (pl.LoRAConfig, {"alpha": float("inf")}),
    (pl.LoRAConfig, {"dropout": 1.0}), (pl.LoRAConfig, {"dropout": -0.1}),
    (pl.LoRAConfig, {"target_modules": 5}), (pl.LoRAConfig, {"target_modules": ()}),
    (pl.LoRAConfig, {"target_modules": ("q_proj", 3)}), (pl.LoRAConfig, {"target_modules": "q_proj("}),
    (pl.LoRAConfig, {"use_rslora": "no"}), (pl.LoRAConfig, {"use_dora": 1}),
    (pl.DyLoRAConfig, {"r": 0}), (pl.DyLoRAConfig, {"alpha": -1}), (pl.DyLoRAConfig, {"dropout": 1.5}),
    (pl.DyLoRAConfig, {"target_modules": ""}), (pl.DyLoRAConfig, {"min_r": 0}), (pl.DyLoRAConfig, {"min_r": 9}),
    (pl.AdaLoRAConfig, {"init_r": 0}), (pl.AdaLoRAConfig, {"target_r": 0}), (pl.AdaLoRAConfig, {"target_r": 13}),
    (pl.AdaLoRAConfig, {"alpha": 0}), (pl.AdaLoRAConfig, {"dropout": 1.0}), (pl.AdaLoRAConfig, {"target_modules": ()}),
    (pl.AdaLoRAConfig, {"tinit": 1.0}), (pl.AdaLoRAConfig, {"tfinal": -0.1}),
    (pl.AdaLoRAConfig, {"tinit": 0.6, "tfinal": 0.5}), (pl.AdaLoRAConfig, {"deltaT": 0}),
    (pl.AdaLoRAConfig, {"beta1": 1.0}), (pl.AdaLoRAConfig, {"beta2": -0.5}),
    (pl.AdaLoRAConfig, {"orth_reg_weight": -1}),
    (pl.QLoRAConfig, {"r": 0}), (pl.QLoRAConfig, {"alpha": 0}), (pl.QLoRAConfig, {"dropout": 1.0}),
    (pl.QLoRAConfig, {"target_modules": 5}), (pl.QLoRAConfig, {"use_rslora": None}),
    (pl.QLoRAConfig, {"use_dora": "x"}),
    (pl.QLoRAConfig, {"block_size": 48}), (pl.QLoRAConfig, {"block_size": 64.0}), (pl.QLoRAConfig, {"double_quant": 1}),
    (pl.QLoRAConfig, {"double_quant_block_size": 100}),
    (pl.AdapterConfig, {"bottleneck": 0}), (pl.AdapterConfig, {"placement": "middle"}),
    (pl.AdapterConfig, {"activation": "tanh"}), (pl.AdapterConfig, {"scale": 0}), (pl.AdapterConfig, {"scale": 2.0}),
    (pl.AdapterConfig, {"target_modules": 5}),
    (pl.PromptTuningConfig, {"num_virtual_tokens": 0}), (pl.PromptTuningConfig, {"init_text": " "}),
    (pl.PromptTuningConfig, {"init_text": 5}),
    (pl.PTuningConfig, {"num_virtual_tokens": -1}), (pl.PTuningConfig, {"encoder_hidden_size": 0}),
    (pl.PTuningConfig, {"encoder": "gru"}),
    (pl.PrefixTuningConfig, {"num_virtual_tokens": 0}), (pl.PrefixTuningConfig, {"encoder_hidden_size": 1.5}),
    (pl.PrefixTuningConfig, {"projection": "yes"}),
    (pl.PTuningV2Config, {"num_virtual_tokens": 0}),
    (pl.IA3Config, {"target_modules": 5}), (pl.IA3Config, {"feedforward_modules": ("up_proj",)}),
    (pl.IA3Config, {"feedforward_modules": 5}),
]


def test_every_field_of_every_config_has_a_bad_value_checked():
    covered = {(cls, name) for cls, kwargs in BAD_VALUES for name in kwargs}
    fields = {(cls, f.name) for cls in CONFIGS for f in dataclasses.fields(cls)}
    assert fields - covered == set(), "add a bad value for each new field to BAD_VALUES"


@pytest.mark.parametrize("cls, kwargs", BAD_VALUES, ids=lambda x: x.__name__ if isinstance(x, type) else repr(x))
def test_a_bad_value_names_the_field_the_value_and_what_is_allowed(cls, kwargs):
    with pytest.raises((ValueError, TypeError)) as err:
        cls(**kwargs)
    message = str(err.value)
    for name, value in kwargs.items():
        assert f"{name}={value!r}" in message, message
    assert re.search(r"must|not one of|allowed|only applies", message), message


# ----------------------------------------------------------------------------- damaged adapter files

WEIGHTS, CONFIG = "adapter_model.safetensors", "adapter_config.json"


@pytest.fixture
def saved(make_model, tmp_path):
    pl.save_adapter(pl.apply(make_model(), pl.LoRAConfig(r=4)), tmp_path)
    return tmp_path


def refused(model, path, *reasons):
    """load_adapter fails with a ValueError naming the file and every reason; the model is untouched."""
    with pytest.raises(ValueError) as err:
        pl.load_adapter(model, path)
    message = str(err.value)
    for reason in reasons:
        assert reason in message, message
    assert getattr(model, "peft_config", None) is None and not wrapped(model)
    return err.value


@pytest.mark.parametrize("damage", [
    lambda b: b[: len(b) // 2],            # an interrupted copy
    lambda b: b[:-1],                      # one byte short
    lambda b: b"not a safetensors file",   # something else under the name
    lambda b: b[:8] + b"x" * (len(b) - 8),  # the header overwritten
])
def test_a_damaged_weights_file_is_named_with_what_is_wrong(make_model, saved, damage):
    from safetensors import SafetensorError
    file = saved / WEIGHTS
    file.write_bytes(damage(file.read_bytes()))
    error = refused(make_model(), saved, str(file), "not a readable safetensors file", "truncated or damaged")
    assert isinstance(error.__cause__, SafetensorError)  # the original is kept, as the cause


def test_an_empty_or_missing_weights_file_is_named(make_model, saved):
    (saved / WEIGHTS).write_bytes(b"")
    refused(make_model(), saved, str(saved / WEIGHTS), "is empty")
    (saved / WEIGHTS).unlink()
    with pytest.raises(FileNotFoundError, match=f"no {WEIGHTS} in"):
        pl.load_adapter(make_model(), saved)


def edit_config(path, edit):
    meta = json.loads((path / CONFIG).read_text())
    (path / CONFIG).write_text(json.dumps(edit(meta)))


@pytest.mark.parametrize("text, reasons, cause", [
    ('{"format_version": 1, "method": "lora",', ["not valid JSON", "line 1, column"], json.JSONDecodeError),
    (b"\xff\xfe\x00\x01", ["not text", "not UTF-8"], UnicodeDecodeError),
    ("[1, 2]", ["holds a list", "'method'"], None),
    ('{"peft_type": "LORA", "r": 8, "target_modules": ["q_proj"]}', ["HF PEFT's adapter config"], None),
])
def test_a_config_file_that_is_not_ours_is_named_with_what_is_wrong(make_model, saved, text, reasons, cause):
    file = saved / CONFIG
    file.write_bytes(text if isinstance(text, bytes) else text.encode())
    for read in (pl.read_adapter_config, lambda path: pl.load_adapter(make_model(), path)):
        with pytest.raises(ValueError) as err:
            read(saved)
        assert str(file) in str(err.value) and all(r in str(err.value) for r in reasons), str(err.value)
        assert cause is None or isinstance(err.value.__cause__, cause)
    refused(make_model(), saved, str(file))


@pytest.mark.parametrize("edit, reasons", [
    (lambda m: {k: v for k, v in m.items() if k != "base_model"}, ["has no ['base_model']"]),
    (lambda m: {**m, "config": [4, 8]}, ["'config' is a list", "object"]),
    (lambda m: {**m, "method": 7}, ["'method' is a number", "a string"]),
    (lambda m: {**m, "format_version": 2}, ["format_version=2", "reads 1"]),
    (lambda m: {**m, "config": {**m["config"], "r": 0}}, ["r=0 must be a positive integer"]),
    (lambda m: {**m, "config": {**m["config"], "rank": 4}}, ["LoRAConfig has no field(s) ['rank']"]),
    (lambda m: {**m, "method": "lora_v9"}, ["unknown PEFT method 'lora_v9'"]),
])
def test_a_config_of_the_wrong_shape_is_named_with_what_is_wrong(make_model, saved, edit, reasons):
    edit_config(saved, edit)
    with pytest.raises(ValueError) as err:
        pl.read_adapter_config(saved)
    assert str(saved / CONFIG) in str(err.value) and all(r in str(err.value) for r in reasons), str(err.value)
    refused(make_model(), saved, str(saved / CONFIG), *reasons)


def test_a_method_state_that_does_not_fit_is_named(make_model, tmp_path):
    pl.save_adapter(pl.apply(make_model(), pl.DyLoRAConfig(r=4)), tmp_path)
    edit_config(tmp_path, lambda m: {**m, "state": {"rank": 9}})
    refused(make_model(), tmp_path, str(tmp_path / CONFIG), "'state' {'rank': 9}", "b=9 must be an integer in [1, r=4]")


def test_an_intact_adapter_still_loads(make_model, saved):
    meta = pl.read_adapter_config(saved)
    assert meta["method"] == "lora" and meta["config"]["r"] == 4
    assert wrapped(pl.load_adapter(make_model(), saved))
