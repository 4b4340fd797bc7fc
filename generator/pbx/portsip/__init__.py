"""PortSIP v22 as a sync target: its REST client (client.py), the bodies its
API takes (api.py) and the Target built on both (target.py)."""
