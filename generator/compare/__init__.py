"""The comparison core below `diff` and `plan`: one change model, the
leaf-by-leaf comparison of values, and the renderers' shared pieces (what is
printable, markdown escaping, colour, the format names)."""

FORMAT_NAMES = ("text", "markdown", "json")  # the CLI's --format choices for diff and plan (kept light: cli imports it)
