"""What one service process needs to know, read from the environment.

``contraband serve`` sets these variables for its workers (each worker is a process that builds
the app from them), so one command line configures them all:

- ``CONTRABAND_HISTORY``: the history store (file or database URL; default ``history.db``);
- ``CONTRABAND_MODEL``: the model to serve (default ``models:/contraband-detector@champion``);
- ``CONTRABAND_MODEL_CACHE``: where the served model is kept on local disk (default
  ``model-cache`` in the working directory), to start without the tracking server;
- ``CONTRABAND_MAX_UPLOAD_MB``: the largest request body accepted (default 200);
- ``CONTRABAND_FOLLOW_SECONDS``: how often a worker checks whether another one reloaded (2);
- ``MLFLOW_TRACKING_URI``: the tracking server (default ``sqlite:///mlflow.db``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_MODEL_URI = "models:/contraband-detector@champion"


@dataclass(frozen=True)
class Settings:
    history: str = "history.db"
    model_uri: str = DEFAULT_MODEL_URI
    model_cache: str = "model-cache"
    max_upload_bytes: int = 200 * 2**20
    follow_seconds: float = 2.0

    @classmethod
    def from_env(cls) -> "Settings":
        env = os.environ
        return cls(history=env.get("CONTRABAND_HISTORY") or cls.history,
                   model_uri=env.get("CONTRABAND_MODEL") or cls.model_uri,
                   model_cache=env.get("CONTRABAND_MODEL_CACHE") or cls.model_cache,
                   max_upload_bytes=int(float(env.get("CONTRABAND_MAX_UPLOAD_MB") or 200) * 2**20),
                   follow_seconds=float(env.get("CONTRABAND_FOLLOW_SECONDS") or 2.0))

    def to_env(self) -> dict[str, str]:
        return {"CONTRABAND_HISTORY": self.history, "CONTRABAND_MODEL": self.model_uri,
                "CONTRABAND_MODEL_CACHE": self.model_cache,
                "CONTRABAND_MAX_UPLOAD_MB": repr(self.max_upload_bytes / 2**20),
                "CONTRABAND_FOLLOW_SECONDS": repr(self.follow_seconds)}
