-- Register a feature model with one line in this list.
{%- set feature_models = [
    ref('feat_customer__rfm'),
    ref('feat_customer__campaign_history'),
    ref('feat_customer__demographics'),
    ref('feat_customer__channel'),
] %}

{{ join_feature_models(ref('int_feature_spine'), feature_models) }}
