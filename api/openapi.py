"""The OpenAPI schema as the service serves it: FastAPI's, with the values a query parameter
may take that are known only when the app is built (the mappings' names, the text encodings)
as that parameter's ``enum``. The endpoint still checks the value itself and answers an
unknown one with 400 and the values there are."""

from __future__ import annotations

from fastapi import FastAPI


def with_choices(schema: dict, choices: dict[str, list[str]]) -> dict:
    """``schema`` with every query parameter named in ``choices`` limited to its values."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                values = choices.get(parameter.get("name")) if parameter.get("in") == "query" else None
                if values is not None:
                    parameter["schema"] = {"type": "string", "enum": list(values),
                                           "title": parameter["schema"].get("title", parameter["name"])}
    return schema


def declare_choices(app: FastAPI, choices: dict[str, list[str]]) -> None:
    """Serve ``app``'s schema with ``choices`` (built once, on the first request for it)."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = with_choices(build(), choices)
        return app.openapi_schema

    app.openapi = openapi
