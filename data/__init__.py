"""Declarations in: everything between a file on disk and a frame in the declaration contract.

- ``contract``   the canonical declaration fields (one source of truth) and its pandera schema;
- ``normalise``  value normalisers (HS codes, countries, units, currencies, codes, dates);
- ``mapping``    TOML mappings of other customs systems' columns onto the contract;
- ``intake``     ``read_manifest``: CSV (any common delimiter and encoding, gzip), XLSX, Parquet
  into text cells, a bad record rejected by itself, an unreadable file in one sentence;
- ``load``       ``load_declarations``: read -> map -> normalise -> validate, strict or lenient;
- ``export``     tables out: CSV safe to open in a spreadsheet (formula injection neutralised);
- ``keys``       day numbers, and the entity kinds (exporter, consignee, declarant, HS code, route,
  pairs) a declaration is tracked by, with their keys;
- ``columns``    canonical declarations read column by column, each conversion once;
- ``history``    the history store: every declaration seen, every outcome, per-entity series;
- ``reference``  the domain reference tables in ``reference/`` (goods, controls, countries);
- ``world``      the synthetic customs world with hidden ground truth.

Mapping files shipped with the product live in ``mappings/``.
"""

from contraband.data.load import ContractError, LoadResult, load_declarations
from contraband.data.mapping import Mapping, MappingError, load_mapping

__all__ = ["ContractError", "LoadResult", "Mapping", "MappingError", "load_declarations", "load_mapping"]
