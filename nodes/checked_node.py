"""The base of every pack node: its widget values are checked against its own V3 schema before any work.

ComfyUI 0.3.64 checks combo options only for V1-style list types (not a V3 `COMBO`), skips min/max for inputs a
node's `validate_inputs` takes, and checks nothing that arrives through a link. So a node checks for itself, with
the option lists and bounds its schema declares (nodes.checks.inputs_problem): once in `validate_inputs`, where the
host refuses the graph before anything runs, and again before `execute`, where linked values are known. New inputs
and new nodes are covered by declaring them; a node adds a rule of its own in INPUT_RULES.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, ClassVar

from faceclip_core.errors import UsageError

from .checks import InputRule, input_specs, inputs_problem
from .v3 import io


class CheckedNode(io.ComfyNode):
    # input name -> why a value that the schema allows is still refused (None: fine), e.g. a name that becomes files
    INPUT_RULES: ClassVar[dict[str, InputRule]] = {}

    @classmethod
    def input_problem(cls, values: dict[str, Any]) -> str | None:
        """Why one of `values` (input name -> value) is not what this node's schema offers, or None."""
        schema = cls.define_schema()  # not GET_SCHEMA: that one sets class attributes, and hosts may lock clones
        return inputs_problem(schema.display_name or schema.node_id, input_specs(schema.inputs), values, cls.INPUT_RULES)

    @classmethod
    def validate_inputs(cls, **values: Any) -> bool | str:
        # The host gives None for a linked input here (its value does not exist yet) and for a JSON null it keeps as
        # is: both are checked before execute instead.
        return cls.input_problem({name: value for name, value in values.items() if value is not None}) or True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        execute = cls.__dict__.get("execute")
        # the host clones node classes (a subclass with the same __dict__): wrap each execute once
        if isinstance(execute, classmethod) and not getattr(execute.__func__, "checks_inputs", False):
            cls.execute = classmethod(_checking_inputs(execute.__func__))


def _checking_inputs(execute: Callable[..., io.NodeOutput]) -> Callable[..., io.NodeOutput]:
    signature = inspect.signature(execute)

    @functools.wraps(execute)
    def checked(cls: type[CheckedNode], *args: Any, **kwargs: Any) -> io.NodeOutput:
        values = signature.bind_partial(cls, *args, **kwargs).arguments
        values.pop(next(iter(signature.parameters)))  # cls
        problem = cls.input_problem(values)
        if problem:
            raise UsageError(problem)
        return execute(cls, *args, **kwargs)

    checked.checks_inputs = True
    return checked
