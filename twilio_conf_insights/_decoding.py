"""Response JSON to models: the entry points, the strict/tolerant choice, and reporting.

By default a record never fails over a value (see :mod:`._converter`): what did not fit is
listed in the record's ``problems`` and reported once, as a
:class:`~._events.RecordProblems` event to the client's hooks and a WARNING log line. A body
or page that is not the documented shape (not an object, an item that is not an object)
still raises :class:`DecodeError`, and so does any mismatch with ``strict=True``.
"""

from __future__ import annotations

import logging
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

import attrs
import cattrs

from ._converter import detailed_converter, strict_converter, tolerant_converter
from ._errors import DecodeError
from ._events import RecordProblems

__all__ = ["Decoder", "decode", "decode_list", "view"]

T = TypeVar("T")

_log = logging.getLogger("twilio_conf_insights")


def _report_to_log(event: RecordProblems) -> None:
    fields = "; ".join(f"{name}: {why}" for name, why in event.problems.items())
    _log.warning(
        "%s at %s %s: values read as None because they do not fit: %s",
        event.resource,
        event.url or "(no URL)",
        event.path,
        fields,
    )


@attrs.frozen
class Decoder:
    """How one client decodes: tolerant (the default) or strict, and whom to tell."""

    #: Raise :class:`DecodeError` on the first value that does not fit its field.
    strict: bool = False
    #: Called once per record that has problems (the client's event hooks).
    on_problems: Callable[[RecordProblems], None] | None = None

    def one(self, data: Any, tp: type[T], *, url: str = "", path: str = "$") -> T:
        """Structure one response body into ``tp``."""
        if type(data) is not dict:
            raise _decode_error(data, tp, url=url, path=path)
        result = self._structure(data, tp, url=url, path=path)
        problems: Mapping[str, str] | None = getattr(result, "problems", None)
        if problems:
            self._report(RecordProblems(_resource_name(tp), url, path, problems))
        return result

    def many(self, items: Any, item_type: type[T], *, url: str = "", path: str = "$") -> list[T]:
        """Structure a JSON array of records (a page's items)."""
        tp = cast(type[list[T]], list[item_type])  # type: ignore[valid-type]
        result = self._structure(items, tp, url=url, path=path)
        for index, item in enumerate(result):
            problems: Mapping[str, str] | None = getattr(item, "problems", None)
            if problems:
                where = f"{path}[{index}]"
                self._report(RecordProblems(_resource_name(item_type), url, where, problems))
        return result

    def _structure(self, data: Any, tp: type[T], *, url: str, path: str) -> T:
        conv = strict_converter if self.strict else tolerant_converter
        try:
            return conv.structure(data, tp)
        except Exception:
            pass
        if not self.strict:
            # Tolerant decoding only fails on shape: say which item is not an object.
            shape_error = _shape_error(data, tp, url=url, path=path)
            if shape_error is not None:
                raise shape_error
        raise _decode_error(data, tp, url=url, path=path)

    def _report(self, event: RecordProblems) -> None:
        _report_to_log(event)
        if self.on_problems is not None:
            self.on_problems(event)


_TOLERANT = Decoder()


def decode(data: Any, tp: type[T], *, url: str = "", path: str = "$", strict: bool = False) -> T:
    """Structure one JSON object into the model ``tp``; see :class:`Decoder`."""
    return (Decoder(strict=True) if strict else _TOLERANT).one(data, tp, url=url, path=path)


def decode_list(
    data: Any, item_type: type[T], *, url: str = "", path: str = "$", strict: bool = False
) -> list[T]:
    """Structure a JSON array of ``item_type``; see :class:`Decoder`."""
    decoder = Decoder(strict=True) if strict else _TOLERANT
    return decoder.many(data, item_type, url=url, path=path)


def view(model: type[T], raw: Any) -> T | None:
    """The typed view of a field the API leaves untyped: ``model`` if ``raw`` is an object.

    Values inside that do not fit read as ``None`` and are listed in the view's
    ``problems`` (logged once: the view is built once per record).
    """
    if type(raw) is not dict:
        return None
    result: T = tolerant_converter.structure(raw, model)
    problems: Mapping[str, str] | None = getattr(result, "problems", None)
    if problems:
        _report_to_log(RecordProblems(_resource_name(model), "", "(typed view)", problems))
    return result


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


def _shape_error(data: Any, tp: Any, *, url: str, path: str) -> DecodeError | None:
    resource = _resource_name(tp)
    if typing.get_origin(tp) is not list:
        return None
    if type(data) is not list:
        return DecodeError("expected an array", resource=resource, field=path, url=url)
    for index, item in enumerate(data):
        if type(item) is not dict:
            kind = type(item).__name__
            return DecodeError(
                f"expected a JSON object, got {kind}",
                resource=resource,
                field=f"{path}[{index}]",
                url=url,
            )
    return None


def _decode_error(data: Any, tp: Any, *, url: str, path: str) -> DecodeError:
    """Re-run a failed decode with detailed validation to name the field that failed."""
    exc: Exception = TypeError("value rejected")
    try:
        detailed_converter.structure(data, tp)
    except Exception as error:
        exc = error
    if isinstance(exc, cattrs.BaseValidationError):
        field, message = _first_path(exc)
        field = path + field[1:]
    else:
        field, message = path, f"{type(exc).__name__}: {exc}"
    return DecodeError(message, resource=_resource_name(tp), field=field, url=url)
