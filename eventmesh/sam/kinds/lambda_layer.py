"""``AWS::Lambda::LayerVersion`` (what SAM's ``AWS::Serverless::LayerVersion`` becomes): a
layer whose content is a local folder (SAM's ``ContentUri``, or a plain template's ``Content:
./layer``), known to the functions that list its ARN in ``Layers``.

``LayerName`` (else the logical id) names it; each layer version of one name in the mesh
takes the next number, as Lambda numbers them. ``Ref`` gives the layer version's ARN
(``arn:aws:lambda:<region>:<account>:layer:<name>:<n>``), ``Fn::GetAtt ... LayerVersionArn``
the same. ``CompatibleRuntimes``, ``CompatibleArchitectures``, ``Description`` and
``LicenseInfo`` are metadata. Content in S3 is refused: there is nothing local to read.
"""

from __future__ import annotations

from typing import ClassVar

from eventmesh.sam._model import BuildContext, Built, CfnResource
from eventmesh.sam.kinds import register
from eventmesh.sam.kinds._lambda import local_layers

__all__ = ["LambdaLayerVersion"]


class LambdaLayerVersion:
    types: ClassVar[tuple[str, ...]] = ("AWS::Lambda::LayerVersion",)

    def build(self, resource: CfnResource, context: BuildContext) -> Built:
        name = resource.properties.get("LayerName") or resource.logical_id
        if not isinstance(name, str):
            raise resource.error(f"must be a string, got {name!r}", "LayerName")
        if name.startswith("arn:"):
            name = name.rsplit(":", 1)[-1]
        folder = context.code_path(resource)
        if folder is None:
            raise resource.error(
                "the layer's content is not a local folder: give a local ContentUri (SAM) "
                "or Content (CloudFormation) folder",
                "Content",
            )
        if not folder.is_dir():
            raise resource.error(f"the layer's folder {folder} does not exist", "Content")
        known = local_layers(context.mesh)
        prefix = f"arn:aws:lambda:{context.region}:{context.account_id}:layer:{name}:"
        number = 1 + sum(1 for arn in known if arn.startswith(prefix))
        arn = f"{prefix}{number}"
        known[arn] = folder
        return Built(folder, arn, {"LayerVersionArn": arn})


register(LambdaLayerVersion())
