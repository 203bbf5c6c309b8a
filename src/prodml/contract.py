"""The data contract: the only place a column is named or typed.

ETL validation, training features, the inference request model and the drift baseline are all derived
from a :class:`Contract`. This module must never hard-code a column of any particular dataset.
"""

from __future__ import annotations

import hashlib
import json
import math
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal

import pyarrow as pa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
ColumnName = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]


class ContractError(ValueError):
    """A contract that cannot be used. The message names the file and the problem."""


class _ValueEnum(str, Enum):  # noqa: UP042 - enum.StrEnum is 3.11+; the Glue Python shell runs 3.9
    """A string enum whose ``str()`` and f-string form is its value, as with ``enum.StrEnum``."""

    def __str__(self) -> str:
        return str(self.value)


class FeatureType(_ValueEnum):
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    CATEGORY = "category"
    STRING = "string"
    TIMESTAMP = "timestamp"


class Task(_ValueEnum):
    BINARY = "binary_classification"
    MULTICLASS = "multiclass_classification"
    REGRESSION = "regression"


PRIMARY_METRICS: dict[Task, tuple[str, ...]] = {
    Task.BINARY: ("roc_auc", "f1", "accuracy", "log_loss"),
    Task.MULTICLASS: ("f1_macro", "accuracy", "log_loss"),
    Task.REGRESSION: ("rmse", "mae", "r2"),
}
# Metrics where smaller is better; the registry gate needs the direction.
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})

ARROW_TYPES: dict[FeatureType, pa.DataType] = {
    FeatureType.INT: pa.int64(),
    FeatureType.FLOAT: pa.float64(),
    FeatureType.BOOL: pa.bool_(),
    FeatureType.CATEGORY: pa.string(),
    FeatureType.STRING: pa.string(),
    FeatureType.TIMESTAMP: pa.timestamp("us", tz="UTC"),
}

DERIVE_TRANSFORMS = ("year", "month", "day_of_week", "day_of_year", "hour", "epoch_days")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Synthetic(_Strict):
    """How `prodml sample-data` draws this column. Only the generator reads it."""

    dist: Literal["uniform", "normal", "lognormal", "poisson", "choice"] = "uniform"
    mean: float | None = None
    std: float | None = None
    low: float | None = None
    high: float | None = None
    weights: list[float] | None = None
    null_rate: float = Field(default=0.0, ge=0, le=1)
    # Linear effect of this feature on the target (standardised scale); categories give one per value.
    effect: float | list[float] = 0.0


