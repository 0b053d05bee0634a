"""``AWS::Lambda::Url`` (what SAM's ``FunctionUrlConfig`` becomes): the function's URL on
the mesh's HTTP front (``/_lambda-url/{function}/...``, or its ``lambda-url`` host).

``TargetFunctionArn`` (a function's name or ARN, or an alias ARN: the URL then invokes the
alias), ``Qualifier`` (an alias), ``AuthType`` (``NONE``, ``AWS_IAM``: a SigV4
``Authorization`` header is required, not verified), ``Cors`` (``AllowOrigins``,
``AllowMethods``, ``AllowHeaders``, ``ExposeHeaders``, ``MaxAge``, ``AllowCredentials``),
``InvokeMode`` ``BUFFERED`` (``RESPONSE_STREAM`` is warned and buffered). ``GetAtt
FunctionUrl``: ``https://{url-id}.lambda-url.{region}.on.aws/``, AWS's form, which the mesh
serves by that host; ``FunctionArn``.
"""

from __future__ import annotations

from typing import ClassVar

from eventmesh._errors import ConfigurationError
from eventmesh.sam._errors import TemplateError
from eventmesh.sam._model import BuildContext, Built, CfnResource
from eventmesh.sam.kinds import register
from eventmesh.sam.kinds._apis import check_function, cors_settings, function_of_arn

__all__ = ["FunctionUrlKind"]


class FunctionUrlKind:
    types: ClassVar[tuple[str, ...]] = ("AWS::Lambda::Url",)

    def build(self, resource: CfnResource, context: BuildContext) -> Built:
        props = resource.properties
        target = function_of_arn(props.get("TargetFunctionArn"), context)
        if target is None:
            raise resource.error("a function's name or ARN", "TargetFunctionArn")
        check_function(target, resource, "TargetFunctionArn", context)
        name, _, qualifier = target.partition(":")
        if props.get("Qualifier") is not None:
            if qualifier and qualifier != props["Qualifier"]:
                raise resource.error("differs from the alias in TargetFunctionArn", "Qualifier")
            qualifier = str(props["Qualifier"])
        auth_type = props.get("AuthType")
        if auth_type not in ("NONE", "AWS_IAM"):
            # required: a URL without it must not be served open
            shown = "required" if auth_type is None else repr(auth_type)
            raise resource.error(f"{shown}: NONE or AWS_IAM", "AuthType")
        mode = props.get("InvokeMode", "BUFFERED")
        if mode == "RESPONSE_STREAM":
            context.warn(
                resource,
                "InvokeMode RESPONSE_STREAM: the response is buffered and sent whole locally",
            )
        elif mode != "BUFFERED":
            raise resource.error("BUFFERED or RESPONSE_STREAM", "InvokeMode")
        try:
            url = context.mesh.function_url(
                name,
                qualifier=qualifier or None,
                auth_type=auth_type,
                cors=cors_settings(props.get("Cors"), resource, "Cors", camel_case=False),
            )
        except TemplateError:
            raise
        except ConfigurationError as exc:
            raise resource.error(str(exc)) from None
        function_arn = (
            f"arn:aws:lambda:{context.region}:{context.account_id}:function:{url.function}"
        )
        return Built(url, function_arn, {"FunctionUrl": url.url, "FunctionArn": function_arn})


register(FunctionUrlKind())
