"""What one service process needs to know, read from the environment.

``contraband serve`` sets these variables for its workers (each worker is a process that builds
the app from them), so one command line configures them all:

- ``CONTRABAND_HISTORY``: the history store (file or database URL; default ``history.db``);
- ``CONTRABAND_MODEL``: the model to serve (default ``models:/contraband-detector@champion``);
- ``CONTRABAND_MODEL_CACHE``: where the served model is kept on local disk (default
  ``model-cache`` in the working directory), to start without the tracking server;
- ``CONTRABAND_MAX_UPLOAD_MB``: the largest manifest upload accepted (default 200);
- ``CONTRABAND_MAX_DECOMPRESSED_MB``: the most an upload may unpack to (a ``.gz``, the sheets
  of an XLSX; default: the upload limit);
- ``CONTRABAND_MAX_JSON_MB``: the largest JSON request body accepted (default 16);
- ``CONTRABAND_MAX_JSON_ROWS``: the most declarations (or outcomes) in one JSON request
  (default 10,000);
- ``CONTRABAND_MAX_MANIFEST_ROWS``: the most records in one uploaded manifest (default 500,000;
  more: 413, a larger file goes to the batch, ``contraband score``);
- ``CONTRABAND_MAPPINGS``: a folder of mapping files (``NAME.toml``) analysts may name beside
  the bundled ones (default: none);
- ``CONTRABAND_FOLLOW_SECONDS``: how often a worker checks whether another one reloaded (2);
- ``MLFLOW_TRACKING_URI``: the tracking server (default ``sqlite:///mlflow.db``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from contraband.data.intake import Limits

DEFAULT_MODEL_URI = "models:/contraband-detector@champion"
MB = 2**20


def _mb(value: str | None, default: float | None) -> int | None:
    number = float(value) if value else default
    return None if number is None else int(number * MB)


@dataclass(frozen=True)
class Settings:
    history: str = "history.db"
    model_uri: str = DEFAULT_MODEL_URI
    model_cache: str = "model-cache"
    max_upload_bytes: int = 200 * MB
    max_decompressed_bytes: int | None = None  # None: the upload limit
    max_json_bytes: int = 16 * MB
    max_json_rows: int = 10_000
    max_manifest_rows: int = 500_000
    mappings: str | None = None
    follow_seconds: float = 2.0

    @property
    def upload_limits(self) -> Limits:
        """What one uploaded manifest may cost."""
        unpacked = self.max_decompressed_bytes if self.max_decompressed_bytes is not None else self.max_upload_bytes
        return Limits(max_bytes=self.max_upload_bytes, max_decompressed_bytes=unpacked,
                      max_rows=self.max_manifest_rows)

    @classmethod
    def from_env(cls) -> "Settings":
        env = os.environ
        return cls(history=env.get("CONTRABAND_HISTORY") or cls.history,
                   model_uri=env.get("CONTRABAND_MODEL") or cls.model_uri,
                   model_cache=env.get("CONTRABAND_MODEL_CACHE") or cls.model_cache,
                   max_upload_bytes=_mb(env.get("CONTRABAND_MAX_UPLOAD_MB"), cls.max_upload_bytes / MB),
                   max_decompressed_bytes=_mb(env.get("CONTRABAND_MAX_DECOMPRESSED_MB"), None),
                   max_json_bytes=_mb(env.get("CONTRABAND_MAX_JSON_MB"), cls.max_json_bytes / MB),
                   max_json_rows=int(env.get("CONTRABAND_MAX_JSON_ROWS") or cls.max_json_rows),
                   max_manifest_rows=int(env.get("CONTRABAND_MAX_MANIFEST_ROWS") or cls.max_manifest_rows),
                   mappings=env.get("CONTRABAND_MAPPINGS") or None,
                   follow_seconds=float(env.get("CONTRABAND_FOLLOW_SECONDS") or 2.0))

    def to_env(self) -> dict[str, str]:
        env = {"CONTRABAND_HISTORY": self.history, "CONTRABAND_MODEL": self.model_uri,
               "CONTRABAND_MODEL_CACHE": self.model_cache,
               "CONTRABAND_MAX_UPLOAD_MB": repr(self.max_upload_bytes / MB),
               "CONTRABAND_MAX_JSON_MB": repr(self.max_json_bytes / MB),
               "CONTRABAND_MAX_JSON_ROWS": str(self.max_json_rows),
               "CONTRABAND_MAX_MANIFEST_ROWS": str(self.max_manifest_rows),
               "CONTRABAND_FOLLOW_SECONDS": repr(self.follow_seconds)}
        if self.max_decompressed_bytes is not None:
            env["CONTRABAND_MAX_DECOMPRESSED_MB"] = repr(self.max_decompressed_bytes / MB)
        if self.mappings:
            env["CONTRABAND_MAPPINGS"] = self.mappings
        return env
