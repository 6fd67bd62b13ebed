"""Request models that refuse keys they do not define, naming the key and the fields that are accepted
(and the words for a query parameter a route does not define: serving/dependencies.py refuses it).

Without this a misspelt optional field (`fibre_g`, `meal.glycemic_index`) is dropped and the answer is
computed as if it were absent. `mobile/src/validate.ts` words the same refusal the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, ValidatorFunctionWrapHandler, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

EXTRA_FORBIDDEN = "extra_forbidden"  # pydantic's error type for a key the model does not define
_PYDANTIC_EXTRA_MSG = "Extra inputs are not permitted"
# A field name this close (edits: insert, delete, substitute, swap two neighbours; case ignored) is offered.
MAX_SUGGESTION_EDITS = 2


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(rows[i - 1][j] + 1, row[j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[i - 2][j - 2] + 1)
        rows.append(row)
    return rows[len(a)][len(b)]


def closest_field(name: str, fields: Sequence[str]) -> str | None:
    """The field `name` was probably meant to be (the first of the nearest), or None when none is close."""
    best, best_edits = None, MAX_SUGGESTION_EDITS + 1
    for field in fields:
        edits = edit_distance(name.lower(), field.lower())
        if edits < best_edits:
            best, best_edits = field, edits
    return best if best_edits <= MAX_SUGGESTION_EDITS and best_edits < len(name) else None


def _did_you_mean(name: str, names: Sequence[str]) -> str:
    close = closest_field(name, names)
    return f" (did you mean '{close}'?)" if close is not None else ""


def unknown_field_message(name: str, fields: Sequence[str], refused: Mapping[str, str]) -> str:
    """What the client reads for a key the model does not define (starts with pydantic's own words)."""
    if name in refused:
        return f"{_PYDANTIC_EXTRA_MSG}: '{name}' is not accepted: {refused[name]}"
    hint = _did_you_mean(name, fields)
    return f"{_PYDANTIC_EXTRA_MSG}: '{name}' is not a field here{hint}; the fields are {', '.join(fields)}"


def unknown_query_message(name: str, parameters: Sequence[str]) -> str:
    """What the client reads for a query parameter the route does not define (pydantic's words first, as
    for a body key)."""
    if not parameters:
        return f"{_PYDANTIC_EXTRA_MSG}: '{name}' is not a query parameter here; this route takes none"
    return (
        f"{_PYDANTIC_EXTRA_MSG}: '{name}' is not a query parameter here{_did_you_mean(name, parameters)}; "
        f"the query parameters are {', '.join(parameters)}"
    )


def _rebuilt(error: Any, message: str | None) -> InitErrorDetails:
    """One error of a ValidationError as it was (or with `message`), to raise again."""
    if message is not None or error["type"] == EXTRA_FORBIDDEN:
        kind: Any = PydanticCustomError(EXTRA_FORBIDDEN, message or error["msg"])
        return InitErrorDetails(type=kind, loc=error["loc"], input=error["input"])
    details = InitErrorDetails(type=error["type"], loc=error["loc"], input=error["input"])
    if "ctx" in error:
        details["ctx"] = error["ctx"]
    return details


class ClosedModel(BaseModel):
    """Base of every request body: an unknown key is refused (422), not dropped.

    The OpenAPI schema says `additionalProperties: false`; the error is pydantic's `extra_forbidden` at the
    key's own place, its message naming the nearest field or listing the fields.
    """

    model_config = ConfigDict(extra="forbid")
    # Keys a client may well send that are refused on purpose: the message gives the reason instead.
    refused_fields: ClassVar[Mapping[str, str]] = {}

    @model_validator(mode="wrap")
    @classmethod
    def _name_unknown_fields(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(data)
        except ValidationError as err:
            errors = err.errors()
            # Only this model's own keys (loc of length 1); nested models worded theirs already.
            own = [len(e["loc"]) == 1 and e["type"] == EXTRA_FORBIDDEN for e in errors]
            if not any(own):
                raise
            fields = list(cls.model_fields)
            rebuilt = [
                _rebuilt(
                    e, unknown_field_message(str(e["loc"][0]), fields, cls.refused_fields) if mine else None
                )
                for e, mine in zip(errors, own, strict=True)
            ]
            raise ValidationError.from_exception_data(err.title, rebuilt) from None
