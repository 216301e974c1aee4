"""The rules `doctor` and `convert`'s environment check report under (omdeploy.findings registry): the CANN
install scan (cann.*), the environment set_env.sh makes (env.*), the Python that ATC and pyACL run in
(python.*), the NPUs npu-smi lists (npu.*), a saved snapshot of the other machine (against.*), and the packages
known not to work on the box (unsupported.*, one per row of data/environment.json)."""
from __future__ import annotations

from typing import Tuple

from ..findings import Rule, register
from .setenv import rules as environment_table

RULES: Tuple[Rule, ...] = register("doctor", (
    ("cann.found", "error", "a CANN toolkit is installed where ATC and pyACL look for it"),
    ("cann.files", "warning", "the version files of each CANN part are readable and complete"),
    ("cann.versions", "error", "toolkit, kernels/ops and nnrt/nnae are one CANN release (else 500002 / 507011)"),
    ("cann.kernels", "warning", "the kernels/ops package of the toolkit's release is installed"),
    ("cann.driver", "warning", "the driver is in the toolkit's compatible_version list"),
    ("env.set_env", "error", "the variables set_env.sh exports are set (ASCEND_OPP_PATH, PYTHONPATH, ...)"),
    ("env.stub", "warning", "no driver stub library on LD_LIBRARY_PATH of a machine with a driver"),
    ("env.devlib", "error", "libascend_hal.so is found (the driver's, or devlib's on a training box)"),
    ("python.probe", "warning", "the interpreter can be asked what it imports"),
    ("python.atc", "error", "the pip modules ATC's op compiler needs, in the versions it takes"),
    ("python.tbe", "error", "tbe/te from the toolkit import (EC0010 otherwise)"),
    ("python.pyacl", "error", "pyACL imports on the NPU box"),
    ("python.torch", "error", "torch, torchvision and torch_npu pair with each other and the CANN release"),
    ("npu.smi", "warning", "npu-smi info runs"),
    ("npu.health", "warning", "every NPU chip reports OK health"),
    ("npu.soc", "info", "the soc_version of this box's chips, for --soc"),
    ("against.toolkit", "error", "this machine's CANN parts match the other machine's saved snapshot"),
) + tuple(("unsupported." + row["id"], row["severity"], "{} on this box".format(" / ".join(row["dists"])))
          for row in environment_table()["unsupported"]))
