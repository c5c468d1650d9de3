"""The one cattrs converter: JSON dicts to models and back, configured here and only here.

Policies, all enforced by hooks registered below:

* primitives are checked, never coerced (``"5"`` is not an ``int``; ``true`` is not a
  number), so a wrong shape is reported instead of silently converted;
* ``Enum | str`` fields take any string: known values become members;
* fields the API leaves untyped accept any JSON; the known shapes of ``metrics``,
  ``properties`` and ``detected_issues`` are parsed when they fit, kept raw when not;
* keys a model does not know are kept in ``extra``, documented keys that were absent are
  remembered in ``missing_keys``, so that ``to_dict`` reproduces the API's JSON;
* ISO 8601 timestamps (Insights) and RFC 2822 ones (2010 API, fields marked in metadata)
  become timezone-aware datetimes and are written back the way Twilio writes them.

:func:`decode` is the entry point for response bodies: any failure becomes a
:class:`DecodeError` naming the resource and the JSON path of the bad value.
"""

from __future__ import annotations

import email.utils
import types
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar, cast

import attrs
import cattrs
from cattrs.errors import IterableValidationNote
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._errors import DecodeError
from ._models._base import TwilioModel

__all__ = ["converter", "decode", "decode_list"]

T = TypeVar("T")

_NONE_TYPE = type(None)
_JSON_MEMBERS = frozenset({dict, list, str, int, float, bool, _NONE_TYPE})


def _union_args(tp: Any) -> tuple[Any, ...]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return typing.get_args(tp)
    return ()


def _is_json_union(tp: Any) -> bool:
    """A union holding every JSON kind (our ``JSONValue``, possibly with a model in front)."""
    args = _union_args(tp)
    return bool(args) and {typing.get_origin(a) or a for a in args} >= _JSON_MEMBERS


def _enum_in(tp: Any) -> type[Enum] | None:
    args = _union_args(tp)
    if str not in args:
        return None
    for arg in args:
        if isinstance(arg, type) and issubclass(arg, Enum):
            return arg
    return None


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
    # JSON has one number type: 3.0 is a fine integer, 3.5 is not.
    if type(value) is float and value.is_integer():
        return int(value)
    raise TypeError(f"expected an integer, got {type(value).__name__} {value!r}")


def _structure_float(value: Any, _: Any) -> float:
    # Kept as sent (an int stays an int) so that to_dict() gives back the same JSON.
    if type(value) is float or type(value) is int:
        return value
    raise TypeError(f"expected a number, got {type(value).__name__}")


def _structure_json(value: Any, _: Any) -> Any:
    return value


# -- timestamps --------------------------------------------------------------------------


def _aware(moment: datetime) -> datetime:
    # A timestamp without an offset is UTC in Twilio's APIs.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _structure_iso8601(value: Any, _: Any) -> datetime:
    if type(value) is not str:
        raise TypeError(f"expected an ISO 8601 timestamp string, got {type(value).__name__}")
    try:
        return _aware(datetime.fromisoformat(value))
    except ValueError:
        raise ValueError(f"not an ISO 8601 timestamp: {value!r}") from None


def _unstructure_iso8601(value: datetime) -> str:
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _structure_rfc2822(value: Any) -> datetime | None:
    if value is None:
        return None
    if type(value) is not str:
        raise TypeError(f"expected an RFC 2822 timestamp string, got {type(value).__name__}")
    try:
        return _aware(email.utils.parsedate_to_datetime(value))
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"not an RFC 2822 timestamp: {value!r}") from None


def _structure_rfc2822_hook(value: Any, _: Any) -> datetime | None:
    return _structure_rfc2822(value)


def _unstructure_rfc2822(value: datetime | None) -> str | None:
    return None if value is None else email.utils.format_datetime(value)


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


def _optional_iso8601(value: Any, _: Any) -> datetime | None:
    return None if value is None else _structure_iso8601(value, datetime)


