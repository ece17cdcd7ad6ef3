{{ registry_records('cv_results', {
    'estimator': 'VARCHAR',
    'params': 'VARCHAR',
    'mean_roc_auc': 'DOUBLE',
    'std_roc_auc': 'DOUBLE',
    'mean_average_precision': 'DOUBLE',
    'mean_log_loss': 'DOUBLE',
    'mean_brier': 'DOUBLE',
    'mean_fit_seconds': 'DOUBLE',
    'rank': 'INTEGER',
}) }}
