"""portsip-roster: a YAML roster in, the exact PortSIP bulk-import CSV out."""


def version() -> str:
    """The installed version (read only when asked: importlib.metadata is slow to import)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("portsip-roster")
    except PackageNotFoundError:  # running from a source checkout that was never installed
        return "0+source"
