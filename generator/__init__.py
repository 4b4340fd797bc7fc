"""portsip-roster: a YAML roster in, the exact PortSIP bulk-import CSV out."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("portsip-roster")
except PackageNotFoundError:  # running from a source checkout that was never installed
    __version__ = "0+source"
