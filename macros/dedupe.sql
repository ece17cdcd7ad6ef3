{#-
    Rows of `relation` reduced to one per business `key` (a list of columns):
    the first by `order_by` (e.g. 'updated_at desc'). Remaining ties are broken
    by a hash of the whole row, so the result never depends on scan order.
-#}
{% macro dedupe(relation, key, order_by) -%}
    select *
    from {{ relation }} as dedupe_source
    qualify row_number() over (
        partition by {{ key | join(', ') }}
        order by {{ order_by }}, md5(cast(dedupe_source as varchar))
    ) = 1
{%- endmacro %}
