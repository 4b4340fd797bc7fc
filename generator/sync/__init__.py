"""Plan and apply, vendor-neutral: a sync's plan made from both sides (plan.py),
carried out (apply.py), and adoption's vendor-neutral part (adopt.py); they
speak only to a generator.pbx.base.Target."""
