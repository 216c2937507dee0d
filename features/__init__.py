"""Feature transformers (scikit-learn estimators) from canonical declarations to a feature frame.

Owns every statistic learned from the training window (unit-value medians, route rarity, entity
histories, text similarity, anomaly scores). Nothing here may read ``truth_*`` or outcome
columns as inputs. The transformers arrive with the detection issue (#4).
"""
