"""Bundles: one tar archive that carries a deployment and its evidence from the training box to the edge box.

    omdeploy pack deploy.yaml -o lite0.tar -i photos/      # on the training box
    omdeploy verify lite0.tar                              # on the box: integrity, environment, golden, bench
    Session("lite0.tar")                                   # unpacked once into a cache, verified before use

The format is in manifest.py and the unpacking cache in cache.py; pack, verify and selftest are workflows in
omdeploy.tools (tools/pack.py, tools/verify.py, tools/selftest.py). docs/bundle.md describes the workflow and
what verify checks.
"""
from __future__ import annotations

__all__ = ["manifest", "cache", "report", "wheels"]
