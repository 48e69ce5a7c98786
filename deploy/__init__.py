"""`cdc deploy`: build the wheel and the Glue entry scripts, upload what changed, register schemas, migrate.

``settings`` (one TOML file per environment, ``DEPLOY_*`` overrides), ``artefacts`` (the local build and its
content digests), ``plan`` (pure: local vs remote → actions), ``clients`` (thin boto3 wrappers), ``deployer``
(survey → plan → apply). ADR 0012 has the decisions.
"""