_OPTIONAL_PRIMITIVES: dict[Any, Callable[[Any, Any], Any]] = {
    str: _optional_str,
    bool: _optional_bool,
    int: _optional_int,
    float: _optional_float,
    datetime: _optional_iso8601,
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
        if _is_model(inner):
            return _model_structure_fn(conv, inner, nullable=True)
        inner_hook = conv.get_structure_hook(inner)

        def structure_optional(value: Any, _: Any) -> Any:
            return None if value is None else inner_hook(value, inner)

        return structure_optional

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


def _make_list_hook(conv: cattrs.Converter) -> Callable[[Any], Callable[[Any, Any], Any]]:
    def factory(tp: Any) -> Callable[[Any, Any], Any]:
        (item_type,) = typing.get_args(tp) or (Any,)
        item_hook = conv.get_structure_hook(item_type)

        if not conv.detailed_validation:

            def structure_list_fast(value: Any, _: Any) -> list[Any]:
                if type(value) is not list:
                    raise TypeError(f"expected an array, got {type(value).__name__}")
                return [item_hook(item, item_type) for item in value]

            return structure_list_fast

        def structure_list(value: Any, _: Any) -> list[Any]:
            # cattrs would happily iterate a string into a list of characters.
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


def _fields(cls: type[TwilioModel]) -> tuple[attrs.Attribute[Any], ...]:
    # Every TwilioModel subclass is an attrs class; the base itself is not, for mypy.
    return tuple(attrs.fields(cast(Any, cls)))


def _json_name(field: attrs.Attribute[Any]) -> str:
    return str(field.metadata.get("json", field.name))


def _model_structure_fn(
    conv: cattrs.Converter, cls: type[TwilioModel], *, nullable: bool
) -> Callable[[Any, Any], Any]:
    overrides: dict[str, Any] = {"extra": override(omit=True), "missing_keys": override(omit=True)}
    known: set[str] = set()
    for field in _fields(cls):
        if field.name in overrides:
            continue
        name = _json_name(field)
        known.add(name)
        rfc = field.metadata.get("datetime") == "rfc2822"
        overrides[field.name] = override(
            rename=name if name != field.name else None,
            struct_hook=_structure_rfc2822_hook if rfc else None,
        )
    base = make_dict_structure_fn(cls, conv, **overrides)
    known_keys = frozenset(known)
    set_attr = object.__setattr__

    def structure_model(value: Any, _: Any) -> Any:
        if type(value) is not dict:
            if value is None and nullable:  # here, not in a wrapper: nested models are hot
                return None
            raise TypeError(f"expected a JSON object, got {type(value).__name__}")
        instance = base(value, cls)
        keys = value.keys()
        if keys != known_keys:
            # Rare: Twilio added a key, or left one out. Frozen classes are set up in
            # __init__ through object.__setattr__ too; this is the same move, once.
            unknown = keys - known_keys
            if unknown:
                set_attr(instance, "extra", {key: value[key] for key in unknown})
            absent = known_keys - keys
            if absent:
                set_attr(instance, "missing_keys", frozenset(absent))
        return instance

    return structure_model


def _make_model_structure(
    conv: cattrs.Converter,
) -> Callable[[type[Any]], Callable[[Any, Any], Any]]:
    def factory(cls: type[TwilioModel]) -> Callable[[Any, Any], Any]:
        return _model_structure_fn(conv, cls, nullable=False)

    return factory


def _make_model_unstructure(conv: cattrs.Converter) -> Callable[[type[Any]], Callable[[Any], Any]]:
    def factory(cls: type[TwilioModel]) -> Callable[[Any], Any]:
        overrides: dict[str, Any] = {
            "extra": override(omit=True),
            "missing_keys": override(omit=True),
        }
        renamed: dict[str, str] = {}
        for field in _fields(cls):
            if field.name in overrides:
                continue
            name = _json_name(field)
            if name != field.name:
                renamed[field.name] = name
            rfc = field.metadata.get("datetime") == "rfc2822"
            overrides[field.name] = override(
                rename=renamed.get(field.name),
                unstruct_hook=_unstructure_rfc2822 if rfc else None,
            )
        base = make_dict_unstructure_fn(cls, conv, **overrides)

        def unstructure_model(instance: Any) -> dict[str, Any]:
            result: dict[str, Any] = base(instance)
            for key in instance.missing_keys:
                result.pop(key, None)
            if instance.extra:
                result.update(instance.extra)
            return result

        return unstructure_model

    return factory


def _unstructure_json(value: Any) -> Any:
    return value


def _configure(conv: cattrs.Converter) -> cattrs.Converter:
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(float, _structure_float)
    conv.register_structure_hook(datetime, _structure_iso8601)
    conv.register_unstructure_hook(datetime, _unstructure_iso8601)
    # Registered first: the factories below are more specific and win where both match.
    conv.register_structure_hook_factory(_is_plain_optional, _make_optional_hook(conv))
    conv.register_structure_hook_factory(_is_enum_union, _make_enum_hook)
    conv.register_structure_hook_func(_is_raw_json, _structure_json)
    conv.register_unstructure_hook_func(_is_json_union, _unstructure_json)
    conv.register_structure_hook_factory(_is_list, _make_list_hook(conv))
    conv.register_structure_hook_factory(_is_model, _make_model_structure(conv))
    conv.register_unstructure_hook_factory(_is_model, _make_model_unstructure(conv))
    return conv


def _is_enum_union(tp: Any) -> bool:
    return _enum_in(tp) is not None


def _is_raw_json(tp: Any) -> bool:
    return _is_json_union(tp)


def _is_list(tp: Any) -> bool:
    return typing.get_origin(tp) is list


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, TwilioModel)


