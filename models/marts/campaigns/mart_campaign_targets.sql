-- Who to contact per channel: customers of the scoring population whose
-- latest consent for the channel is opt-in, ranked by the champion's scores.
-- The vars are validated before use: only a whitelisted column name or a
-- plain number ever reaches the SQL.
{%- set rank_by = var('targets_rank_by', 'expected_value') %}
{%- set top_n = var('targets_top_n', none) %}
{%- set min_propensity = var('targets_min_propensity', 0) %}
{%- if rank_by not in ['expected_value', 'propensity'] %}
    {{ exceptions.raise_compiler_error(
        "var 'targets_rank_by' must be 'expected_value' or 'propensity', got '" ~ rank_by ~ "'") }}
{%- endif %}
{%- if top_n is not none and not modules.re.fullmatch('[1-9][0-9]*', top_n | string) %}
    {{ exceptions.raise_compiler_error(
        "var 'targets_top_n' must be a positive integer or null, got '" ~ top_n ~ "'") }}
{%- endif %}
{%- if not modules.re.fullmatch('[0-9]*[.]?[0-9]+', min_propensity | string)
    or min_propensity | float > 1 %}
    {{ exceptions.raise_compiler_error(
        "var 'targets_min_propensity' must be a number in [0, 1], got '" ~ min_propensity ~ "'") }}
{%- endif %}

with scores as (

    select * from {{ ref('fct_customer_scores') }}

),

consent as (

    select * from {{ ref('stg_raw__consent') }}

),

-- Customers are ranked once on the score, then per channel on that integer
-- rank, and only then joined to the score columns: sorting the 25M (channel,
-- customer) rows of 10M customers on the score, wide, took four times longer.
score_ranks as (

    select
        customer_id,
        row_number() over (order by {{ rank_by }} desc, customer_id) as score_rank

    from scores
    where propensity >= {{ min_propensity }}

),

ranked as (

    select
        consent.channel,
        score_ranks.customer_id,
        row_number() over (
            partition by consent.channel order by score_ranks.score_rank
        ) as channel_rank

    from score_ranks
    inner join consent
        on score_ranks.customer_id = consent.customer_id
    where consent.is_opted_in
    {% if top_n is not none -%}
        qualify channel_rank <= {{ top_n }}
    {%- endif %}

),

final as (

    select
        ranked.channel,
        ranked.channel_rank,
        ranked.customer_id,
        '{{ rank_by }}' as ranked_by,
        scores.propensity,
        scores.expected_value,
        scores.predicted_revenue,
        scores.decile,
        scores.segment,
        scores.region,
        scores.as_of_date,
        scores.model_id,
        scores.scored_at

    from ranked
    inner join scores
        on ranked.customer_id = scores.customer_id

)

select * from final
