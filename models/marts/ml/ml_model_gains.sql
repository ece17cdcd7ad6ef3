{{ registry_records('gains', {
    'decile': 'INTEGER',
    'customers': 'BIGINT',
    'responders': 'BIGINT',
    'response_rate': 'DOUBLE',
    'lift': 'DOUBLE',
    'cumulative_responders': 'BIGINT',
    'cumulative_capture': 'DOUBLE',
}) }}
