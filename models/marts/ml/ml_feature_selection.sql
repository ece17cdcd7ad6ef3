{{ registry_records('feature_scores', {
    'feature': 'VARCHAR',
    'score': 'DOUBLE',
    'p_value': 'DOUBLE',
    'rank': 'INTEGER',
    'selected': 'BOOLEAN',
    'method': 'VARCHAR',
}) }}
