"""The service commands: ``serve`` (the API and the analyst's page) and ``keys`` (API keys)."""

from __future__ import annotations

import sys

import click

from contraband.cli.common import DEFAULT_MODEL_URI, cli_actor, history_option, open_store


def _keyring(history_location: str, create: bool = False):
    from contraband.api.access import KeyRing

    return KeyRing(open_store(history_location, create=create))


def check_store(history_location: str) -> None:
    """Before any worker starts: the store opens (else one line and exit 1, from
    :func:`open_store`; a service never creates one), and recordings a killed batch left
    unfinished are finished, once, here rather than in every worker."""
    store = open_store(history_location)
    finished = store.recover()
    if finished:
        click.echo(f"finished {len(finished)} recording(s) a killed batch run left unfinished", err=True)
    store.close()


def run_server(host: str, port: int, workers: int, settings) -> None:
    """Serve until interrupted (each worker builds the app from the environment set here)."""
    import os

    import uvicorn

    from contraband.api.startup import watching

    os.environ.update(settings.to_env())
    with watching():  # a worker that cannot start: its one line, then exit 1
        uvicorn.run("contraband.api.app:create_app", factory=True, host=host, port=port, workers=workers,
                    log_level="info", timeout_graceful_shutdown=10)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes (they share the history store).")
@click.option("--model", "model_uri", default=DEFAULT_MODEL_URI, show_default=True, envvar="CONTRABAND_MODEL",
              help="Registered model to serve: models:/NAME@ALIAS or models:/NAME/VERSION.")
@click.option("--model-cache", default="model-cache", show_default=True, type=click.Path(file_okay=False),
              envvar="CONTRABAND_MODEL_CACHE",
              help="Local copy of the served model, to start when the tracking server is unreachable.")
@click.option("--max-upload-mb", default=200.0, show_default=True, type=click.FloatRange(0, min_open=True),
              envvar="CONTRABAND_MAX_UPLOAD_MB",
              help="Largest manifest upload accepted (larger: 413).")
@click.option("--max-decompressed-mb", default=None, type=click.FloatRange(0, min_open=True),
              envvar="CONTRABAND_MAX_DECOMPRESSED_MB",
              help="Most an upload may unpack to, a .gz or an XLSX's sheets (more: 413)  [default: the upload limit]")
@click.option("--max-json-mb", default=16.0, show_default=True, type=click.FloatRange(0, min_open=True),
              envvar="CONTRABAND_MAX_JSON_MB", help="Largest JSON request body accepted (larger: 413).")
@click.option("--max-json-rows", default=10_000, show_default=True, type=click.IntRange(1),
              envvar="CONTRABAND_MAX_JSON_ROWS",
              help="Most declarations or outcomes in one JSON request (more: 413; upload a manifest instead).")
@click.option("--max-manifest-rows", default=500_000, show_default=True, type=click.IntRange(1),
              envvar="CONTRABAND_MAX_MANIFEST_ROWS",
              help="Most records in one uploaded manifest (more: 413; score a larger file with contraband score).")
@click.option("--mappings", "mappings", default=None, envvar="CONTRABAND_MAPPINGS",
              type=click.Path(exists=True, file_okay=False),
              help="Folder of mapping files (NAME.toml) analysts may name with ?mapping=NAME, beside the bundled ones.")
@history_option
def serve(host, port, workers, model_uri, model_cache, max_upload_mb, max_decompressed_mb, max_json_mb, max_json_rows,
          max_manifest_rows, mappings, history_location):
    """Serve the scoring API and the analyst's page (http://HOST:PORT/)."""
    from dataclasses import replace

    from contraband.api.settings import MB, Settings
    from contraband.data.history.store import shown_url

    try:
        settings = Settings.from_env()  # what only the environment sets (how often workers follow a reload)
    except ValueError as exc:
        click.echo(f"error: a setting in the environment is not a number: {exc}", err=True)
        sys.exit(1)
    settings = replace(settings, history=history_location, model_uri=model_uri, model_cache=model_cache,
                       max_upload_bytes=int(max_upload_mb * MB),
                       max_decompressed_bytes=None if max_decompressed_mb is None else int(max_decompressed_mb * MB),
                       max_json_bytes=int(max_json_mb * MB), max_json_rows=max_json_rows,
                       max_manifest_rows=max_manifest_rows, mappings=mappings)
    check_store(history_location)
    click.echo(f"serving {model_uri} on http://{host}:{port}/ ({workers} worker{'s' if workers > 1 else ''}; "
               f"history {shown_url(history_location)}); API keys: contraband keys create --role analyst", err=True)
    run_server(host, port, workers, settings)


@click.group()
def keys():
    """API keys of the service (kept hashed in the history store)."""


@keys.command("create")
@click.option("--role", type=click.Choice(["analyst", "supervisor", "admin"]), required=True,
              help="analyst: score, the case queue, outcomes, overrides; supervisor: also the selection policy "
                   "(lanes, capacity) and the review of overrides; admin: also keys, the model's reload, the audit.")
@click.option("--label", default="", help="Whose key this is (shown by keys list).")
@history_option
def keys_create(role, label, history_location):
    """Create a key and print it alone on standard output (it is shown only once)."""
    click.echo(_keyring(history_location, create=True).create(role, label, actor=cli_actor()))


@keys.command("list")
@history_option
def keys_list(history_location):
    """Every key's id, role, label, creation and revocation (never the key)."""
    rows = _keyring(history_location).list()
    click.echo(f"{'id':<14}{'role':<12}{'created':<22}{'revoked':<22}label")
    for r in rows:
        click.echo(f"{r['key_id']:<14}{r['role']:<12}{r['created_at']:<22}{r['revoked_at'] or '-':<22}{r['label'] or ''}")


@keys.command("revoke")
@click.argument("key_id")
@history_option
def keys_revoke(key_id, history_location):
    """Revoke a key by its id (from keys list)."""
    if not _keyring(history_location).revoke(key_id, actor=cli_actor()):
        click.echo(f"error: no active key with id {key_id}", err=True)
        sys.exit(1)
    click.echo(f"revoked {key_id}", err=True)
