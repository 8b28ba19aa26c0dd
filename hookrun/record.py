"""Frozen value classes: `@record` is `@dataclass(frozen=True)` without the generated code.

dataclasses writes and compiles the source of six methods for every class when its module is
imported, and imports inspect (with ast, dis and tokenize) to do it. A hook imports about thirty
such classes at every start: 20 ms of CPU on the machines we measure, a third of a no-op hook's
own work, taken out of the grace period (README, "Performance"). A record is declared the same
way (annotations, defaults, `field(default_factory=...)`), type-checks as a frozen dataclass
(PEP 681), and shares one set of methods among all classes, driven by each class's field list.

The trade-off: constructing a record runs a loop instead of a compiled `__init__` (a few
microseconds; hookrun builds hundreds, not millions), and only the features hookrun uses exist:
no `__post_init__`, `ClassVar`, keyword-only or ordering options.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # typing has it from Python 3.11 on; only the type checker needs it
    from typing_extensions import dataclass_transform
else:
    def dataclass_transform(**_: object) -> Callable[[T], T]:
        return lambda decorated: decorated

T = TypeVar("T")
R = TypeVar("R")
_MISSING: Any = object()


class _Field:
    __slots__ = ("factory",)

    def __init__(self, factory: Callable[[], object]) -> None:
        self.factory = factory


def field(*, default_factory: Callable[[], T]) -> T:
    """A default made afresh for each record (a list, a dict), as dataclasses.field does."""
    made: T = _Field(default_factory)  # type: ignore[assignment]  # stands for the value, like dataclasses.field
    return made


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[R]) -> type[R]:
    """Makes `cls` a frozen record of its annotated fields (inherited ones first)."""
    own = cls.__dict__.get("__annotations__", {})  # noqa: RUF063 (inspect is what this module avoids)
    defaults = {}
    for name in own:
        value = cls.__dict__.get(name, _MISSING)
        if value is not _MISSING:
            defaults[name] = value
            if isinstance(value, _Field):
                delattr(cls, name)  # dataclasses keeps no class attribute for a factory either
    # a record base's fields come first (found on cls through the MRO before they are set)
    names = tuple(dict.fromkeys([*getattr(cls, "__record_fields__", ()), *own]))
    all_defaults = {**getattr(cls, "__record_defaults__", {}), **defaults}
    for before, name in pairwise(names):
        if before in all_defaults and name not in all_defaults:
            raise TypeError(f"{cls.__qualname__}: field {name!r} without a default follows one with one")
    for name, value in (("__record_fields__", names), ("__record_defaults__", all_defaults),
                        ("__match_args__", names), ("__init__", _init), ("__repr__", _repr),
                        ("__eq__", _eq), ("__hash__", _hash), ("__setattr__", _setattr),
                        ("__delattr__", _delattr)):
        setattr(cls, name, value)
    return cls


def fields(obj: object) -> tuple[str, ...]:
    """The field names of a record (or of its class), in order."""
    cls = obj if isinstance(obj, type) else type(obj)
    names: tuple[str, ...] = getattr(cls, "__record_fields__")  # noqa: B009 (set by @record)
    return names


def replace(obj: R, /, **changes: object) -> R:
    """A copy of the record `obj` with `changes` applied, as dataclasses.replace."""
    names = fields(obj)
    unknown = [name for name in changes if name not in names]
    if unknown:
        raise TypeError(f"{type(obj).__qualname__} has no field {unknown[0]!r}")
    return type(obj)(**{name: changes[name] if name in changes else getattr(obj, name) for name in names})


def asdict(obj: object) -> dict[str, Any]:
    """A record as a dict, records inside it too (through lists, tuples and dicts), as
    dataclasses.asdict."""
    return {name: _plain(getattr(obj, name)) for name in fields(obj)}


def _plain(value: object) -> Any:
    if hasattr(type(value), "__record_fields__"):
        return asdict(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item) for item in value)
    if isinstance(value, dict):
        return {_plain(key): _plain(item) for key, item in value.items()}
    return value


# --- the shared methods (self is any record) --------------------------------------------------

def _init(self: Any, *args: object, **kwargs: object) -> None:
    cls = type(self)
    names, defaults = cls.__record_fields__, cls.__record_defaults__
    if len(args) > len(names):
        raise TypeError(f"{cls.__qualname__}() takes {len(names)} arguments, {len(args)} given")
    values = dict(zip(names, args, strict=False))  # fewer args than fields: the rest by keyword
    for name, value in kwargs.items():
        if name not in names:
            raise TypeError(f"{cls.__qualname__}() got an unexpected keyword argument {name!r}")
        if name in values:
            raise TypeError(f"{cls.__qualname__}() got multiple values for argument {name!r}")
        values[name] = value
    for name in names:
        if name not in values:
            if name not in defaults:
                raise TypeError(f"{cls.__qualname__}() missing argument {name!r}")
            default = defaults[name]
            values[name] = default.factory() if isinstance(default, _Field) else default
        object.__setattr__(self, name, values[name])


def _repr(self: Any) -> str:
    inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in type(self).__record_fields__)
    return f"{type(self).__qualname__}({inner})"


def _eq(self: Any, other: object) -> bool:
    if other.__class__ is not self.__class__:
        return NotImplemented  # type: ignore[no-any-return]
    return all(getattr(self, name) == getattr(other, name) for name in fields(self))


def _hash(self: Any) -> int:
    return hash(tuple(getattr(self, name) for name in type(self).__record_fields__))


def _setattr(self: Any, name: str, value: object) -> None:
    raise AttributeError(f"cannot assign to field {name!r}: {type(self).__qualname__} is frozen")


def _delattr(self: Any, name: str) -> None:
    raise AttributeError(f"cannot delete field {name!r}: {type(self).__qualname__} is frozen")
