"""The naive baseline: the common tutorial pattern. FastAPI, `joblib.load` at start-up, and per request a
pandas DataFrame and `model.predict_proba`; one uvicorn process. Same model file and request schema as
prodml (the schema is generated from the same contract)."""

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import joblib
import pandas as pd
import pyarrow as pa
import yaml
from fastapi import FastAPI
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services" / "inference"))
from app.serving.schema import row_model

from prodml.contract import parse_contract
from prodml.features import derive_columns

MODEL_DIR = Path(os.environ["BENCH_MODEL_DIR"])
contract = parse_contract(yaml.safe_load((MODEL_DIR / "contract.yaml").read_text()))
model = joblib.load(MODEL_DIR / "model.joblib")
if TYPE_CHECKING:  # mypy sees the base class; FastAPI reads the model built from the contract at run time
    Row = BaseModel
else:
    Row = row_model(contract)
schema = pa.schema([pa.field(f.name, f.arrow_type) for f in contract.features])
app = FastAPI()


@app.post("/predict")
def predict(row: Row):
    table = derive_columns(contract, pa.Table.from_pylist([row.model_dump()], schema=schema))
    frame = table.select(contract.model_features).to_pandas()
    for name in contract.categorical_features:
        frame[name] = frame[name].fillna("")
    frame = frame.astype({name: "float64" for name in contract.numeric_features})
    proba = model.predict_proba(pd.DataFrame(frame))[0]
    return {"prediction": int(proba.argmax()), "probability": float(proba[-1])}


@app.get("/ready")
def ready():
    return {"ready": True}
