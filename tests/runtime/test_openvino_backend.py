"""The OpenVINO backend's errors: one line that gives OpenVINO's reason, not its source-file preamble."""
from __future__ import annotations

import pytest

from omdeploy.errors import UserError

pytestmark = pytest.mark.needs_openvino


def test_an_unreadable_ir_names_the_reason(tmp_path):
    from omdeploy.runtime import Session

    bad = tmp_path / "model.xml"
    bad.write_text('<?xml version="1.0"?><net></net>')
    with pytest.raises(UserError) as err:
        Session(bad, backend="openvino")
    message = str(err.value)
    assert "\n" not in message and "Unable to read the model" in message
    assert "Exception from" not in message
