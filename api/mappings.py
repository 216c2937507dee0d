"""The mappings an analyst can name with an upload (``?mapping=kcs``).

They are the product's bundled mappings (``data/mappings/*.toml``) and those of the folder the
service is given (``serve --mappings DIR``, ``CONTRABAND_MAPPINGS``; a file there replaces a
bundled one of the same name), all read once when the app is built. A request's name is looked
up in that table, never joined into a path: an unknown name is answered with the names there
are, and nothing about the server's files (where they are, what else is there, what they hold)
reaches a caller. A configured file that cannot be used is left out and reported, with its
path and what is wrong, in the service's log only. :attr:`MappingChoice.names` are the
parameter's ``enum`` in the OpenAPI schema.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from contraband.api.deps import ApiError
from contraband.data.mapping import Mapping, MappingError, load_mapping, mapping_files

log = logging.getLogger("contraband.api")


class MappingChoice:
    """The usable mappings by name."""

    def __init__(self, folder: str | None = None):
        if folder and not Path(folder).is_dir():
            log.error("mappings folder %s is not a folder: only the bundled mappings can be named", folder)
        self.mappings: dict[str, Mapping] = {}
        for name, path in mapping_files(folder).items():
            try:  # kept without its path: error messages name the mapping, never the server's files
                self.mappings[name] = dataclasses.replace(load_mapping(path), path=None)
            except (MappingError, ValueError, OSError) as exc:  # not valid, not UTF-8 text, not readable
                log.error("mapping %r left out (it cannot be used): %s: %s", name, path, exc)

    @property
    def names(self) -> list[str]:
        return sorted(self.mappings)

    def get(self, name: str | None) -> Mapping | None:
        """The mapping named ``name`` (None: the file is in the contract's columns)."""
        if name is None:
            return None
        found = self.mappings.get(name)
        if found is None:
            shown = name if len(name) <= 64 else name[:64] + "..."
            raise ApiError(400, "bad_request", f"unknown mapping {shown!r}; the mappings of this service are: "
                                               f"{', '.join(self.names) or 'none'}")
        return found
