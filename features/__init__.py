"""Feature transformers (scikit-learn estimators) from canonical declarations to a feature frame.

Owns every statistic learned from the training window and the point-in-time reads of the
history store. Families (one module each): ``value`` (USD/kg against the HS code's norm),
``physical`` (kg per piece, litre, m2, package), ``deviation`` (robust z-scores against the
goods' own norms: evidence without labels), ``consistency`` (ports, Incoterm and unit against the
rest of the declaration), ``route`` (origin, hubs, countries),
``entities`` (histories of exporters, consignees, declarants, HS codes and routes, read from
the store as of the day before each declaration), ``network`` (seizures one hop along the
trade graph, new exporters per declarant and route, from the store's pairs), ``trader`` (the
declaration against its exporter's own earlier declarations of the code: weight per unit and
package, gross to net, USD per kg, and how usual this one is for it), ``text``
(description against HS code),
``policy`` (controlled and cover codes, days since the control), ``declared`` (HS chapter and
heading, mapped ``x_*`` extras) and ``anomaly`` (IsolationForest). ``pipeline`` composes them;
``base`` holds the family contract and the columns they read. No feature reads ``truth_*``
columns; outcomes enter only as counts recorded in the store before the declaration's day.
"""

from contraband.features.pipeline import ALL_FAMILIES, FAMILIES, DeclarationFeatures

__all__ = ["ALL_FAMILIES", "FAMILIES", "DeclarationFeatures"]
