"""The one cattrs converter configuration: JSON dicts to models and back, set up only here.

Policies, all enforced by hooks registered below:

* primitives are checked, never coerced (``"5"`` is not an ``int``; ``true`` is not a
  number), so a value of the wrong type is noticed instead of silently converted;
* ``Enum | str`` fields take any string: known values become members;
* fields the API leaves untyped accept any JSON;
* timestamps read both of Twilio's spellings (see :mod:`._timestamps`);
* a model keeps the JSON object it was decoded from, so ``to_dict()`` gives back exactly
  what was received; keys it does not know are also offered in ``extra``.

A *model* here is any attrs class with the bookkeeping fields of :data:`BOOKKEEPING`; this
module never imports the models (they import it), so the two do not form a cycle.

Two flavours of the same configuration exist. The **tolerant** one (the default) never
fails a record over a value: a value that does not fit its field reads as ``None`` and is
named, with the reason, in the record's ``problems``. The **strict** one raises on the
first such value; :mod:`._decoding` turns that into a precise :class:`DecodeError`.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from types import MappingProxyType
from typing import Any, cast

import attrs
import cattrs
from cattrs.errors import IterableValidationNote
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._timestamps import (
    format_iso8601,
    format_rfc2822,
    parse_iso8601,
    parse_optional_iso8601,
    parse_rfc2822,
)

__all__ = [
    "BOOKKEEPING",
    "converter",
    "copy_json",
    "detailed_converter",
    "json_name",
    "strict_converter",
    "tolerant_converter",
]

#: Fields every model has that are not API fields: what did not fit, unknown keys, the JSON.
BOOKKEEPING = ("problems", "extra", "_raw")

_NONE_TYPE = type(None)
_JSON_MEMBERS = frozenset({dict, list, str, int, float, bool, _NONE_TYPE})
_set_attr = object.__setattr__


def _union_args(tp: Any) -> tuple[Any, ...]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return typing.get_args(tp)
    return ()


def _is_json_union(tp: Any) -> bool:
    """A union holding every JSON kind (our ``JSONValue``)."""
    args = _union_args(tp)
    return bool(args) and {typing.get_origin(a) or a for a in args} >= _JSON_MEMBERS


def _is_json_object(tp: Any) -> bool:
    """``dict[str, JSONValue]``: an object whose members may be anything."""
    args = typing.get_args(tp)
    return typing.get_origin(tp) is dict and len(args) == 2 and _is_json_union(args[1])


def _enum_in(tp: Any) -> type[Enum] | None:
    args = _union_args(tp)
    if str not in args:
        return None
    for arg in args:
        if isinstance(arg, type) and issubclass(arg, Enum):
            return arg
    return None


def _is_enum_union(tp: Any) -> bool:
    return _enum_in(tp) is not None


def _is_list(tp: Any) -> bool:
    return typing.get_origin(tp) is list


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and attrs.has(tp) and "_raw" in attrs.fields_dict(tp)


def copy_json(value: Any) -> Any:
    """A copy of parsed JSON deep enough that changing it never changes the original."""
    kind = type(value)
    if kind is dict:
        return {key: copy_json(item) for key, item in value.items()}
    if kind is list:
        return [copy_json(item) for item in value]
    return value


# -- primitives: checked, not coerced -------------------------------------------------


def _structure_str(value: Any, _: Any) -> str:
    if type(value) is not str:
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _structure_bool(value: Any, _: Any) -> bool:
    if type(value) is not bool:
        raise TypeError(f"expected a boolean, got {type(value).__name__}")
    return value


def _structure_int(value: Any, _: Any) -> int:
    if type(value) is int:
        return value
    # JSON has one number type: 3.0 is a fine integer (to_dict still gives back 3.0).
    if type(value) is float and value.is_integer():
        return int(value)
    raise TypeError(f"expected an integer, got {type(value).__name__} {value!r}")


def _structure_float(value: Any, _: Any) -> float:
    # Kept as sent (an int stays an int).
    if type(value) is float or type(value) is int:
        return value
    raise TypeError(f"expected a number, got {type(value).__name__}")


def _structure_json(value: Any, _: Any) -> Any:
    return value


def _structure_json_object(value: Any, _: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise TypeError(f"expected a JSON object, got {type(value).__name__}")
    return value


# -- optionals: resolved once per type, not dispatched per value --------------------------


def _optional_str(value: Any, _: Any) -> str | None:
    if value is None or type(value) is str:
        return value
    raise TypeError(f"expected a string or null, got {type(value).__name__}")


def _optional_bool(value: Any, _: Any) -> bool | None:
    if value is None or type(value) is bool:
        return value
    raise TypeError(f"expected a boolean or null, got {type(value).__name__}")


def _optional_int(value: Any, _: Any) -> int | None:
    if value is None or type(value) is int:
        return value
    return _structure_int(value, int)


def _optional_float(value: Any, _: Any) -> float | None:
    if value is None or type(value) is float or type(value) is int:
        return value
    raise TypeError(f"expected a number or null, got {type(value).__name__}")


_OPTIONAL_PRIMITIVES: dict[Any, Callable[[Any, Any], Any]] = {
    str: _optional_str,
    bool: _optional_bool,
    int: _optional_int,
    float: _optional_float,
    datetime: parse_optional_iso8601,
}


def _is_plain_optional(tp: Any) -> bool:
    args = _union_args(tp)
    return len(args) == 2 and _NONE_TYPE in args


def _make_optional_hook(conv: cattrs.Converter) -> Callable[[Any], Callable[[Any, Any], Any]]:
    def factory(tp: Any) -> Callable[[Any, Any], Any]:
        (inner,) = (arg for arg in _union_args(tp) if arg is not _NONE_TYPE)
        primitive = _OPTIONAL_PRIMITIVES.get(inner)
        if primitive is not None:
            return primitive
        inner_hook = conv.get_structure_hook(inner)
        return lambda value, _: None if value is None else inner_hook(value, inner)

    return factory


# -- hook factories ------------------------------------------------------------------


def _make_enum_hook(tp: Any) -> Callable[[Any, Any], Any]:
    enum_cls = _enum_in(tp)
    assert enum_cls is not None
    members = enum_cls._value2member_map_
    nullable = _NONE_TYPE in _union_args(tp)

    def structure_enum(value: Any, _: Any) -> Any:
        if type(value) is str:
            return members.get(value, value)
        if value is None and nullable:
            return None
        raise TypeError(f"expected a string ({enum_cls.__name__}), got {type(value).__name__}")

    return structure_enum


def _unstructure_enum(value: Any) -> Any:
    # Plain JSON out: a StrEnum member becomes its str value.
    return value.value if isinstance(value, Enum) else value


def _make_list_hook(conv: cattrs.Converter) -> Callable[[Any], Callable[[Any, Any], Any]]:
    def factory(tp: Any) -> Callable[[Any, Any], Any]:
        (item_type,) = typing.get_args(tp) or (Any,)
        item_hook = conv.get_structure_hook(item_type)

        if not conv.detailed_validation:

            def structure_list_fast(value: Any, _: Any) -> list[Any]:
                # cattrs would happily iterate a string into a list of characters.
                if type(value) is not list:
                    raise TypeError(f"expected an array, got {type(value).__name__}")
                return [item_hook(item, item_type) for item in value]

            return structure_list_fast

        def structure_list(value: Any, _: Any) -> list[Any]:
            if type(value) is not list:
                raise TypeError(f"expected an array, got {type(value).__name__}")
            result = []
            for index, item in enumerate(value):
                try:
                    result.append(item_hook(item, item_type))
                except Exception as exc:
                    exc.add_note(
                        IterableValidationNote(
                            f"Structuring {tp} @ index {index}", index, item_type
                        )
                    )
                    raise cattrs.IterableValidationError(
                        f"While structuring {tp}", [exc], tp
                    ) from None
            return result

        return structure_list

    return factory


# -- models ------------------------------------------------------------------------------


def _api_fields(cls: type[Any]) -> list[attrs.Attribute[Any]]:
    attrs.resolve_types(cls)
    return [field for field in attrs.fields(cls) if field.name not in BOOKKEEPING]


def json_name(field: attrs.Attribute[Any]) -> str:
    """The API's key for a model field (``from`` for ``from_``)."""
    return str(field.metadata.get("json", field.name))


