"""The one error a template raises: what is wrong, and where in the template."""

from __future__ import annotations

from eventmesh._errors import ConfigurationError

__all__ = ["TemplateError"]


class TemplateError(ConfigurationError):
    """A template cannot be read, resolved or built; the message names the resource and the
    property (``Resources.Orders.Properties.VisibilityTimeout: ...``)."""
