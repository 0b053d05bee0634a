"""AWS's declarations of resources, turned into the mesh's.

The same settings reach the mesh in two spellings of AWS's own: the parameters of an API call
(``CreateQueue``'s attributes, ``PutTargets``' targets, ``CreateEventSourceMapping``) through
the AWS endpoint (:mod:`eventmesh.aws`), and the properties of a CloudFormation resource
(``AWS::SQS::Queue``, ``AWS::Events::Rule``'s ``Targets``, ``AWS::Lambda::EventSourceMapping``)
through a template (:mod:`eventmesh.sam`). The two spellings are nearly the same shapes; the
translation from them to the mesh's settings lives here once, one module per shape, and both
faces call it.

A function here raises :class:`DeclarationError` (a ``ConfigurationError``) naming the member
at fault; each face words it its own way (an AWS error code, a template path).
"""

from __future__ import annotations

from eventmesh._errors import ConfigurationError

__all__ = ["DeclarationError"]


class DeclarationError(ConfigurationError):
    """A declared setting the mesh cannot take; ``member`` names it as AWS spells it
    (``RedrivePolicy``, ``Targets[0].InputTransformer``), or is ``None``."""

    def __init__(self, message: str, member: str | None = None) -> None:
        super().__init__(message)
        self.member = member
