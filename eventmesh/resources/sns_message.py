"""SNS messages: what ``Publish`` accepts (a message, a subject, attributes, within SNS's
limits) and :class:`Notification`, a published message as every subscription gets it, with
the JSON all its subscribers share encoded once (see :mod:`eventmesh.resources.topic`)."""

from __future__ import annotations

import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

import orjson

from eventmesh._errors import PayloadError
from eventmesh._validation import check_mapping, check_text, json_bytes
from eventmesh.resources.queue import encode_message_attributes
from eventmesh.resources.sns_signing import SignatureVersion, SigningKey

__all__ = [
    "MAX_MESSAGE_BYTES",
    "MAX_SUBJECT_LENGTH",
    "Notification",
    "attribute_size",
    "check_subject",
    "encode_sns_attributes",
    "message_text",
]

MAX_MESSAGE_BYTES = 256 * 1024
"""SNS's limit on a message with its attributes (names, types and values)."""
MAX_SUBJECT_LENGTH = 100

_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,256}$")
_RESERVED_PREFIXES = ("aws.", "amazon.")
_DATA_TYPES = ("String", "Number", "Binary")
_UNREAD: Any = object()


def attribute_size(encoded: Mapping[str, Mapping[str, str]]) -> int:
    return sum(
        len(name.encode()) + sum(len(part.encode()) for part in value.values())
        for name, value in encoded.items()
    )


def encode_sns_attributes(attributes: Mapping[str, Any] | None) -> dict[str, dict[str, str]]:
    """Message attributes in SQS's request shape (``{name: {DataType, StringValue|BinaryValue}}``).

    Accepts SNS's shape (``{"Type": "String", "Value": "red"}``), SQS's (``{"DataType",
    "StringValue"}``) or plain values: a str is a String, a number a Number, bytes Binary and a
    list a String.Array.
    """
    if attributes is None:
        return {}
    prepared: dict[str, Any] = {}
    for name, value in check_mapping(attributes, "attributes", what="attribute values").items():
        if isinstance(value, list | tuple):
            text = json_bytes(list(value), f"attributes[{name!r}]").decode()
            value = {"DataType": "String.Array", "StringValue": text}
        prepared[name] = value
    encoded = encode_message_attributes(prepared)
    for name, value in encoded.items():
        if not _ATTRIBUTE_NAME.match(name) or name.lower().startswith(_RESERVED_PREFIXES):
            raise PayloadError(
                f"message attribute name {name!r} must be 1-256 letters, digits, '_', '-' or "
                "'.', and not start with 'AWS.' or 'Amazon.'"
            )
        base_type = value["DataType"].split(".", 1)[0]
        if base_type not in _DATA_TYPES:
            raise PayloadError(
                f"message attribute {name!r}: DataType must be String, Number or Binary "
                f"(optionally with a label), not {value['DataType']!r}"
            )
        if base_type == "Binary" and "StringValue" in value:
            # SNS's {"Type": "Binary", "Value": <base64>} shape.
            encoded[name] = {"DataType": value["DataType"], "BinaryValue": value["StringValue"]}
        elif base_type == "Number":
            try:
                float(value["StringValue"])
            except (KeyError, ValueError):
                raise PayloadError(f"message attribute {name!r} is not a number") from None
    return encoded


def message_text(message: Any) -> str:
    if isinstance(message, str):
        return check_text(message, "message")
    if isinstance(message, bytes | bytearray):
        try:
            return bytes(message).decode()
        except UnicodeDecodeError:
            raise PayloadError("message: an SNS message must be text (UTF-8)") from None
    if message is None:
        raise PayloadError("message: a message is required (SNS's Message)")
    return json_bytes(message, "message").decode()


def check_subject(subject: str | None) -> None:
    if subject is None:
        return
    if (
        not isinstance(subject, str)
        or not subject
        or len(subject) >= MAX_SUBJECT_LENGTH
        or not subject.isascii()
        or not subject.isprintable()
    ):
        raise PayloadError(
            f"a subject is printable ASCII of 1-{MAX_SUBJECT_LENGTH - 1} characters without "
            f"line breaks, got {subject!r}"
        )


