"""The kinds of CloudFormation resources a template can hold, by type.

One module per kind (or family of types); importing it registers its :class:`Kind` with
:func:`register`. :func:`load_kinds` imports every module listed in ``KIND_MODULES``: a new
kind is a new module and one line here.

Types not registered fall to two lists: :data:`IGNORED_TYPES` mean nothing locally (IAM,
permissions, log groups) and are skipped quietly; anything else is *unsupported*, named in
one warning at start (``--strict`` refuses to start instead).
"""

from __future__ import annotations

import importlib

from eventmesh.sam._model import Kind

__all__ = ["IGNORED_TYPES", "KIND_MODULES", "kind_for", "load_kinds", "register"]

KIND_MODULES: tuple[str, ...] = (
    "s3_bucket",
    "rest_api",
    "api_keys",
    "http_api",
    "function_url",
    "lambda_function",
    "lambda_layer",
    "lambda_versions",
    "lambda_invoke_config",
    "events",
    "scheduler",
    "sqs_queue",
    "sns_topic",
    "sns_subscription",
    "kinesis_stream",
    "event_source_mapping",
)
"""Modules of this package, by name, that register kinds."""

IGNORED_TYPES: frozenset[str] = frozenset(
    (
        "AWS::IAM::Role",
        "AWS::IAM::Policy",
        "AWS::IAM::ManagedPolicy",
        "AWS::IAM::InstanceProfile",
        "AWS::Lambda::Permission",
        "AWS::Logs::LogGroup",
        "AWS::Logs::SubscriptionFilter",
        "AWS::SQS::QueuePolicy",
        "AWS::SNS::TopicPolicy",
        "AWS::S3::BucketPolicy",
        "AWS::ApiGateway::Account",
        "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::Dashboard",
        "AWS::CodeDeploy::Application",
        "AWS::CodeDeploy::DeploymentGroup",
        "AWS::KMS::Key",
        "AWS::KMS::Alias",
        "AWS::XRay::Group",
        "AWS::XRay::SamplingRule",
        "AWS::SSM::Parameter",
        "AWS::Scheduler::ScheduleGroup",
    )
)
"""CloudFormation types that mean nothing locally (access, logging, alarms): skipped
quietly; ``Ref`` gives the logical id and ``Fn::GetAtt ... Arn`` an ARN made of it."""

_KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    """Make ``kind`` the builder of each type in ``kind.types`` (a second kind for a type is a
    programming error)."""
    for type_name in kind.types:
        if type_name in _KINDS and _KINDS[type_name] is not kind:
            raise RuntimeError(f"two kinds registered for {type_name}")
        _KINDS[type_name] = kind
    return kind


def kind_for(type_name: str) -> Kind | None:
    """The kind registered for a CloudFormation type, if any."""
    return _KINDS.get(type_name)


def load_kinds() -> None:
    """Import every kind module (idempotent)."""
    for name in KIND_MODULES:
        importlib.import_module(f"{__name__}.{name}")
