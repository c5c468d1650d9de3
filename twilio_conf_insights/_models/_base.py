"""What every model shares: the JSON value type, unknown keys, and ``to_dict``."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType, ModuleType
from typing import Any, Self, TypeVar, Union

import attrs

__all__ = [
    "EMPTY_EXTRA",
    "JSONValue",
    "TwilioModel",
    "extra_field",
    "known_shape",
    "missing_keys_field",
]

#: Any value JSON can hold, as :func:`json.loads` returns it.
JSONValue = Union[None, bool, int, float, str, list["JSONValue"], dict[str, "JSONValue"]]  # noqa: UP007

#: The shared, immutable ``extra`` of a model that had no unknown keys.
EMPTY_EXTRA: Mapping[str, JSONValue] = MappingProxyType({})


def extra_field() -> Any:
    """The ``extra`` attribute: keys the API sent that this version does not know, verbatim."""
    return attrs.field(default=EMPTY_EXTRA, kw_only=True, repr=False)


def missing_keys_field() -> Any:
    """The ``missing_keys`` attribute: documented keys absent from the response.

    Kept so that :meth:`TwilioModel.to_dict` leaves them out again instead of inventing
    ``null``s; it plays no part in equality.
    """
    return attrs.field(default=frozenset(), kw_only=True, repr=False, eq=False)


class TwilioModel:
    """Base of every model: frozen attrs classes built and dumped by the one converter.

    Unknown keys survive in ``extra``; :meth:`to_dict` gives back the API's JSON.
    """

    __slots__ = ()

    extra: Mapping[str, JSONValue]
    missing_keys: frozenset[str]

    def to_dict(self) -> dict[str, Any]:
        """The API's JSON for this object: original key names, unknown keys included."""
        from .._converter import converter

        result: dict[str, Any] = converter.unstructure(self)
        return result

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        """Parse the API's JSON for this model; raises :class:`DecodeError` on a bad shape."""
        from .._converter import decode

        return decode(data, cls)


M = TypeVar("M", bound=TwilioModel)


def known_shape(model: type[M], raw: JSONValue) -> M | None:
    """The typed view of a field the API leaves untyped.

    Such fields carry their documented shape in their metadata (``{"shape": Model}``), for
    tools that walk the models (the CLI's CSV columns).

    ``model`` when ``raw`` is an object of its documented shape, else ``None`` (the raw JSON
    stays available on the ``*_json`` field). Parsed on first access, not with the response:
    most readers of a listing never look at every participant's metrics.
    """
    if type(raw) is not dict:
        return None
    result: M | None = _converter_module().structure_or_none(raw, model)
    return result


@functools.cache
def _converter_module() -> ModuleType:
    # Imported on first use: the converter module imports the models.
    from .. import _converter

    return _converter