class Notification:
    """A published message as every subscription of the topic gets it.

    What every subscriber's copy shares is built once per publication, when the first
    subscriber needs it (:meth:`lambda_parts`, :meth:`envelope_fields`,
    :meth:`envelope_parts`): a subscription adds only its own fields.
    """

    __slots__ = (
        "_envelope_fields",
        "_envelope_parts",
        "_lambda_parts",
        "_policy_body",
        "_signature",
        "_signed",
        "attributes",
        "message",
        "message_id",
        "signing_cert_url",
        "subject",
        "timestamp",
        "topic_arn",
    )

    def __init__(
        self,
        *,
        message_id: str,
        topic_arn: str,
        message: str,
        subject: str | None,
        timestamp: str,
        attributes: Mapping[str, Mapping[str, str]],
        signing_cert_url: str,
    ) -> None:
        self.message_id = message_id
        self.topic_arn = topic_arn
        self.message = message
        self.subject = subject
        self.timestamp = timestamp
        self.attributes = attributes
        """In SQS's shape: ``{name: {"DataType", "StringValue" | "BinaryValue"}}``."""
        self.signing_cert_url = signing_cert_url
        self._signature: str | None = None
        self._signed: tuple[SigningKey, SignatureVersion, str] | None = None
        self._lambda_parts: tuple[bytes, bytes] | None = None
        self._envelope_fields: dict[str, str] | None = None
        self._envelope_parts: tuple[bytes, bytes] | None = None
        self._policy_body: Any = _UNREAD

    @property
    def signature(self) -> str:
        signature = self._signature
        if signature is None:
            signature = self._signature = _signature(
                self.message_id, self.message, self.subject, self.timestamp, self.topic_arn
            )
        return signature

    def signed(self, key: SigningKey, version: SignatureVersion) -> str:
        """The RSA ``Signature`` (made once per key and version: every HTTP subscriber and
        retry shares it, as SNS signs a message once)."""
        signed = self._signed
        if signed is None or signed[0] is not key or signed[1] != version:
            fields = {
                "Type": "Notification",
                "MessageId": self.message_id,
                "TopicArn": self.topic_arn,
                "Message": self.message,
                "Timestamp": self.timestamp,
            }
            if self.subject is not None:
                fields["Subject"] = self.subject
            signed = self._signed = (key, version, key.sign(fields, version))
        return signed[2]

    def sns_attributes(self) -> dict[str, dict[str, str]]:
        """The attributes as SNS shows them: ``{name: {"Type", "Value"}}`` (a new copy)."""
        return {
            name: {
                "Type": value["DataType"],
                "Value": value.get("StringValue", value.get("BinaryValue", "")),
            }
            for name, value in self.attributes.items()
        }

    def policy_body(self) -> Any:
        """The message as a ``MessageBody`` filter policy reads it, parsed once for every
        policy of the publication (with :mod:`json`, as a policy parses a text): the object,
        or the text itself when it is not a JSON object (which a policy then refuses)."""
        body = self._policy_body
        if body is _UNREAD:
            try:
                parsed = json.loads(self.message)
            except (ValueError, RecursionError):  # as FilterPolicy.matches reads a text
                parsed = None
            body = self._policy_body = parsed if isinstance(parsed, Mapping) else self.message
        return body

    def lambda_parts(self) -> tuple[bytes, bytes]:
        """The JSON members of a Lambda event's ``Sns`` object that every subscriber
        shares: ``MessageId`` to ``SigningCertUrl``, then ``MessageAttributes``."""
        parts = self._lambda_parts
        if parts is None:
            shared = {
                "MessageId": self.message_id,
                "TopicArn": self.topic_arn,
                "Subject": self.subject,
                "Message": self.message,
                "Timestamp": self.timestamp,
                "SignatureVersion": "1",
                "Signature": self.signature,
                "SigningCertUrl": self.signing_cert_url,
            }
            attributes = {"MessageAttributes": self.sns_attributes()}
            parts = self._lambda_parts = (_members(shared), _members(attributes))
        return parts

    def envelope_fields(self) -> dict[str, str]:
        """The JSON notification's fields that every subscriber shares, in SNS's order:
        ``Type`` to ``SigningCertURL`` (``Subject`` only when given). Not to be changed."""
        fields = self._envelope_fields
        if fields is None:
            fields = {
                "Type": "Notification",
                "MessageId": self.message_id,
                "TopicArn": self.topic_arn,
            }
            if self.subject is not None:
                fields["Subject"] = self.subject
            fields |= {
                "Message": self.message,
                "Timestamp": self.timestamp,
                "SignatureVersion": "1",
                "Signature": self.signature,
                "SigningCertURL": self.signing_cert_url,
            }
            self._envelope_fields = fields
        return fields

    def envelope_parts(self) -> tuple[bytes, bytes]:
        """The JSON notification's text around a subscriber's ``UnsubscribeURL``: the
        shared fields (the object left open), and what closes it (``MessageAttributes``
        when any)."""
        parts = self._envelope_parts
        if parts is None:
            head = orjson.dumps(self.envelope_fields())[:-1]
            tail = b"}"
            if self.attributes:
                tail = b"," + _members({"MessageAttributes": self.sns_attributes()}) + tail
            parts = self._envelope_parts = (head, tail)
        return parts


def _members(fields: Mapping[str, Any]) -> bytes:
    """The members of a JSON object, without its braces (pieces that join into one)."""
    return orjson.dumps(fields)[1:-1]


def _signature(
    message_id: str, message: str, subject: str | None, timestamp: str, topic_arn: str
) -> str:
    """A digest of SNS's string to sign (its fields in order, each name and value on a
    line; ``Subject`` only when given), standing in for the signature."""
    subject_lines = "" if subject is None else f"Subject\n{subject}\n"
    text = (
        f"Message\n{message}\nMessageId\n{message_id}\n{subject_lines}"
        f"Timestamp\n{timestamp}\nTopicArn\n{topic_arn}\nType\nNotification\n"
    )
    digest = hashlib.sha1(text.encode(), usedforsecurity=False).digest()
    return binascii.b2a_base64(digest, newline=False).decode()
