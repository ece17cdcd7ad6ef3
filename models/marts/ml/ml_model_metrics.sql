{{ registry_records('metrics', {
    'split': 'VARCHAR',
    'model': 'VARCHAR',
    'metric': 'VARCHAR',
    'value': 'DOUBLE',
}) }}
