"""The environment variables of an execution environment's process, as Lambda sets them.

What the process gets, and nothing else of the mesh's own environment:

- Lambda's reserved variables: ``_HANDLER``, ``AWS_REGION``, ``AWS_DEFAULT_REGION``,
  ``AWS_EXECUTION_ENV`` (Python only: Lambda sets none for custom runtimes),
  ``AWS_LAMBDA_FUNCTION_NAME``, ``AWS_LAMBDA_FUNCTION_VERSION``,
  ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``, ``AWS_LAMBDA_INITIALIZATION_TYPE``,
  ``AWS_LAMBDA_LOG_GROUP_NAME``, ``AWS_LAMBDA_LOG_STREAM_NAME``, ``AWS_LAMBDA_RUNTIME_API``,
  ``LAMBDA_TASK_ROOT``, ``LAMBDA_RUNTIME_DIR``, and the credentials (``AWS_ACCESS_KEY_ID``,
  ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``): the mesh's, never logged;
- ``AWS_ENDPOINT_URL`` when the mesh serves an AWS-compatible endpoint (:mod:`eventmesh.aws`);
- Lambda's unreserved defaults, which a function may override: ``TZ=:UTC``,
  ``LANG=en_US.UTF-8``, ``PATH`` (this interpreter's directory first, then the mesh's
  ``PATH``: Lambda's is fixed, here the machine's tools such as ``node`` and ``curl`` must be
  found) and, passed through when the mesh has them, ``LD_LIBRARY_PATH`` and ``VIRTUAL_ENV``;
- the layers' folders (:mod:`eventmesh.process._launch`): ``bin`` at the end of ``PATH``,
  ``lib`` at the end of ``LD_LIBRARY_PATH`` (after the code folder and its ``lib``, as
  Lambda's ``$LAMBDA_TASK_ROOT:$LAMBDA_TASK_ROOT/lib:/opt/lib``), and for Python
  ``PYTHONPATH`` (after the function's own, if it sets one);
- the function's own ``environment``, which may not set a reserved name (Lambda refuses
  those at configuration).

Everything else in the mesh's environment (its own secrets, its ``PYTHONPATH``, ``HOME``)
stays out, as a Lambda function sees only what Lambda sets.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping

from eventmesh._aws_credentials import AwsCredentials
from eventmesh._errors import ConfigurationError
from eventmesh.process._launch import Launch

__all__ = ["RESERVED", "check_environment", "check_reserved", "process_variables"]

RESERVED = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)
"""Lambda's reserved environment variable names: a function cannot set them."""

_PASSED_THROUGH = ("LD_LIBRARY_PATH", "VIRTUAL_ENV")
_KEY = re.compile(r"[a-zA-Z][a-zA-Z0-9_]+")  # Lambda's key pattern (API_Environment)


def check_environment(environment: Mapping[str, str]) -> None:
    """Refuse, at declaration, a function environment Lambda would refuse (a reserved name,
    a name outside Lambda's key pattern) or a process could not be given (a NUL character):
    otherwise the spawn fails at the cold start, as a function error with the mesh's trace."""
    check_reserved(environment)
    bad = sorted(key for key in environment if isinstance(key, str) and not _KEY.fullmatch(key))
    if bad:
        raise ConfigurationError(
            "1 validation error detected: Value at 'environment.variables' failed to satisfy "
            "constraint: Map keys must satisfy constraint: [Member must satisfy regular "
            f"expression pattern: [a-zA-Z]([a-zA-Z0-9_])+] (got {', '.join(map(repr, bad))})"
        )
    for key, value in environment.items():
        if isinstance(value, str) and "\x00" in value:  # (types: checked by the config)
            raise ConfigurationError(
                f"environment variable {key!r}: a value cannot hold a NUL character"
            )


def check_reserved(environment: Mapping[str, str]) -> None:
    """Refuse a function environment that sets a reserved name, with Lambda's reason."""
    reserved = sorted(set(environment) & RESERVED)
    if reserved:
        raise ConfigurationError(
            "Lambda was unable to configure your environment variables because the "
            "environment variables you have provided contains reserved keys that are "
            f"currently not supported for modification. Reserved keys used in this request: "
            f"{', '.join(reserved)}"
        )


def process_variables(
    launch: Launch,
    *,
    function_name: str,
    function_version: str,
    memory_mb: int,
    initialization_type: str,
    log_stream_name: str,
    runtime_api: str,
    region: str,
    credentials: AwsCredentials,
    endpoint_url: str | None,
    function_environment: Mapping[str, str],
) -> dict[str, str]:
    """The whole environment of the process (see the module docstring)."""
    parent = os.environ
    interpreter_dir = os.path.dirname(sys.executable)
    variables = {
        "PATH": os.pathsep.join(p for p in (interpreter_dir, parent.get("PATH", "")) if p),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
    }
    for name in _PASSED_THROUGH:
        if name in parent:
            variables[name] = parent[name]
    searched = launch.layer_variables()
    # Lambda's LD_LIBRARY_PATH ends $LAMBDA_TASK_ROOT:$LAMBDA_TASK_ROOT/lib:/opt/lib
    searched["LD_LIBRARY_PATH"][:0] = [str(launch.code), str(launch.code / "lib")]
    for name, paths in searched.items():
        if paths and name != "PYTHONPATH":
            variables[name] = os.pathsep.join(p for p in (variables.get(name), *paths) if p)
    variables.update(function_environment)
    layer_imports = launch.layer_variables()["PYTHONPATH"]
    if layer_imports:  # after the function's own PYTHONPATH, as Lambda's /opt/python is
        own = function_environment.get("PYTHONPATH")
        variables["PYTHONPATH"] = os.pathsep.join(p for p in (own, *layer_imports) if p)
    variables.update(
        {
            "_HANDLER": launch.handler,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_LAMBDA_FUNCTION_NAME": function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": function_version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
            "AWS_LAMBDA_INITIALIZATION_TYPE": initialization_type,
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream_name,
            "AWS_LAMBDA_RUNTIME_API": runtime_api,
            "LAMBDA_TASK_ROOT": str(launch.code),
            "LAMBDA_RUNTIME_DIR": launch.runtime_dir,
            "AWS_ACCESS_KEY_ID": credentials.access_key_id,
            "AWS_SECRET_ACCESS_KEY": credentials.secret_access_key,
        }
    )
    if credentials.session_token is not None:
        variables["AWS_SESSION_TOKEN"] = credentials.session_token
    if launch.execution_env is not None:
        variables["AWS_EXECUTION_ENV"] = launch.execution_env
    if endpoint_url is not None:
        # The mesh's AWS-compatible endpoint, when it serves one: every AWS
        # SDK sends its requests there instead of to AWS.
        variables["AWS_ENDPOINT_URL"] = endpoint_url
    return variables
