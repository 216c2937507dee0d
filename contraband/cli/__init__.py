"""The ``contraband`` command: parses arguments, calls library code, prints. Nothing else.

- ``common``  options and helpers shared by the commands (currency rates, the history store,
  reading declaration files, writing results);
- ``data``    ``generate``, ``validate`` and ``history`` (ingest, info, rebuild);
- ``detect``  ``train``, ``evaluate``, ``score``;
- ``retrain`` the unattended retraining job (exit status promoted / kept / failed);
- ``service`` ``serve`` (the API and the analyst's page) and ``keys`` (API keys);
- ``demo``    the main job on embedded defaults, ending by serving the page.

Heavy libraries are imported inside each command, so ``contraband --help`` stays fast. Library
modules never import this package.
"""

from __future__ import annotations

import click

from contraband.cli import data, demo, detect, retrain, service


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="contraband")
def main() -> None:
    """Score customs declarations for rare-earth contraband hidden under false declarations."""


for command in (data.generate, data.validate, data.history, detect.train, detect.evaluate, detect.score, retrain.retrain,
                service.serve,
                service.keys, demo.demo):
    main.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    main()
