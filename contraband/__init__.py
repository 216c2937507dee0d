"""contraband: risk scoring of customs declarations for rare-earth contraband.

The product's one import namespace. Sub-packages map the repository's top-level folders:

- ``contraband.data``      (``data/``)      the declaration contract, normalisers, foreign-schema
  mappings, domain reference tables and the synthetic customs world;
- ``contraband.features``  (``features/``)  scikit-learn feature transformers;
- ``contraband.models``    (``models/``)    classifiers, metrics, reasons and MLflow tracking;
- ``contraband.api``       (``api/``)       the scoring service.

``contraband.cli`` is the ``contraband`` command.
"""

__version__ = "0.1.0"
