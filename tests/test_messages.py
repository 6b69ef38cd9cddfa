"""What a learner reads: every config documents every field, and bad input is explained.

``help(pl.LoRAConfig)`` (``?`` in Jupyter) shows the class docstring, so each registered config's
numpy-style ``Attributes`` section must describe each dataclass field, say what is allowed and
state the real default. Errors must name the field, the value and what is allowed, and the
file when a saved adapter is damaged.
"""
import ast
import dataclasses
import inspect
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


def test_help_shows_the_field_documentation():
    text = pl.LoRAConfig.__doc__
    assert "r : int" in text and "α" in text and "re.fullmatch" in text
