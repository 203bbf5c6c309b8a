"""Request models generated from a data contract, so any contract is served without code changes.

Each contract feature becomes one field: its type, range (``ge``/``le``), categories (matched trimmed and
case-folded, then returned in canonical form) and nullability (a nullable field may be omitted). Unknown
fields are refused, so a typo is a 422, not a silently missing feature. This module never names a column.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from prodml.contract import Contract, Feature, FeatureType, canonical_category

MAX_STRING_CHARS = 4096
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _category_validator(feature: Feature):
    allowed = feature.categories
    shown = ", ".join(allowed)

    def check(value: str) -> str:
        canonical = canonical_category(value)
        if canonical not in allowed:
            raise ValueError(f"must be one of {shown} (got {value!r})")
        return canonical

    return check


def _as_utc(value: datetime) -> datetime:
    # A timestamp without a zone is taken as UTC, as ETL takes it.
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-23:59: pydantic makes a 422 of a ValueError only
        raise ValueError("out of range: in UTC it falls outside years 1 to 9999") from None


def _iso_timestamp_text(value: Any) -> Any:
    """A timestamp is an ISO 8601 string (``YYYY-MM-DD``, optionally a time and an offset), as the OpenAPI
    ``string``/``date-time`` says and as ETL reads it: lax pydantic would also take a number, or a string of
    digits, as Unix seconds."""
    if type(value) is str and value[4:5] == "-":
        return value
    raise PydanticCustomError(
        "datetime_type", "Input should be an ISO 8601 date-time string (YYYY-MM-DDTHH:MM:SS, offset optional)"
    )


def _json_integer(value: Any) -> Any:
    """A JSON integer, as the OpenAPI ``integer`` means it: a number with no fractional part (``3``, and
    ``3.0`` as JSON Schema counts it). Never a boolean (lax pydantic takes ``true`` as 1) or a string
    (``"1e5"``)."""
    kind = type(value)
    if kind is int:
        return value
    if kind is float:
        if value.is_integer():
            return int(value)
        raise PydanticCustomError(
            "int_from_float", "Input should be a valid integer, got a fractional number"
        )
    shown = {bool: "a boolean", str: "a string"}.get(kind)
    raise PydanticCustomError(
        "int_type",
        f"Input should be a valid integer, not {shown}" if shown else "Input should be a valid integer",
    )


def _field_type(feature: Feature) -> Any:
    bounds: dict[str, Any] = {}
    if feature.min is not None:
        bounds["ge"] = feature.min
    if feature.max is not None:
        bounds["le"] = feature.max
    # Numbers and booleans are taken only as the JSON types the OpenAPI document names: lax pydantic would
    # also take true as 1, "1e5" as a number and 1 or "yes" as true.
    if feature.type is FeatureType.INT:
        # Unbounded, an int is still an int64, as ETL types it (and a bigger one would overflow the model input).
        bounds.setdefault("ge", INT64_MIN)
        bounds.setdefault("le", INT64_MAX)
        return Annotated[int, Field(strict=True, **bounds), BeforeValidator(_json_integer)]
    if feature.type is FeatureType.FLOAT:
        return Annotated[float, Field(strict=True, allow_inf_nan=False, **bounds)]
    if feature.type is FeatureType.BOOL:
        return Annotated[bool, Field(strict=True)]
    if feature.type is FeatureType.CATEGORY:
        return Annotated[
            str,
            Field(max_length=256, json_schema_extra={"enum": feature.categories}),  # type: ignore[dict-item]  # list[str] is JSON; JsonDict wants the invariant list[JsonValue]
            AfterValidator(_category_validator(feature)),
        ]
    if feature.type is FeatureType.TIMESTAMP:
        return Annotated[datetime, BeforeValidator(_iso_timestamp_text), AfterValidator(_as_utc)]
    return Annotated[str, Field(max_length=MAX_STRING_CHARS)]


class _RowBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def row_model(contract: Contract) -> type[BaseModel]:
    """One prediction request: every contract feature, plus the optional id (kept for capture only)."""
    fields: dict[str, Any] = {
        contract.id: (
            str | None,
            Field(default=None, max_length=256, description="Row id: captured, never a model input."),
        )
    }
    for feature in contract.features:
        annotation = _field_type(feature)
        description = feature.description or f"{feature.type.value} feature"
        if feature.type is FeatureType.CATEGORY:
            description += f"; one of {', '.join(feature.categories)} (case and spaces ignored)"
        if feature.type is FeatureType.TIMESTAMP:  # what JSON Schema's date-time cannot say
            description += "; without an offset it is UTC, and in UTC it must fall in years 1 to 9999"
        if feature.nullable:
            fields[feature.name] = (annotation | None, Field(default=None, description=description))
        else:
            fields[feature.name] = (annotation, Field(description=description))
    name = "".join(part.title() for part in contract.name.split("_")) + "Row"
    return create_model(name, __base__=_RowBase, **fields)


def batch_model(row: type[BaseModel], max_rows: int) -> type[BaseModel]:
    return create_model(
        row.__name__.removesuffix("Row") + "Batch",
        __base__=_RowBase,
        rows=(list[row], Field(min_length=1, max_length=max_rows)),  # type: ignore[valid-type]  # row is a class built at run time
    )


def _field_path(loc: tuple) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def _reason(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field: the contract has no such feature"
    if kind == "json_invalid":
        return "body is not valid JSON"
    if kind in ("model_type", "model_attributes_type"):
        return "expected a JSON object"
    return error["msg"].removeprefix("Value error, ")


def describe_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Pydantic's errors as ``[{field, reason, type}]``: stable, readable, with no input echoed back
    beyond the rejected value's own reason."""
    return [
        {"field": _field_path(tuple(error["loc"])), "reason": _reason(error), "type": error["type"]}
        for error in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def example_row(contract: Contract) -> dict[str, Any]:
    """A valid request for ``contract``: used to warm a freshly loaded model and as the OpenAPI example."""
    row: dict[str, Any] = {}
    for feature in contract.features:
        if feature.type is FeatureType.CATEGORY:
            row[feature.name] = feature.categories[0]
        elif feature.type is FeatureType.BOOL:
            row[feature.name] = False
        elif feature.type is FeatureType.TIMESTAMP:
            row[feature.name] = "2024-01-15T00:00:00Z"
        elif feature.type is FeatureType.STRING:
            row[feature.name] = "example"
        else:
            low = feature.min if feature.min is not None else 0.0
            high = feature.max if feature.max is not None else low + 10.0
            value = low + (high - low) / 10
            row[feature.name] = int(value) if feature.type is FeatureType.INT else round(value, 2)
    return row
