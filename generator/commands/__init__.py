"""The commands, beside the core: each calls the pipeline and returns a
result (or raises RosterInvalid / UsageError) for the CLI to print.

  generate.py   CSVs from rosters: --since, --out-dir, the --check report
  validate.py   every problem of every roster; --no-literal-secrets
  diff.py       what a change does: rosters or CSVs compared user by user
  tables.py     rosters and CSVs as tables, compared into a plan in diff's words
  importing.py  a PortSIP export to a compact roster, round trip checked
  explain.py    one user, value by value, with where each came from
  revision.py   a file as it was at a git revision
  sync.py       plan and apply: run_plan, run_apply (telling the admin through a Say)
  options.py    the options several commands share, as values: Login, Pace, Rules, Sources
  setup.py      init, keygen, schema, columns
"""