def _is_rfc2822(field: attrs.Attribute[Any]) -> bool:
    return field.metadata.get("datetime") == "rfc2822"


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _model_structure_fn(
    conv: cattrs.Converter, cls: type[Any], *, tolerant: bool
) -> Callable[[Any, Any], Any]:
    overrides: dict[str, Any] = {name: override(omit=True) for name in BOOKKEEPING}
    # (json key, hook, type) per field: how a salvage finds the values that did not fit.
    checks: list[tuple[str, Callable[[Any, Any], Any], Any]] = []
    nested: list[tuple[str, str]] = []
    for field in _api_fields(cls):
        name = json_name(field)
        hook = parse_rfc2822 if _is_rfc2822(field) else conv.get_structure_hook(field.type)
        overrides[field.name] = override(
            rename=name if name != field.name else None,
            struct_hook=parse_rfc2822 if _is_rfc2822(field) else None,
        )
        checks.append((name, hook, field.type))
        if any(_is_model(arg) for arg in (*_union_args(field.type), field.type)):
            nested.append((field.name, name))
    base = make_dict_structure_fn(cls, conv, **overrides)
    known_keys = frozenset(name for name, _, _ in checks)

    def salvage(value: dict[str, Any]) -> tuple[Any, dict[str, str]]:
        # Rare: some value did not fit. Find each one with the same hooks, structure the
        # rest as usual; the raw values stay in ``_raw``.
        problems: dict[str, str] = {}
        for name, hook, tp in checks:
            if name in value:
                try:
                    hook(value[name], tp)
                except Exception as exc:
                    problems[name] = _reason(exc)
        patched = {**value, **dict.fromkeys(problems)}
        return base(patched, cls), problems

    def structure_model(value: Any, _: Any) -> Any:
        if type(value) is not dict:
            raise TypeError(f"expected a JSON object, got {type(value).__name__}")
        problems: dict[str, str] | None = None
        if tolerant:
            try:
                instance = base(value, cls)
            except Exception:
                instance, problems = salvage(value)
        else:
            instance = base(value, cls)
        for attribute, name in nested:
            inner = getattr(instance, attribute)
            if inner is not None and inner.problems:
                problems = problems or {}
                problems.update({f"{name}.{key}": why for key, why in inner.problems.items()})
        if problems:
            _set_attr(instance, "problems", MappingProxyType(problems))
        if value.keys() != known_keys:
            # Twilio added a key (or left one out). Frozen classes are set up in __init__
            # through object.__setattr__ too; this is the same move, once.
            unknown = value.keys() - known_keys
            if unknown:
                _set_attr(instance, "extra", {key: value[key] for key in unknown})
        _set_attr(instance, "_raw", value)
        return instance

    return structure_model


