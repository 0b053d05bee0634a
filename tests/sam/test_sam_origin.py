"""An error about a resource SAM's translator made names the template's part it comes from:
the author never wrote the translated logical id."""

from __future__ import annotations

from pathlib import Path

import pytest
from process_prefix import skip_if_hidden

from eventmesh import Mesh
from eventmesh.sam import TemplateError, load_template
from eventmesh.telemetry import Telemetry

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: "def handler(event, context): return None"
      Handler: index.handler
      Runtime: python3.12
      Events:
        Q:
          Type: SQS
          Properties:
            Queue: !GetAtt Missing.Arn
"""


def _load(tmp_path: Path, text: str) -> None:
    (tmp_path / "template.yaml").write_text(text)
    load_template(tmp_path / "template.yaml", mesh=Mesh(telemetry=Telemetry(enabled=False)))


@skip_if_hidden  # the function is a process function: refused where this Python is under /tmp
def test_an_event_source_mapping_error_names_the_function_event(tmp_path: Path) -> None:
    with pytest.raises(TemplateError) as raised:
        _load(tmp_path, TEMPLATE)
    assert str(raised.value) == (
        "Resources.FQ.Properties.EventSourceArn: Fn::GetAtt Missing.Arn: no parameter or "
        "resource named Missing (Resources.FQ is what SAM made of "
        "Resources.F.Properties.Events.Q)"
    )


def test_an_error_about_a_resource_of_the_template_is_unchanged(tmp_path: Path) -> None:
    text = "Resources:\n  Orders:\n    Type: AWS::SQS::Queue\n    Properties:\n"
    text += "      DelaySeconds: !GetAtt Missing.Arn\n"
    with pytest.raises(TemplateError) as raised:
        _load(tmp_path, text)
    assert str(raised.value) == (
        "Resources.Orders.Properties.DelaySeconds: Fn::GetAtt Missing.Arn: no parameter or "
        "resource named Missing"
    )
