"""Each flow's data as a frozen dataclass, kept in the conversation as a JSON object.

A flow moves with its dataclass (``turn.move(state, Draft(...))``) and reads it back with
``turn.data_as(Draft)``: no step indexes a dict by a string key. The JSON keys are the field
names, so what an older Balie kept still loads; data that does not fit (a missing field, a
value of the wrong type) raises ``StaleFlowData``, which the desk answers by starting over.
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from enum import Enum
from types import NoneType, UnionType
from typing import (
    Any,
    ClassVar,
    Protocol,
    TypeVar,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)


class FlowData(Protocol):
    """Any dataclass instance: the fields are what is kept."""

    __dataclass_fields__: ClassVar[dict[str, Any]]


D = TypeVar("D", bound=FlowData)


class StaleFlowData(Exception):
    """The conversation's data does not fit its step's dataclass (kept in another shape, or
    damaged): the step cannot go on."""


def to_json(data: FlowData) -> dict[str, Any]:
    """The fields as JSON values: enums by value, tuples as lists."""
    return {field.name: _plain(getattr(data, field.name)) for field in fields(data)}


def from_json(kind: type[D], stored: dict[str, Any]) -> D:
    """``kind`` rebuilt from its JSON object; keys it does not know are ignored."""
    hints = get_type_hints(kind)
    values: dict[str, Any] = {}
    for field in fields(kind):
        if field.name in stored:
            values[field.name] = _read(stored[field.name], hints[field.name])
        elif field.default is MISSING and field.default_factory is MISSING:
            raise StaleFlowData(f"{kind.__name__} needs {field.name}")
    return kind(**values)


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value


def _read(value: Any, hint: Any) -> Any:
    """``value`` as the field's type, or StaleFlowData (a bool is no int here)."""
    origin = get_origin(hint)
    if origin in (Union, UnionType):
        for option in get_args(hint):
            try:
                return _read(value, option)
            except StaleFlowData:
                continue
    elif hint is NoneType:
        if value is None:
            return None
    elif origin is tuple and isinstance(value, list):
        item, _ = get_args(hint)  # tuple[X, ...]
        return tuple(_read(element, item) for element in value)
    elif isinstance(hint, type) and issubclass(hint, Enum):
        try:
            return hint(value)
        except (ValueError, TypeError):
            pass
    elif hint in (int, str, bool) and type(value) is hint:
        return value
    raise StaleFlowData(f"{value!r} is not a {hint}")
