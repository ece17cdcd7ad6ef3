-- Test hook: fails when var `pm_test_fail_data_test` is true, so the test
-- suite can prove that a build with a failing data test publishes nothing.
-- It reads the published scores so it runs late in the build, as a real
-- failing test on a mart would.
select customer_id

from {{ ref('fct_customer_scores') }}
where {{ 'true' if var('pm_test_fail_data_test', false) else 'false' }}
