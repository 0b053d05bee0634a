"""The errors the endpoint itself answers (before or around an operation's handler), in each
service's own codes: AWS's services differ in what they call the same refusal.

==================  ===================================  =================================
kind                json / rest-json (Kinesis, Lambda..)  query (SNS), SQS, S3
==================  ===================================  =================================
unknown operation   UnknownOperationException            InvalidAction; S3: NotImplemented
invalid input       ValidationException                  ValidationError; SQS:
                                                         MissingParameter /
                                                         InvalidParameterValue
malformed body      SerializationException               MalformedQueryString (query);
                                                         S3: MalformedXML
unknown key id      UnrecognizedClientException          InvalidClientTokenId;
                                                         S3: InvalidAccessKeyId
bad signature       InvalidSignatureException            SignatureDoesNotMatch
expired/skewed      InvalidSignatureException            SignatureDoesNotMatch;
                    ("Signature expired: ...")           S3: RequestTimeTooSkewed
unexpected failure  InternalFailure (Lambda:             InternalError (SNS, SQS, S3)
                    ServiceException, Scheduler:
                    InternalServerException)
==================  ===================================  =================================
"""

from __future__ import annotations

from eventmesh.aws.operations import AwsError

__all__ = [
    "bad_signature",
    "internal_error",
    "invalid_input",
    "malformed",
    "missing_input",
    "not_implemented",
    "signature_expired",
    "unknown_key",
]

_JSON_LIKE = frozenset({"events", "kinesis", "lambda", "scheduler"})
_INTERNAL = {
    "lambda": "ServiceException",
    "scheduler": "InternalServerException",
    "sns": "InternalError",
    "sqs": "InternalError",
    "s3": "InternalError",
}
SIGNATURE_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. Check "
    "your AWS Secret Access Key and signing method. Consult the service documentation for "
    "details."
)


def not_implemented(service: str, operation: str, known: bool) -> AwsError:
    """An operation the endpoint has no handler for (``known``: the model has it)."""
    what = f"{service}.{operation}" if operation else f"this {service} request"
    message = (
        f"eventmesh does not implement {what} yet"
        if known
        else f"{operation} is not an operation of {service}"
        if operation
        else f"eventmesh cannot tell which {service} operation this request is"
    )
    if service == "s3":
        return AwsError("NotImplemented", message, 501)
    if service == "sns":
        return AwsError("InvalidAction", message, 400)
    return AwsError("UnknownOperationException", message, 400)


def missing_input(service: str, message: str) -> AwsError:
    """A required member is missing."""
    if service == "sqs":
        return AwsError("MissingParameter", message)
    if service == "sns":
        return AwsError("ValidationError", message)
    if service == "s3":
        return AwsError("InvalidRequest", message)
    return AwsError("ValidationException", message)


def invalid_input(service: str, message: str) -> AwsError:
    """A member's value is not one the model allows (an enum's, a type's)."""
    if service == "sqs":
        return AwsError("InvalidParameterValue", message)
    if service == "sns":
        return AwsError("ValidationError", message)
    if service == "s3":
        return AwsError("InvalidArgument", message)
    if service in ("events", "kinesis"):
        return AwsError("SerializationException", message)
    return AwsError("ValidationException", message)


def malformed(service: str, message: str) -> AwsError:
    """A body that cannot be read at all."""
    if service == "s3":
        return AwsError(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our "
            "published schema",
        )
    if service == "sns":
        return AwsError("MalformedQueryString", message)
    if service == "sqs":
        return AwsError("InvalidParameterValue", message)
    return AwsError("SerializationException", message)


def unknown_key(service: str) -> AwsError:
    """An access key id the endpoint was not given."""
    if service == "s3":
        return AwsError(
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
            403,
        )
    if service in _JSON_LIKE:
        return AwsError(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
            403,
        )
    return AwsError(
        "InvalidClientTokenId", "The security token included in the request is invalid.", 403
    )


def bad_signature(service: str, message: str = SIGNATURE_MESSAGE) -> AwsError:
    """A signature that does not match the request."""
    if service in _JSON_LIKE:
        return AwsError("InvalidSignatureException", message, 403)
    return AwsError("SignatureDoesNotMatch", message, 403)


def signature_expired(service: str, message: str) -> AwsError:
    """A request dated outside AWS's 15-minute window (or a presigned URL past its expiry)."""
    if service == "s3":
        return AwsError(
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
            403,
        )
    return bad_signature(service, message)


def internal_error(service: str) -> AwsError:
    """A handler failed unexpectedly (the details stay in the log)."""
    code = _INTERNAL.get(service, "InternalFailure")
    message = (
        "We encountered an internal error. Please try again."
        if service == "s3"
        else "The request processing has failed because of an unknown error, exception or failure."
    )
    return AwsError(code, message, 500, sender_fault=False)
