{#-
    SHA-256 of a normalized PII value, salted with the environment variable
    PM_PII_SALT, so identifiers can be matched without exposing the value.
    NULL stays NULL. Set a secret salt in production: the default is public.
-#}
{% macro hash_pii(expression) -%}
    case
        when {{ expression }} is not null
            then sha256('{{ env_var("PM_PII_SALT", "demo-salt-not-secret") | replace("'", "''") }}' || {{ expression }})
    end
{%- endmacro %}
