"""Feature transformers (scikit-learn estimators) from canonical declarations to a feature frame.

Owns every statistic learned from the training window. Families (one module each): ``value``
(USD/kg against the HS code's norm), ``physical`` (kg per piece, litre, m2, package),
``route`` (origin, hubs, route rarity), ``entities`` (out-of-time histories of exporters,
consignees, declarants, HS codes and routes), ``text`` (description against HS code),
``policy`` (controlled and cover codes, days since the control), ``declared`` (HS chapter and
heading, mapped ``x_*`` extras) and ``anomaly`` (IsolationForest). ``pipeline`` composes them.
No feature reads ``truth_*`` columns; outcomes enter only as counts of *earlier* inspections.
"""

from contraband.features.pipeline import ALL_FAMILIES, FAMILIES, DeclarationFeatures

__all__ = ["ALL_FAMILIES", "FAMILIES", "DeclarationFeatures"]
