-- Predicted against realized response, per campaign and predicted decile.
-- Predictions come from two sources (see the YAML): the score history (the
-- latest snapshot of each model dated on or before the campaign's first
-- contact) and the champion's backtest scores of each contact as of its
-- contact date. Only campaigns a model did not train on are reported, and
-- only contacts whose response window has closed (the spine's train rows).
with spine as (

    select * from {{ ref('int_feature_spine') }}

),

history as (

    select * from {{ ref('fct_customer_score_history') }}

),

backtest as (

    select * from {{ ref('ml_backtest_scores') }}

),

registry as (

    select * from {{ ref('ml_model_registry') }}

),

outcomes as (

    select
        customer_id,
        as_of_date as contact_date,
        campaign_id,
        label,
        response_revenue

    from spine
    where spine_role = 'train'

),

campaigns as (

    select
        campaign_id,
        min(contact_date) as campaign_start_date

    from outcomes
    group by campaign_id

),

trained_campaigns as (

    select
        model_id,
        unnest(from_json(training_campaigns, '["VARCHAR"]')) as campaign_id

    from registry

),

snapshots as (

    select distinct
        as_of_date,
        model_id

    from history

),

campaign_snapshots as (

    select
        campaigns.campaign_id,
        snapshots.model_id,
        max(snapshots.as_of_date) as score_date

    from campaigns
    inner join snapshots
        on campaigns.campaign_start_date >= snapshots.as_of_date
    group by campaigns.campaign_id, snapshots.model_id

),

history_predictions as (

    select
        'score_history' as prediction_source,
        campaign_snapshots.score_date,
        campaign_snapshots.model_id,
        outcomes.campaign_id,
        outcomes.customer_id,
        history.decile,
        history.propensity,
        history.expected_value,
        outcomes.label,
        outcomes.response_revenue

    from campaign_snapshots
    inner join outcomes
        on campaign_snapshots.campaign_id = outcomes.campaign_id
    inner join history
        on
            campaign_snapshots.score_date = history.as_of_date
            and campaign_snapshots.model_id = history.model_id
            and outcomes.customer_id = history.customer_id

),

-- Backtest deciles rank the campaign's own contacts (1 = top 10% by score).
backtest_predictions as (

    select
        'backtest' as prediction_source,
        min(backtest.as_of_date) over campaign as score_date,
        backtest.model_id,
        outcomes.campaign_id,
        outcomes.customer_id,
        ntile(10) over (
            campaign order by backtest.propensity desc, backtest.customer_id asc
        ) as decile,
        backtest.propensity,
        backtest.expected_value,
        outcomes.label,
        outcomes.response_revenue

    from backtest
    inner join outcomes
        on
            backtest.customer_id = outcomes.customer_id
            and backtest.as_of_date = outcomes.contact_date
    window campaign as (partition by backtest.model_id, outcomes.campaign_id)

),

predictions as (

    select * from history_predictions
    union all
    select * from backtest_predictions

),

out_of_sample as (

    select predictions.*

    from predictions
    anti join trained_campaigns
        on
            predictions.model_id = trained_campaigns.model_id
            and predictions.campaign_id = trained_campaigns.campaign_id

),

by_decile as (

    select
        prediction_source,
        model_id,
        campaign_id,
        score_date,
        decile,
        count(*) as contacts,
        cast(sum(label) as bigint) as responders,
        avg(propensity) as predicted_response_rate,
        avg(label) as realized_response_rate,
        sum(expected_value) as predicted_revenue,
        sum(response_revenue) as realized_revenue

    from out_of_sample
    group by prediction_source, model_id, campaign_id, score_date, decile

),

final as (

    select
        by_decile.prediction_source,
        by_decile.model_id,
        by_decile.campaign_id,
        campaigns.campaign_start_date,
        by_decile.score_date,
        by_decile.decile,
        by_decile.contacts,
        by_decile.responders,
        by_decile.predicted_response_rate,
        by_decile.realized_response_rate,
        by_decile.predicted_revenue,
        by_decile.realized_revenue,
        by_decile.predicted_revenue / by_decile.contacts as predicted_revenue_per_contact,
        by_decile.realized_revenue / by_decile.contacts as realized_revenue_per_contact,
        by_decile.realized_response_rate
        / nullif(sum(by_decile.responders) over campaign / sum(by_decile.contacts) over campaign, 0)
            as lift,
        by_decile.predicted_response_rate
        / nullif(
            sum(by_decile.predicted_response_rate * by_decile.contacts) over campaign
            / sum(by_decile.contacts) over campaign,
            0
        ) as predicted_lift,
        sum(by_decile.responders) over (campaign order by by_decile.decile)
        / nullif(sum(by_decile.responders) over campaign, 0) as cumulative_capture,
        by_decile.realized_response_rate - by_decile.predicted_response_rate as calibration_error,
        sum(abs(by_decile.realized_response_rate - by_decile.predicted_response_rate) * by_decile.contacts)
            over campaign
        / sum(by_decile.contacts) over campaign as campaign_calibration_error

    from by_decile
    inner join campaigns
        on by_decile.campaign_id = campaigns.campaign_id
    window campaign as (
        partition by by_decile.prediction_source, by_decile.model_id, by_decile.campaign_id
    )

)

select * from final
