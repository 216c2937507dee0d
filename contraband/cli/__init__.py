"""The ``contraband`` command: parses arguments, calls library code, prints. Nothing else.

- ``common``  options and helpers shared by the commands (currency rates, the history store,
  reading declaration files, writing results);
- ``data``    ``generate``, ``validate`` and ``history`` (ingest, info, rebuild);
- ``detect``  ``train``, ``evaluate``, ``score``;
- ``retrain`` the unattended retraining job (exit status promoted / kept / failed);
- ``service`` ``serve`` (the API and the analyst's page) and ``keys`` (API keys);
- ``desk``    ``policy``, ``rules``, ``cases``, ``performance``, ``audit`` and ``backtest`` of the targeting desk;
- ``demo``    the main job on embedded defaults, ending by serving the page.

Heavy libraries are imported inside each command, so ``contraband --help`` stays fast. Library
modules never import this package.
"""

from __future__ import annotations

import sys

import click

from contraband.cli import data, demo, desk, detect, retrain, service


class _Commands(click.Group):
    """The command group: a history store that fails under a command (a page found damaged
    midway, a server gone) ends it with one line on standard error and status 1, never a
    driver's traceback."""

    def invoke(self, ctx):
        import signal

        from sqlalchemy.exc import DBAPIError

        from contraband.data.history.opening import StoreError

        # a command stopped by SIGTERM (a scheduler's timeout, `kill`) ends as after Ctrl+C: its
        # temporary files removed and its recording left for the next run to finish
        try:
            signal.signal(signal.SIGTERM, _terminated)
        except ValueError:  # not the main thread (the command run from a library or a test)
            pass
        try:
            return super().invoke(ctx)
        except StoreError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except DBAPIError as exc:
            reason = str(exc.orig or exc).strip().splitlines()
            click.echo(f"error: the history store failed: {reason[0] if reason else type(exc).__name__}", err=True)
            sys.exit(1)


def _terminated(signum, frame):
    sys.exit(128 + signum)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="contraband")
def main() -> None:
    """Score customs declarations for rare-earth contraband hidden under false declarations."""


for command in (data.generate, data.validate, data.history, detect.train, detect.evaluate, detect.score, retrain.retrain,
                service.serve,
                service.keys, desk.policy, desk.rules, desk.cases, desk.performance, desk.audit, desk.backtest, demo.demo):
    main.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    main()
