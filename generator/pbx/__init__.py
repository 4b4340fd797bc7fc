"""PBX targets: what a sync asks of a phone system (generator/pbx/base.py),
and its implementations, one folder each (generator/pbx/portsip/)."""
