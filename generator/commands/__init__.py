"""The commands, beside the core: each calls the pipeline and returns a
result (or raises RosterInvalid / UsageError) for the CLI to print.

  generate.py   CSVs from rosters: --since, --check freshness, --out-dir
  validate.py   every problem of every roster; --no-literal-secrets
  diff.py       what a change does: rosters or CSVs compared user by user
  importing.py  a PortSIP export to a compact roster, round trip checked
  explain.py    one user, value by value, with where each came from
  revision.py   a file as it was at a git revision
"""