class Feature(_Strict):
    name: ColumnName
    type: FeatureType
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    values: list[str] | None = None
    description: str | None = None
    synthetic: Synthetic | None = None

    @field_validator("type", mode="before")
    @classmethod
    def _known_type(cls, value: Any) -> Any:
        allowed = [t.value for t in FeatureType]
        if value not in allowed:
            raise ValueError(f"unknown type {value!r} (allowed: {', '.join(allowed)})")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Feature:
        numeric = self.type in (FeatureType.INT, FeatureType.FLOAT)
        if (self.min is not None or self.max is not None) and not numeric:
            raise ValueError(f"min/max only apply to int and float columns, not {self.type.value}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        if self.type is FeatureType.CATEGORY:
            if not self.values:
                raise ValueError("a category column needs a non-empty 'values' list")
            canonical = [canonical_category(v) for v in self.values]
            if len(set(canonical)) != len(canonical):
                raise ValueError(f"duplicate category values {self.values} (compared trimmed, case-folded)")
        elif self.values is not None:
            raise ValueError(f"'values' only applies to category columns, not {self.type.value}")
        return self

    @property
    def is_numeric(self) -> bool:
        return self.type in (FeatureType.INT, FeatureType.FLOAT)

    @property
    def arrow_type(self) -> pa.DataType:
        return ARROW_TYPES[self.type]

    @property
    def categories(self) -> list[str]:
        return [canonical_category(v) for v in self.values or []]


class Target(_Strict):
    name: ColumnName
    task: Task
    values: list[str] | None = None  # class labels; required for multiclass
    primary_metric: str | None = None
    synthetic: Synthetic | None = None

    @field_validator("task", mode="before")
    @classmethod
    def _known_task(cls, value: Any) -> Any:
        allowed = [t.value for t in Task]
        if value not in allowed:
            raise ValueError(f"unknown task {value!r} (allowed: {', '.join(allowed)})")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Target:
        if self.task is Task.MULTICLASS and (not self.values or len(self.values) < 3):
            raise ValueError("a multiclass target needs 'values' with at least three class labels")
        if self.task is Task.BINARY and self.values is not None and len(self.values) != 2:
            raise ValueError("a binary target's 'values' must have exactly two labels")
        if self.task is Task.REGRESSION and self.values is not None:
            raise ValueError("a regression target takes no 'values'")
        if self.primary_metric is not None and self.primary_metric not in PRIMARY_METRICS[self.task]:
            raise ValueError(
                f"primary_metric {self.primary_metric!r} does not fit {self.task.value} "
                f"(allowed: {', '.join(PRIMARY_METRICS[self.task])})"
            )
        return self

    @property
    def metric(self) -> str:
        return self.primary_metric or PRIMARY_METRICS[self.task][0]

    @property
    def type(self) -> FeatureType:
        return {
            Task.BINARY: FeatureType.BOOL if self.values is None else FeatureType.CATEGORY,
            Task.MULTICLASS: FeatureType.CATEGORY,
            Task.REGRESSION: FeatureType.FLOAT,
        }[self.task]

    @property
    def arrow_type(self) -> pa.DataType:
        return ARROW_TYPES[self.type]


class Derived(_Strict):
    """A feature computed from another column, identically in ETL and in serving."""

    name: ColumnName
    source: ColumnName
    transform: Literal["year", "month", "day_of_week", "day_of_year", "hour", "epoch_days"]

    @property
    def type(self) -> FeatureType:
        return FeatureType.FLOAT if self.transform == "epoch_days" else FeatureType.INT


class Split(_Strict):
    train: float = Field(gt=0, lt=1)
    validation: float = Field(ge=0, lt=1)
    test: float = Field(gt=0, lt=1)

    @model_validator(mode="after")
    def _sums_to_one(self) -> Split:
        total = self.train + self.validation + self.test
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            raise ValueError(
                f"split fractions must sum to 1, got {self.train} + {self.validation} + {self.test} = {total:g}"
            )
        return self

    def as_dict(self) -> dict[str, float]:
        return {"train": self.train, "validation": self.validation, "test": self.test}


class Quality(_Strict):
    max_reject_fraction: float = Field(default=0.05, ge=0, le=1)
    # Rows sharing an id but differing elsewhere: keep the last one landed, or the first.
    duplicate_id_policy: Literal["keep_last", "keep_first"] = "keep_last"


class FeatureDriftThresholds(_Strict):
    """One feature's own drift thresholds; an unset one is the contract-wide value."""

    psi_threshold: float | None = Field(default=None, gt=0)
    ks_threshold: float | None = Field(default=None, gt=0, le=1)


class DriftThresholds(_Strict):
    """When drift detection (prodml.monitoring) calls a feature drifted: PSI (every feature) at or above
    ``psi_threshold``, or the KS statistic (numeric features) at or above ``ks_threshold``. A window with
    fewer than ``min_rows`` rows is "insufficient_data", never drift: below ~1000 rows the KS statistic's own
    sampling noise (1.36/sqrt(n) at 95%, 0.043 at 1000 rows) comes close to a 0.1 threshold. ``features``
    overrides either threshold for a model feature, by name."""

    psi_threshold: float = Field(default=0.2, gt=0)
    ks_threshold: float = Field(default=0.1, gt=0, le=1)
    min_rows: int = Field(default=1000, ge=1)
    features: dict[str, FeatureDriftThresholds] = Field(default_factory=dict)

    def psi(self, feature: str) -> float:
        own = self.features.get(feature)
        return own.psi_threshold if own and own.psi_threshold is not None else self.psi_threshold

    def ks(self, feature: str) -> float:
        own = self.features.get(feature)
        return own.ks_threshold if own and own.ks_threshold is not None else self.ks_threshold


class Contract(_Strict):
    name: ColumnName
    version: int = Field(ge=1)
    description: str | None = None
    id: ColumnName
    target: Target
    features: list[Feature] = Field(min_length=1)
    derived: list[Derived] = Field(default_factory=list)
    split: Split
    quality: Quality = Quality()
    # Monitoring settings, not part of the model: left out of the fingerprint (see there).
    drift: DriftThresholds = DriftThresholds()

    @model_validator(mode="before")
    @classmethod
    def _target_present(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("target"):
            raise ValueError("missing target: the contract must name a target column and its task")
        return data

    @model_validator(mode="after")
    def _unique_columns(self) -> Contract:
        seen: set[str] = set()
        for name in [
            self.id,
            *(f.name for f in self.features),
            self.target.name,
            *(d.name for d in self.derived),
        ]:
            if name in seen:
                raise ValueError(f"duplicate column {name!r}: each column may appear once")
            seen.add(name)
        by_name = {f.name: f for f in self.features}
        for d in self.derived:
            source = by_name.get(d.source)
            if source is None or source.type is not FeatureType.TIMESTAMP:
                raise ValueError(
                    f"derived feature {d.name!r}: source {d.source!r} is not a timestamp feature"
                )
        model_features = set(self.model_features)
        for name, own in self.drift.features.items():
            if name not in model_features:
                raise ValueError(
                    f"drift.features: {name!r} is not a model feature "
                    f"(model features: {', '.join(self.model_features)})"
                )
            if own.ks_threshold is not None and name not in self.numeric_features:
                raise ValueError(f"drift.features.{name}: ks_threshold applies to numeric features only")
        return self

    # ---- views every stage derives from -------------------------------------------------------------

    @property
    def raw_columns(self) -> list[str]:
        """The columns a landed raw file must carry."""
        return [self.id, *(f.name for f in self.features), self.target.name]

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def numeric_features(self) -> list[str]:
        """Model inputs scaled as numbers: int, float, bool and derived features."""
        base = [
            f.name for f in self.features if f.type in (FeatureType.INT, FeatureType.FLOAT, FeatureType.BOOL)
        ]
        return base + [d.name for d in self.derived]

    @property
    def categorical_features(self) -> list[str]:
        """Model inputs one-hot encoded."""
        return [f.name for f in self.features if f.type is FeatureType.CATEGORY]

    @property
    def model_features(self) -> list[str]:
        """Every model input, in a fixed order. Timestamps enter only through derived features; free
        strings never do."""
        return self.numeric_features + self.categorical_features

    def arrow_schema(self, *, with_target: bool = True, with_derived: bool = True) -> pa.Schema:
        fields = [pa.field(self.id, pa.string(), nullable=False)]
        fields += [pa.field(f.name, f.arrow_type, nullable=f.nullable) for f in self.features]
        if with_derived:
            fields += [pa.field(d.name, ARROW_TYPES[d.type]) for d in self.derived]
        if with_target:
            fields.append(pa.field(self.target.name, self.target.arrow_type, nullable=False))
        return pa.schema(fields)

    @property
    def fingerprint(self) -> str:
        """sha256 of the canonical contract: lineage records it, serving checks it, ETL's dataset version id
        hashes it. The ``drift`` thresholds are left out: they say when to alarm, not what a model or a
        dataset is, so tuning them never orphans a trained model or mints a new dataset version (and a
        contract that sets none keeps the fingerprint it had before the section existed)."""
        canonical = json.dumps(
            self.model_dump(mode="json", exclude={"drift"}), sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    def to_yaml(self) -> str:
        # A contract that sets no drift thresholds is written as it was read, without the defaults.
        exclude = {"drift"} if self.drift == DriftThresholds() else None
        return yaml.safe_dump(
            self.model_dump(mode="json", exclude_none=True, exclude=exclude), sort_keys=False
        )


def canonical_category(value: str) -> str:
    """Categories are compared trimmed and case-folded, in ETL and in serving alike."""
    return value.strip().casefold()


def _format_validation_error(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "contract"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        elif item["type"] == "missing":
            message = "required key is missing"
        problems.append(f"{where}: {message}")
    return "; ".join(problems)


def parse_contract(data: Any, source: str = "<contract>") -> Contract:
    if not isinstance(data, dict):
        raise ContractError(f"{source}: a contract must be a YAML mapping, got {type(data).__name__}")
    try:
        return Contract.model_validate(data)
    except ValidationError as exc:
        raise ContractError(f"{source}: {_format_validation_error(exc)}") from None


def load_contract(location: str | Path) -> Contract:
    """Load a contract from a local path or an ``s3://`` URI (the Glue job gets one)."""
    location = str(location)
    if location.startswith("s3://"):
        from prodml.aws import read_s3_text

        text = read_s3_text(location)
    else:
        path = Path(location)
        if not path.is_file():
            raise ContractError(f"{location}: contract file not found")
        text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ContractError(f"{location}: not valid YAML ({exc})") from None
    return parse_contract(data, location)
