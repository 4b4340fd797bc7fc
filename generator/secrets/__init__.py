"""Secrets: each password and PIN from where the roster says it comes.

A secret field holds a literal, or a source:

  {generate: true}      derived from the master key (derive.py);
  {env: NAME}           the value of an environment variable;
  {secrets_file: true}  the user's entry in the file given with --secrets.

A source is a value like any other: it merges by layer (a user's own source
replaces the default's) and is filled in by fill.py, after resolve and before
check, so generated and fetched values meet the same policy checks as
literals. No message anywhere quotes a secret.

  sources.py  where values come from: the key, the environment, the file
  derive.py   generated values: HMAC of the master key, drawn until one passes the policy
  fill.py     the stage: every source replaced by its value
  mask.py     secrets hidden for output meant for people
  lint.py     literal secrets in a roster, for --no-literal-secrets
"""
