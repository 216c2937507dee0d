"""The MLflow pyfunc model: raw canonical records in, risk scores with reasons out.

It wraps the whole fitted :class:`~contraband.models.detector.Detector` (features, classifier,
calibration, attribution), so training and serving cannot drift apart. Input rows go through the
declaration contract first: rows that break it come back unscored (``risk_score`` missing) with
the contract's reasons, and the valid rows are still scored. The signature is the contract.
"""

from __future__ import annotations

import joblib
import mlflow
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

from contraband.data.contract import FIELDS, REQUIRED
from contraband.models.reasons import MAX_REASONS

OUTPUT_COLUMNS = ["risk_score", "rank", "flagged", "exploration"] + [f"reason_{k}" for k in range(1, MAX_REASONS + 1)]
PARAMS = {"budget": 1.0, "exploration": 0.0, "seed": 0}


def signature(extras: list[str] | None = None) -> ModelSignature:
    """Input: the contract's fields (required ones required), plus mapped extras."""
    cols = []
    for f in FIELDS:
        kind = "double" if f.kind in ("number", "flag") else "string"
        cols.append(ColSpec(kind, f.name, required=f.group == REQUIRED))
    for name in extras or []:
        cols.append(ColSpec("string", name, required=False))
    outputs = Schema([ColSpec("double", "risk_score"), ColSpec("long", "rank"), ColSpec("boolean", "flagged"),
                      ColSpec("boolean", "exploration")]
                     + [ColSpec("string", f"reason_{k}") for k in range(1, MAX_REASONS + 1)])
    params = ParamSchema([ParamSpec("budget", "double", PARAMS["budget"]),
                          ParamSpec("exploration", "double", PARAMS["exploration"]),
                          ParamSpec("seed", "long", PARAMS["seed"])])
    return ModelSignature(inputs=Schema(cols), outputs=outputs, params=params)


def input_example(records: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """A few records as a client would send them: text, numbers, ISO dates; no outcomes."""
    names = [f.name for f in FIELDS if f.name in records and f.group != "outcome"]
    out = records[names].head(n).copy()
    for c in out:
        if c == "declaration_date":
            out[c] = pd.to_datetime(out[c]).dt.strftime("%Y-%m-%d")
        elif isinstance(out[c].dtype, pd.CategoricalDtype) or out[c].dtype == object or str(out[c].dtype) == "str":
            out[c] = out[c].astype("object").where(out[c].notna(), None).astype("object")
        else:
            out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
    return out.reset_index(drop=True)


class ContrabandModel(mlflow.pyfunc.PythonModel):
    """Loads the fitted detector from the ``detector`` artifact."""

    def load_context(self, context):
        self.detector = joblib.load(context.artifacts["detector"])
        self.mapping = None

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        from contraband.data.load import load_declarations
        from contraband.models.scoring import score_declarations

        p = {**PARAMS, **(params or {})}
        frame = pd.DataFrame(model_input).reset_index(drop=True)
        loaded = load_declarations(frame, self.mapping, mode="lenient", source="request")
        out = pd.DataFrame(index=pd.RangeIndex(1, len(frame) + 1, name="row"))
        out["risk_score"] = np.nan
        out["rank"] = 0
        out["flagged"] = False
        out["exploration"] = False
        for k in range(1, MAX_REASONS + 1):
            out[f"reason_{k}"] = ""
        if len(loaded.declarations):
            scored = score_declarations(self.detector, loaded.declarations, budget=float(p["budget"]),
                                        exploration=float(p["exploration"]), seed=int(p["seed"]))
            out.loc[scored.index, scored.columns] = scored
        if len(loaded.rejected):
            text = loaded.rejected.groupby("row").apply(
                lambda g: "rejected: " + "; ".join(f"{c} {v!r}: {r}" for c, v, r in zip(g["column"], g["value"], g["reason"])),
                include_groups=False)
            out.loc[text.index, "reason_1"] = text
        out["rank"] = out["rank"].astype("int64")
        return out.reset_index(drop=True)[OUTPUT_COLUMNS]
