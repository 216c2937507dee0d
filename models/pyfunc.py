"""The MLflow pyfunc model: raw canonical records in, risk scores with reasons out.

It wraps the whole fitted :class:`~contraband.models.detector.Detector` (features, classifier,
calibration, attribution, budget reference): parameters only. The history it scores against is
the store, opened from the load's ``model_config={"history": ...}``, else ``CONTRABAND_HISTORY``,
else ``history.db`` in the working directory. At load, the budget reference is refreshed from the
store's recent declarations (``model_config={"refresh_budget": False}`` skips it).

Input rows go through the declaration contract first: rows that break it come back unscored
(``risk_score`` missing) with the contract's reasons, and the valid rows are still scored; so
does a row the history store refuses to record (an inspected declaration re-sent with other
values), with the store's reason. The
model declares no input schema on purpose: MLflow would refuse a whole request for one integer
column or one missing field, where the contract rejects only the rows at fault and accepts what
pandas and JSON give (integers for numbers, text for dates). The input example documents the
columns; the outputs and parameters are declared.
"""

from __future__ import annotations

import joblib
import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

from contraband.data.contract import FIELDS
from contraband.models.output import REASON_COLUMNS, REJECTED

PARAMS = {"budget": 0.05, "exploration": 0.0, "seed": 0, "flag_by": "auto", "record": True}
#: what a load may set (``mlflow.pyfunc.load_model(uri, model_config=...)``); "" is the default store
MODEL_CONFIG = {"history": "", "refresh_budget": True, "compile_trees": True}


def signature() -> ModelSignature:
    outputs = Schema([ColSpec("double", "risk_score"), ColSpec("long", "rank"), ColSpec("boolean", "flagged"),
                      ColSpec("boolean", "exploration")] + [ColSpec("string", c) for c in REASON_COLUMNS + [REJECTED]])
    params = ParamSchema([ParamSpec("budget", "double", PARAMS["budget"]),
                          ParamSpec("exploration", "double", PARAMS["exploration"]),
                          ParamSpec("seed", "long", PARAMS["seed"]),
                          ParamSpec("flag_by", "string", PARAMS["flag_by"]),
                          ParamSpec("record", "boolean", PARAMS["record"])])
    return ModelSignature(inputs=None, outputs=outputs, params=params)


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
    """Loads the fitted detector from the ``detector`` artifact; scores against the history store."""

    def load_context(self, context):
        self.detector = joblib.load(context.artifacts["detector"])
        self.config = dict(getattr(context, "model_config", None) or {})
        self._history = None
        if self.config.get("compile_trees", True):  # LightGBM scores until the library is ready
            self.detector.compile_trees(wait=False)
        if self.config.get("refresh_budget", True):
            from contraband.models.scoring import refresh_budget_reference

            refresh_budget_reference(self.detector, self.history)

    @property
    def history(self):
        if self._history is None:
            from contraband.data.history import open_history

            self._history = open_history(self.config.get("history") or None)
        return self._history

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        from contraband.data.load import load_declarations
        from contraband.models.output import for_request
        from contraband.models.scoring import scores

        p = {**PARAMS, **(params or {})}
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        if not (isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0 and frame.index.step == 1):
            frame = frame.reset_index(drop=True)
        loaded = load_declarations(frame, mode="lenient", source="request")
        scored = scores(self.detector, loaded.columns, self.history, budget=float(p["budget"]),
                       exploration=float(p["exploration"]), seed=int(p["seed"]), flag_by=str(p["flag_by"]),
                       record=bool(p["record"]), source="pyfunc")
        return for_request(len(frame), scored, loaded.refusing(scored.refused).rejected)
