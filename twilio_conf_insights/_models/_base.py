"""What every model shares: the JSON value type, the bookkeeping fields, ``to_dict``."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Self, TypeVar, Union

import attrs

from .._converter import BOOKKEEPING, converter, json_name
from .._decoding import decode, view

__all__ = ["EMPTY_EXTRA", "JSONValue", "TwilioModel", "known_shape"]

#: Any value JSON can hold, as :func:`json.loads` returns it.
JSONValue = Union[None, bool, int, float, str, list["JSONValue"], dict[str, "JSONValue"]]  # noqa: UP007

#: The shared, immutable ``extra`` of a model that had no unknown keys.
EMPTY_EXTRA: Mapping[str, JSONValue] = MappingProxyType({})
#: The shared, immutable ``problems`` of a model whose values all fit.
NO_PROBLEMS: Mapping[str, str] = MappingProxyType({})


@attrs.frozen
class TwilioModel:
    """Base of every model: frozen attrs classes built and dumped by the one converter.

    A decoded model keeps the JSON object it came from: :meth:`to_dict` gives it back
    exactly. A value that does not fit its field's documented type reads as ``None`` and
    is named in :attr:`problems`; unknown keys are offered in :attr:`extra`.
    """

    #: The API's field names whose values did not fit their type, each with the reason
    #: (``{"duration_seconds": "expected an integer, got str '64'"}``). Those attributes
    #: read as ``None``; :meth:`to_dict` still holds the values as received. Nested typed
    #: views name their fields with a dotted path (``"inbound.mos"``).
    problems: Mapping[str, str] = attrs.field(default=NO_PROBLEMS, kw_only=True, repr=False)
    #: Keys the API sent that this version does not know, verbatim.
    extra: Mapping[str, JSONValue] = attrs.field(default=EMPTY_EXTRA, kw_only=True, repr=False)
    # The JSON object this model was decoded from (None when built in Python, or evolved).
    _raw: Mapping[str, JSONValue] | None = attrs.field(
        default=None, init=False, repr=False, eq=False
    )

    @property
    def missing_keys(self) -> frozenset[str]:
        """Documented keys that were absent from the JSON this model was decoded from."""
        if self._raw is None:
            return frozenset()
        fields = attrs.fields(type(self))
        known = {json_name(field) for field in fields if field.name not in BOOKKEEPING}
        return frozenset(known - self._raw.keys())

    def to_dict(self) -> dict[str, Any]:
        """The API's JSON for this object: exactly as received when decoded (plain JSON)."""
        result: dict[str, Any] = converter.unstructure(self)
        return result

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as its JSON (what to_dict gives back exactly), decoded again on loading:
        # Model.from_dict(m.to_dict()) == m, problems included.
        return (_from_json, (type(self), self.to_dict()))

    @classmethod
    def from_dict(cls, data: Any, *, strict: bool = False) -> Self:
        """Parse the API's JSON for this model.

        Values that do not fit read as ``None`` and are listed in :attr:`problems`; with
        ``strict=True`` they raise :class:`DecodeError` instead. Data that is not a JSON
        object always raises :class:`DecodeError`. The model keeps a reference to ``data``.
        """
        return decode(data, cls, strict=strict)


M = TypeVar("M", bound=TwilioModel)


def _from_json(model: type[M], data: dict[str, Any]) -> M:
    """A model unpickled (see ``TwilioModel.__reduce__``)."""
    return decode(data, model)


def known_shape(model: type[M], raw: JSONValue) -> M | None:
    """The typed view of a field the API leaves untyped.

    Such fields carry their documented shape in their metadata (``{"shape": Model}``), for
    tools that walk the models (the CLI's CSV columns).

    ``model`` when ``raw`` is an object, else ``None`` (the raw JSON stays available on the
    ``*_json`` field). Values inside that do not fit read as ``None`` one by one, listed in
    the view's ``problems``. Parsed on first access, not with the response: most readers
    of a listing never look at every participant's metrics.
    """
    return view(model, raw)