#: The converter every model goes through (``to_dict``, ``from_dict``, error reports).
#: Its detailed validation names the field that failed.
converter: cattrs.Converter = _configure(cattrs.Converter(detailed_validation=True))
#: The same configuration without detailed validation, for decoding responses: it is what
#: runs on every record, and when it fails, ``converter`` re-runs to say where.
_fast_converter: cattrs.Converter = _configure(cattrs.Converter(detailed_validation=False))


def _first_path(exc: BaseException) -> tuple[str, str]:
    """The JSON path and message of the first failure inside a cattrs validation error."""
    messages = cattrs.transform_error(cast(Any, exc), path="$")
    if not messages:
        return "$", str(exc)
    first = messages[0]
    message, _, path = first.rpartition(" @ ")
    return (path or "$"), (message or first)


def _resource_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is list:
        (item,) = typing.get_args(tp)
        return f"list of {_resource_name(item)}"
    return getattr(tp, "__name__", str(tp))


def decode(data: Any, tp: type[T], *, url: str = "", path: str = "$") -> T:
    """Structure response JSON into ``tp``; any failure is a :class:`DecodeError`."""
    try:
        return _fast_converter.structure(data, tp)
    except Exception:
        pass
    raise _decode_error(data, tp, url=url, path=path)


def structure_or_none(data: dict[str, Any], model: type[T]) -> T | None:
    """``data`` as ``model`` if it has that shape, else ``None`` (never raises)."""
    try:
        return _fast_converter.structure(data, model)
    except Exception:
        return None


def decode_list(data: Any, item_type: type[T], *, url: str = "", path: str = "$") -> list[T]:
    """Structure a JSON array of ``item_type``; any failure is a :class:`DecodeError`."""
    return decode(data, list[item_type], url=url, path=path)  # type: ignore[valid-type]


def _decode_error(data: Any, tp: Any, *, url: str, path: str) -> DecodeError:
    """Re-run a failed decode with detailed validation to name the field that failed."""
    exc: Exception = TypeError("value rejected")
    try:
        converter.structure(data, tp)
    except Exception as error:
        exc = error
    if isinstance(exc, cattrs.BaseValidationError):
        field, message = _first_path(exc)
        field = path + field[1:]
    else:
        field, message = path, f"{type(exc).__name__}: {exc}"
    return DecodeError(message, resource=_resource_name(tp), field=field, url=url)
