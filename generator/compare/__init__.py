"""The comparison core below `diff`, `import` and `plan`: one change model
(changes.py), one plan (plan.py), and one renderer per format with the
registry the CLI takes its --format choices from (formats.py)."""
