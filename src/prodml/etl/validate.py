"""Validate and coerce raw text against the contract, one batch at a time, with per-row reason codes.

Input is a batch whose contract columns are raw bytes (as read from CSV, or values cast to text from JSON
lines and parquet). Output is the same rows with every column coerced to its contract type, plus a reason
code for each failed check. A reason code is ``<column>:<check>``; the checks are:

- ``invalid_utf8``       the bytes are not UTF-8 (the quarantined value keeps them as ``\\xNN`` escapes)
- ``null_not_allowed``   empty (after trimming) where the contract forbids nulls; the id and target never
                         take nulls
- ``invalid_int`` / ``invalid_float`` / ``invalid_bool`` / ``invalid_timestamp``   text that does not parse
- ``below_min`` / ``above_max``   a number outside the contract's range
- ``unknown_category``   a category outside the contract's values (compared with ``canonical_category``)

Parsing rules (the same for every file format): a value is null when it is empty after trimming. Ints are
``-?[0-9]{1,18}``; floats are decimal or scientific and must be finite; bools are true/false, t/f, yes/no,
y/n or 1/0 in any case; timestamps are ISO 8601 (date, or date and time with optional fraction) and are UTC
unless they carry an offset. Categories are trimmed and case-folded to the contract's canonical values.

A column that already has its contract type (a typed parquet file's float64, int64 or a narrower int, bool
or timestamp[us, UTC]) skips the text round trip: :func:`coerce_typed` applies the same checks to the values
themselves, with the same outcome (``tests/etl/test_validate.py`` holds the two paths to each other), and
the quarantine's text of a refused value is made only for the refused rows (:meth:`ValidatedBatch.raw_values`).

Pure functions only: nothing here touches AWS or the file system.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prodml.contract import Contract, FeatureType, canonical_category

INT_PATTERN = r"^-?[0-9]{1,18}$"
FLOAT_PATTERN = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
# Field ranges are checked here so that typical garbage ("2021-13-45") never reaches the slower
# bisecting cast; only calendar errors such as 2021-02-31 do.
TIMESTAMP_PATTERN = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:([0-5][0-9]|60)(\.[0-9]{1,9})?)?)?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})?$"
)
ZONED_PATTERN = r"(Z|[+-][0-9]{2}:?[0-9]{2})$"
TRUE_TOKENS = ("true", "t", "yes", "y", "1")
FALSE_TOKENS = ("false", "f", "no", "n", "0")


@dataclass
class ValidatedBatch:
    """A batch coerced to the contract's types. ``reasons`` holds one (code, mask) per failed check, in
    column order; ``valid`` is True where no check failed."""

    table: pa.Table  # contract columns, typed; invalid values are null
    reasons: list[tuple[str, np.ndarray]]
    valid: np.ndarray
    raw: dict[str, pa.Array]  # each column's raw values: text, or the column's own contract type

    def raw_values(self, name: str, rows: pa.Array) -> pa.Array:
        """Column ``name``'s raw values at ``rows``, as text: what the quarantine keeps of a refused row."""
        return self.raw[name].take(rows).cast(pa.string())

    def primary_reason(self) -> np.ndarray:
        """The first failed check of each row (None for a valid row): quarantine counts use this, so each
        rejected row is counted exactly once."""
        primary = np.full(self.table.num_rows, None, dtype=object)
        for code, mask in reversed(self.reasons):
            primary[mask] = code
        return primary

    def all_reasons(self, rows: np.ndarray) -> list[str]:
        """Every failed check of the given rows, joined with '; '."""
        joined: list[list[str]] = [[] for _ in range(len(rows))]
        for code, mask in self.reasons:
            for i in np.flatnonzero(mask[rows]):
                joined[i].append(code)
        return ["; ".join(codes) for codes in joined]