def _make_model_structure(
    conv: cattrs.Converter, *, tolerant: bool
) -> Callable[[type[Any]], Callable[[Any, Any], Any]]:
    def factory(cls: type[Any]) -> Callable[[Any, Any], Any]:
        return _model_structure_fn(conv, cls, tolerant=tolerant)

    return factory


def _make_model_unstructure(conv: cattrs.Converter) -> Callable[[type[Any]], Callable[[Any], Any]]:
    def factory(cls: type[Any]) -> Callable[[Any], Any]:
        overrides: dict[str, Any] = {name: override(omit=True) for name in BOOKKEEPING}
        for field in _api_fields(cls):
            name = json_name(field)
            overrides[field.name] = override(
                rename=name if name != field.name else None,
                unstruct_hook=format_rfc2822 if _is_rfc2822(field) else None,
            )
        base = make_dict_unstructure_fn(cls, conv, **overrides)

        def unstructure_model(instance: Any) -> dict[str, Any]:
            raw = instance._raw
            if raw is not None:
                # Decoded: exactly what was received (spellings, number types, key order).
                return cast(dict[str, Any], copy_json(raw))
            result: dict[str, Any] = base(instance)
            if instance.extra:
                result.update(copy_json(instance.extra))
            return result

        return unstructure_model

    return factory


def _configure(conv: cattrs.Converter, *, tolerant: bool) -> cattrs.Converter:
    scalars: dict[type, Callable[[Any, Any], Any]] = {
        str: _structure_str,
        bool: _structure_bool,
        int: _structure_int,
        float: _structure_float,
        datetime: parse_iso8601,
    }
    for kind, structure in scalars.items():
        conv.register_structure_hook(kind, structure)
    conv.register_unstructure_hook(datetime, format_iso8601)
    # Registered first: the factories below are more specific and win where both match.
    conv.register_structure_hook_factory(_is_plain_optional, _make_optional_hook(conv))
    conv.register_structure_hook_factory(_is_enum_union, _make_enum_hook)
    conv.register_unstructure_hook_func(_is_enum_union, _unstructure_enum)
    for is_json, structure_json in (
        (_is_json_union, _structure_json),
        (_is_json_object, _structure_json_object),
    ):
        conv.register_structure_hook_func(is_json, structure_json)
        conv.register_unstructure_hook_func(is_json, copy_json)
    conv.register_structure_hook_factory(_is_list, _make_list_hook(conv))
    conv.register_structure_hook_factory(_is_model, _make_model_structure(conv, tolerant=tolerant))
    conv.register_unstructure_hook_factory(_is_model, _make_model_unstructure(conv))
    return conv


#: Decodes records: a value that does not fit reads as ``None`` and is listed in
#: ``problems``. Also the one that writes models back to JSON (``to_dict``).
tolerant_converter: cattrs.Converter = _configure(
    cattrs.Converter(detailed_validation=False), tolerant=True
)
#: ``strict=True``: the first value that does not fit fails the decode.
strict_converter: cattrs.Converter = _configure(
    cattrs.Converter(detailed_validation=False), tolerant=False
)
#: The strict configuration with detailed validation: re-run after a strict failure to name
#: the field that failed.
detailed_converter: cattrs.Converter = _configure(
    cattrs.Converter(detailed_validation=True), tolerant=False
)
#: The converter for ``to_dict`` and for anyone structuring our models by hand.
converter = tolerant_converter
