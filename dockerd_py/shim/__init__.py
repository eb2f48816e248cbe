"""The per-container shim (containerd-shim role); standard library only.

`dockerd-py-shim DIR` / `python3 -m dockerd_py.shim DIR`; see docs/contracts.md §2.
Nothing here may import Flask, pluggy, pyroute2 or any other dockerd_py package.
"""
