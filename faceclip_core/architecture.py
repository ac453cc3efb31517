"""Architecture read from a file (a model's metadata), checked before anything is built from it.

A model file is untrusted input: `layers = 10**7` would build modules until the machine runs out of
memory, `heads = 7` or `patch_size = 0` would end in a ZeroDivisionError deep inside a layer. So a
config dataclass is built from the file's dict only through `from_untrusted()`: known keys only, the
field's type (an int is an int, not a bool or a string), sizes within bounds, floats finite; and
`check_divisible()` / `check_at_most()` state the relations between fields. Every problem is one
InvalidArchitecture naming the field; the loader turns it into a CheckpointError naming the file.

`read_dataclass()` is the one walk from an untrusted nested dict to a dataclass: model architectures here, and
training run configs (train/config.py) with their own `DictRules` (their wording, defaults and paths).
"""
from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
Bounds = Mapping[str, tuple[float, float]]  # field name -> (lowest, highest) allowed, inclusive
DEFAULT_INT_BOUNDS = (1, 1_000_000)  # sizes, counts: positive, and no model has a million of anything per layer
MAX_TEXT = 1000


class InvalidArchitecture(ValueError):
    """One field of a file's architecture that cannot be built; `field` is its dotted name."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"'{field}' {problem}")
        self.field = field


class DictRules(Protocol):
    """How one kind of untrusted dict is read: how its problems are worded and how a value is checked."""

    def not_a_table(self, field: str, value: Any) -> Exception: ...

    def unknown_keys(self, where: str, unknown: list[str], cls: type, fields: list[str]) -> Exception: ...

    def value(self, key: str, value: Any, kind: Any, field: str, given: bool) -> Any: ...


def read_dataclass(cls: type[T], data: Any, rules: DictRules, where: str = "", defaults: Any = None) -> T:
    """Dataclass `cls` from an untrusted nested dict: known keys only, nested dataclass fields from nested dicts,
    every value through `rules.value`. A key missing from `data` takes the dataclass default, or, with `defaults`
    (an instance of `cls`), that instance's value, checked too (given=False), and a missing section its section."""
    if not isinstance(data, dict):
        raise rules.not_a_table(where, data)
    hints = typing.get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls)]
    unknown = [key for key in data if key not in fields]
    if unknown:
        raise rules.unknown_keys(where, unknown, cls, fields)
    values = {}
    for key in fields:
        if key not in data and defaults is None:
            continue
        name, kind = _join(where, key), hints[key]
        if dataclasses.is_dataclass(kind):
            section = None if defaults is None else getattr(defaults, key)
            given = data.get(key, {})
            if section is not None and isinstance(given, dict):  # the section's own defaults are the base it overrides
                kind, given = type(section), {**_fields_of(section), **given}
            values[key] = read_dataclass(kind, given, rules, name, section)
        else:
            values[key] = rules.value(key, data[key] if key in data else getattr(defaults, key), kind, name, key in data)
    return cls(**values)


def _fields_of(instance: Any) -> dict[str, Any]:
    return {f.name: getattr(instance, f.name) for f in dataclasses.fields(instance)}


@dataclasses.dataclass(frozen=True)
class _ArchitectureRules:
    bounds: Bounds
    choices: Mapping[str, tuple[str, ...]]

    def not_a_table(self, field: str, value: Any) -> Exception:
        return InvalidArchitecture(field or "config", f"must be a table of fields, got {type(value).__name__}")

    def unknown_keys(self, where: str, unknown: list[str], cls: type, fields: list[str]) -> Exception:
        return InvalidArchitecture(_join(where, min(unknown)), f"is not a field of {cls.__name__} (known: {', '.join(sorted(fields))})")

    def value(self, key: str, value: Any, kind: Any, field: str, given: bool) -> Any:
        return _checked(value, kind, self.bounds.get(key), self.choices.get(key), field)


def from_untrusted(cls: type[T], data: Any, bounds: Bounds, choices: Mapping[str, tuple[str, ...]] | None = None) -> T:
    """Dataclass `cls` from a dict read out of a file; nested dataclass fields take nested dicts.

    Keys missing from `data` take the dataclass default (files written before a field existed).
    """
    return read_dataclass(cls, data, _ArchitectureRules(bounds, choices or {}))


def _checked(value: Any, kind: Any, bound: tuple[float, float] | None, options: tuple[str, ...] | None, name: str) -> Any:
    if kind is int:
        if type(value) is not int:
            raise InvalidArchitecture(name, f"must be a whole number, got {value!r}")
        low, high = bound or DEFAULT_INT_BOUNDS
    elif kind is float:
        if type(value) not in (int, float) or not math.isfinite(value):
            raise InvalidArchitecture(name, f"must be a finite number, got {value!r}")
        value = float(value)
        low, high = bound or (-math.inf, math.inf)
    elif kind is str:
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            raise InvalidArchitecture(name, f"must be text of at most {MAX_TEXT} characters, got {str(value)[:40]!r}")
        if options is not None and value not in options:
            raise InvalidArchitecture(name, f"is {value!r}, not one of {', '.join(options)}")
        return value
    else:
        raise InvalidArchitecture(name, f"has a type ({kind}) that cannot be read from a file")
    if not low <= value <= high:
        raise InvalidArchitecture(name, f"is {value}, outside the allowed {low:g} to {high:g}")
    return value


def field_value(config: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        config = getattr(config, part)
    return config


def check_divisible(config: Any, pairs: list[tuple[str, str]]) -> None:
    """Each (a, b) of dotted field names: field a must be a multiple of field b (e.g. a width of its heads)."""
    for a, b in pairs:
        if field_value(config, a) % field_value(config, b):
            raise InvalidArchitecture(a, f"= {field_value(config, a)} is not a multiple of '{b}' = {field_value(config, b)}")


def check_at_most(config: Any, pairs: list[tuple[str, str]]) -> None:
    """Each (a, b) of dotted field names: field a must not exceed field b (e.g. a patch its image)."""
    for a, b in pairs:
        if field_value(config, a) > field_value(config, b):
            raise InvalidArchitecture(a, f"= {field_value(config, a)} is larger than '{b}' = {field_value(config, b)}")


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key