def try_cast(values: pa.Array, to: pa.DataType) -> pa.Array:
    """Cast, turning each value that does not convert into a null. Bisects only around bad values, so a
    batch with k bad values costs O(k log n) small casts on top of one vectorised cast."""
    try:
        return pc.cast(values, to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if len(values) == 1:
            return pa.nulls(1, to)
        mid = len(values) // 2
        return pa.concat_arrays([try_cast(values[:mid], to), try_cast(values[mid:], to)])


def _mask(array: pa.Array) -> np.ndarray:
    return np.asarray(array.fill_null(False), dtype=bool) if len(array) else np.zeros(0, dtype=bool)


def decode_utf8(raw: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Binary → string. Returns the text (invalid values null) and the mask of values that were not UTF-8."""
    text = try_cast(raw, pa.string())
    bad = _mask(pc.and_(pc.is_valid(raw), pc.is_null(text)))
    return text, bad


def escape_bytes(raw: pa.Array, bad: np.ndarray) -> pa.Array:
    """Text for the quarantine that loses nothing: non-UTF-8 bytes become ``\\xNN`` escapes."""
    text = try_cast(raw, pa.string())
    if not bad.any():
        return text
    values = text.to_pylist()
    for i in np.flatnonzero(bad):
        values[i] = raw[i].as_py().decode("utf-8", errors="backslashreplace")
    return pa.array(values, pa.string())


def blank_to_null(text: pa.Array) -> pa.Array:
    trimmed = pc.utf8_trim_whitespace(text)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _parse_checked(text: pa.Array, pattern: str, to: pa.DataType) -> pa.Array:
    shaped = pc.if_else(pc.match_substring_regex(text, pattern), text, pa.scalar(None, pa.string()))
    return try_cast(shaped, to)


def parse_int(text: pa.Array) -> pa.Array:
    return _parse_checked(text, INT_PATTERN, pa.int64())


def parse_float(text: pa.Array) -> pa.Array:
    values = _parse_checked(text, FLOAT_PATTERN, pa.float64())
    return pc.if_else(pc.is_finite(values), values, pa.scalar(None, pa.float64()))


def parse_bool(text: pa.Array) -> pa.Array:
    lowered = pc.utf8_lower(text)
    is_true = pc.is_in(lowered, pa.array(TRUE_TOKENS))
    is_false = pc.is_in(lowered, pa.array(FALSE_TOKENS))
    return pc.if_else(
        is_true, pa.scalar(True), pc.if_else(is_false, pa.scalar(False), pa.scalar(None, pa.bool_()))
    )


def parse_timestamp(text: pa.Array) -> pa.Array:
    """ISO 8601 → timestamp[us, UTC]. Values without an offset are taken as UTC."""
    utc = pa.timestamp("us", tz="UTC")
    shaped = pc.if_else(pc.match_substring_regex(text, TIMESTAMP_PATTERN), text, pa.scalar(None, pa.string()))
    zoned = pc.match_substring_regex(shaped, ZONED_PATTERN)
    with_zone = try_cast(pc.if_else(zoned, shaped, pa.scalar(None, pa.string())), utc)
    naive = try_cast(pc.if_else(zoned, pa.scalar(None, pa.string()), shaped), pa.timestamp("us"))
    return pc.coalesce(with_zone, pc.cast(naive, utc))


def normalise_category(text: pa.Array, allowed: list[str]) -> pa.Array:
    """Trim and case-fold with :func:`canonical_category` itself (applied to the distinct values only, so
    ETL and serving cannot disagree); values outside ``allowed`` become null."""
    encoded = pc.dictionary_encode(text)
    canonical = pa.array([canonical_category(v) for v in encoded.dictionary.to_pylist()], pa.string())
    values = pc.take(canonical, encoded.indices)
    return pc.if_else(pc.is_in(values, pa.array(allowed, pa.string())), values, pa.scalar(None, pa.string()))


_PARSERS = {
    FeatureType.INT: ("invalid_int", parse_int),
    FeatureType.FLOAT: ("invalid_float", parse_float),
    FeatureType.BOOL: ("invalid_bool", parse_bool),
    FeatureType.TIMESTAMP: ("invalid_timestamp", parse_timestamp),
}


def range_failures(
    values: pa.Array, minimum: float | None, maximum: float | None
) -> list[tuple[str, np.ndarray]]:
    """``below_min`` / ``above_max`` masks. The contract's bounds are floats, so ints are compared as floats
    (an int beyond 2**53 has no exact float, and Arrow's safe cast would refuse it)."""
    if pa.types.is_integer(values.type) and (minimum is not None or maximum is not None):
        values = pc.cast(values, pa.float64(), safe=False)
    failures = []
    if minimum is not None:
        failures.append(("below_min", _mask(pc.less(values, minimum))))
    if maximum is not None:
        failures.append(("above_max", _mask(pc.greater(values, maximum))))
    return failures


_TYPED = {
    FeatureType.INT: pa.int64(),
    FeatureType.FLOAT: pa.float64(),
    FeatureType.BOOL: pa.bool_(),
    FeatureType.TIMESTAMP: pa.timestamp("us", tz="UTC"),
}
INT_LIMIT = 10**18  # INT_PATTERN takes 18 digits at most
# The years TIMESTAMP_PATTERN's four digits take: 0000 to 9999 (Arrow writes other years with a sign or a
# fifth digit).
TIMESTAMP_RANGE_US = (-62167219200000000, 253402300799999999)  # microseconds since the epoch


def coerce_typed(
    values: pa.Array,
    ftype: FeatureType,
    *,
    nullable: bool,
    minimum: float | None = None,
    maximum: float | None = None,
) -> tuple[pa.Array, list[tuple[str, np.ndarray]]] | None:
    """:func:`coerce_column` for values that already have their contract type, without casting them to text
    and back: the same values and failed checks as the text of those values would give (NaN and infinities
    are not floats, ints have at most 18 digits, timestamps fall in years 0000-9999). None when ``values``
    does not have the contract type, and for text types: the caller takes the text path. Narrower ints
    (Spark writes int32) are widened first, and ints for a float feature cast, as their text would parse."""
    kind = values.type
    if pa.types.is_integer(kind) and kind != pa.uint64() and ftype in (FeatureType.INT, FeatureType.FLOAT):
        values = pc.cast(values, pa.float64() if ftype is FeatureType.FLOAT else pa.int64(), safe=False)
    if _TYPED.get(ftype) != values.type:
        return None
    failures: list[tuple[str, np.ndarray]] = []
    present = pc.is_valid(values)
    if not nullable:
        failures.append(("null_not_allowed", ~_mask(present)))
    unparsable = None
    if ftype is FeatureType.FLOAT:
        unparsable = pc.invert(pc.is_finite(values))
    elif ftype is FeatureType.INT:
        unparsable = pc.or_(pc.greater_equal(values, INT_LIMIT), pc.less_equal(values, -INT_LIMIT))
    elif ftype is FeatureType.TIMESTAMP:
        micros = values.cast(pa.int64())
        unparsable = pc.or_(pc.less(micros, TIMESTAMP_RANGE_US[0]), pc.greater(micros, TIMESTAMP_RANGE_US[1]))
    if unparsable is not None:
        bad = _mask(unparsable)
        if bad.any():
            failures.append((_PARSERS[ftype][0], bad))
            values = pc.if_else(pa.array(bad), pa.scalar(None, values.type), values)
    failures += range_failures(values, minimum, maximum)
    return values, [(check, mask) for check, mask in failures if mask.any()]


def coerce_column(
    text: pa.Array,
    ftype: FeatureType,
    *,
    nullable: bool,
    minimum: float | None = None,
    maximum: float | None = None,
    categories: list[str] | None = None,
) -> tuple[pa.Array, list[tuple[str, np.ndarray]]]:
    """One column: text (null = blank) → typed values, plus (check, mask) for each failed check."""
    failures: list[tuple[str, np.ndarray]] = []
    present = pc.is_valid(text)
    if not nullable:
        failures.append(("null_not_allowed", ~_mask(present)))
    if ftype is FeatureType.CATEGORY:
        values = normalise_category(text, categories or [])
        failures.append(("unknown_category", _mask(pc.and_(present, pc.is_null(values)))))
    elif ftype is FeatureType.STRING:
        values = text
    else:
        check, parse = _PARSERS[ftype]
        values = parse(text)
        failures.append((check, _mask(pc.and_(present, pc.is_null(values)))))
        failures += range_failures(values, minimum, maximum)
    return values, [(check, mask) for check, mask in failures if mask.any()]


def validate_batch(contract: Contract, raw: pa.Table, *, with_target: bool = True) -> ValidatedBatch:
    """Coerce every contract column of ``raw`` (binary or string columns named as in the contract).
    ``with_target=False`` checks the id and the features only (rows to score have no target); the table
    then has no target column."""
    n = raw.num_rows
    columns: dict[str, pa.Array] = {}
    raw_values: dict[str, pa.Array] = {}
    reasons: list[tuple[str, np.ndarray]] = []
    specs: list[tuple[str, FeatureType, bool, float | None, float | None, list[str] | None]] = [
        (contract.id, FeatureType.STRING, False, None, None, None)
    ]
    specs += [(f.name, f.type, f.nullable, f.min, f.max, f.categories) for f in contract.features]
    target = contract.target
    target_values = [canonical_category(v) for v in target.values] if target.values else None
    if with_target:
        specs.append((target.name, target.type, False, None, None, target_values))
    for name, ftype, nullable, minimum, maximum, categories in specs:
        raw_column = raw.column(name).combine_chunks()
        typed = coerce_typed(raw_column, ftype, nullable=nullable, minimum=minimum, maximum=maximum)
        if typed is not None:
            raw_values[name] = raw_column
            values, failures = typed
        else:
            if pa.types.is_binary(raw_column.type) or pa.types.is_large_binary(raw_column.type):
                text, bad_utf8 = decode_utf8(raw_column)
                raw_values[name] = escape_bytes(raw_column, bad_utf8)
                if bad_utf8.any():
                    reasons.append((f"{name}:invalid_utf8", bad_utf8))
            else:
                text = raw_column.cast(pa.string())
                raw_values[name] = text
            values, failures = coerce_column(
                blank_to_null(text),
                ftype,
                nullable=nullable,
                minimum=minimum,
                maximum=maximum,
                categories=categories,
            )
        columns[name] = values
        reasons += [(f"{name}:{check}", mask) for check, mask in failures]
    valid = np.ones(n, dtype=bool)
    for _, mask in reasons:
        valid &= ~mask
    schema = contract.arrow_schema(with_target=with_target, with_derived=False)
    table = pa.table([columns[f.name] for f in schema], schema=_nullable(schema))
    return ValidatedBatch(table=table, reasons=reasons, valid=valid, raw=raw_values)


def _nullable(schema: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field(f.name, f.type, nullable=True) for f in schema])
