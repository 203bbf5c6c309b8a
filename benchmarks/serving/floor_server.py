"""The FastAPI floor: the same request schema (generated from the same contract), validated by FastAPI as a
typed body, and no model at all. Whatever prodml adds on top of this is the cost of serving a model."""

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from fastapi import FastAPI
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services" / "inference"))
from app.serving.schema import row_model

from prodml.contract import parse_contract

contract = parse_contract(yaml.safe_load((Path(os.environ["BENCH_MODEL_DIR"]) / "contract.yaml").read_text()))
if TYPE_CHECKING:  # mypy sees the base class; FastAPI reads the model built from the contract at run time
    Row = BaseModel
else:
    Row = row_model(contract)
app = FastAPI()


@app.post("/predict")
async def predict(row: Row):
    return {"prediction": 0, "probability": 0.5}


@app.get("/ready")
async def ready():
    return {"ready": True}
