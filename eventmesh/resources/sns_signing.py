"""SNS's message signatures: what HTTP(S) subscribers of a topic verify.

SNS signs each message it POSTs (notifications, subscription and unsubscribe confirmations)
with RSA over a *string to sign*: chosen fields in a fixed order, each written as its name
and its value on lines of their own (``"Name\\nvalue\\n"``). A ``Notification`` signs
``Message``, ``MessageId``, ``Subject`` (only when present), ``Timestamp``, ``TopicArn``,
``Type``; a ``SubscriptionConfirmation`` or ``UnsubscribeConfirmation`` signs ``Message``,
``MessageId``, ``SubscribeURL``, ``Timestamp``, ``Token``, ``TopicArn``, ``Type``.
``SignatureVersion`` 1 is SHA1withRSA, 2 SHA256withRSA (PKCS #1 v1.5); the signature is
base64. The receiver fetches the X.509 certificate at ``SigningCertURL`` and verifies with
its public key.

A mesh signs with one RSA 2048 key and a self-signed certificate, made once per mesh
storage: the first process to need them generates a pair and writes it to the mesh's
key-value store only if none is there, then every process reads back what the store holds,
so workers sharing a durable backend sign with the same key and serve the same certificate.
The certificate is served by the mesh's HTTP front at
``/_eventmesh/sns/SimpleNotificationService-<hash>.pem`` (:mod:`eventmesh._endpoints`).
The private key sits in the store as PEM, unencrypted, like the store's other contents: it
is never logged nor put in an error message.

Beside it, the same way (put-if-absent, read back), sits the mesh's *unsubscribe secret*:
32 random bytes. An ``UnsubscribeURL`` carries ``Token``, the HMAC-SHA256 of the
subscription's ARN under that secret (:meth:`MeshSigner.unsubscribe_token`): SNS's own
subscription ARNs end in a random UUID, which is what makes its URL unguessable, while the
mesh derives its ARNs from the topic and the endpoint (so every worker names a subscription
alike); the token puts the unguessable part back, the same in every worker.

``cryptography`` comes with the ``eventmesh[http]`` extra; it is imported only when a key
is needed.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import hmac
import secrets
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import orjson

from eventmesh._errors import ConfigurationError
from eventmesh._http_messages import HttpResponse

if TYPE_CHECKING:
    from eventmesh._endpoints import MeshEndpoints
    from eventmesh._http_messages import HttpRequest
    from eventmesh.resources.context import ResourceContext

__all__ = [
    "CONFIRMATION_FIELDS",
    "KEY_NAME",
    "NOTIFICATION_FIELDS",
    "UNSUBSCRIBE_SECRET_NAME",
    "MeshSigner",
    "SignatureVersion",
    "SigningKey",
    "check_signature_version",
    "mesh_signer",
    "require_cryptography",
    "string_to_sign",
]

SignatureVersion: TypeAlias = Literal["1", "2"]

NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
"""What a ``Notification`` signs, in order (``Subject`` only when present)."""
CONFIRMATION_FIELDS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
"""What a ``SubscriptionConfirmation`` or ``UnsubscribeConfirmation`` signs, in order."""

KEY_NAME = "eventmesh.sns.signing-key"
"""Where the mesh's key and certificate live in its key-value store."""
UNSUBSCRIBE_SECRET_NAME = "eventmesh.sns.unsubscribe-secret"
"""Where the mesh's unsubscribe secret lives in its key-value store."""
CERTIFICATE_PREFIX = "/_eventmesh/sns/SimpleNotificationService-"


def require_cryptography() -> None:
    """Refuse signing when ``cryptography`` is not installed, saying what to install."""
    try:
        import cryptography  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "signed SNS messages to HTTP(S) subscribers need cryptography: "
            "pip install 'eventmesh[http]'"
        ) from None


def check_signature_version(value: Any) -> SignatureVersion:
    """SNS's ``SignatureVersion`` topic attribute: ``"1"`` (SHA1) or ``"2"`` (SHA256)."""
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if text == "1":
        return "1"
    if text == "2":
        return "2"
    raise ConfigurationError(f"SignatureVersion is 1 (SHA1) or 2 (SHA256), got {value!r}")


def string_to_sign(fields: Mapping[str, str]) -> str:
    """SNS's string to sign for a message's fields (see the module docstring)."""
    kind = fields["Type"]
    names = NOTIFICATION_FIELDS if kind == "Notification" else CONFIRMATION_FIELDS
    parts = []
    for name in names:
        value = fields.get(name)
        if value is None:
            if name == "Subject":
                continue
            raise ValueError(f"a {kind} message has no {name}")
        parts.append(f"{name}\n{value}\n")
    return "".join(parts)


class SigningKey:
    """A loaded key and its certificate; :meth:`sign` makes a message's ``Signature``."""

    __slots__ = ("_private_key", "certificate_pem", "path")

    def __init__(self, private_key: Any, certificate_pem: bytes) -> None:
        from cryptography import x509

        self._private_key = private_key
        self.certificate_pem = certificate_pem
        der = x509.load_pem_x509_certificate(certificate_pem).public_bytes(_der())
        digest = hashlib.sha256(der).hexdigest()[:32]
        self.path = f"{CERTIFICATE_PREFIX}{digest}.pem"
        """Where the front serves the certificate (its name changes with the certificate)."""

    def sign(self, fields: Mapping[str, str], version: SignatureVersion) -> str:
        """The base64 ``Signature`` of ``fields`` (a message's, ``Type`` included)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        # SHA1 because SNS's version 1 is SHA1withRSA (what receivers verify by default).
        algorithm = hashes.SHA256() if version == "2" else hashes.SHA1()
        text = string_to_sign(fields).encode()
        signature = self._private_key.sign(text, padding.PKCS1v15(), algorithm)
        return base64.b64encode(signature).decode()

    async def serve(self, request: HttpRequest) -> HttpResponse:
        """The certificate, as SNS serves its own (PEM)."""
        if request.method not in ("GET", "HEAD"):
            return HttpResponse(405, [("allow", "GET, HEAD")])
        body = b"" if request.method == "HEAD" else self.certificate_pem
        return HttpResponse(200, [("content-type", "application/x-x509-ca-cert")], body)

    def __repr__(self) -> str:  # never the key
        return f"<SigningKey {self.path}>"


def _der() -> Any:
    from cryptography.hazmat.primitives import serialization

    return serialization.Encoding.DER


def _generate(now: float) -> bytes:
    """A new key and self-signed certificate, as the JSON the store keeps."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "eventmesh"),
            x509.NameAttribute(NameOID.COMMON_NAME, "eventmesh SNS message signing"),
        ]
    )
    start = datetime.datetime.fromtimestamp(now, datetime.UTC) - datetime.timedelta(days=1)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    certificate_pem = certificate.public_bytes(serialization.Encoding.PEM)
    return orjson.dumps({"key": key_pem.decode(), "certificate": certificate_pem.decode()})


def _load(stored: bytes) -> SigningKey:
    from cryptography.hazmat.primitives import serialization

    data = orjson.loads(stored)
    private_key = serialization.load_pem_private_key(data["key"].encode(), password=None)
    return SigningKey(private_key, data["certificate"].encode())


class MeshSigner:
    """The signing key of one mesh (one per :class:`MeshEndpoints`, see :func:`mesh_signer`):
    loaded from the store on first use, its certificate then served by the front."""

    def __init__(self, context: ResourceContext) -> None:
        self._context = context
        self._key: SigningKey | None = None
        self._loading: asyncio.Task[SigningKey] | None = None
        self._unsubscribe_secret: bytes | None = None

    @property
    def loaded(self) -> SigningKey | None:
        return self._key

    async def key(self) -> SigningKey:
        """The mesh's key: read from the store, or made and stored if there is none yet."""
        key = self._key
        if key is not None:
            return key
        loading = self._loading
        if loading is None or loading.get_loop() is not asyncio.get_running_loop():
            loading = self._loading = asyncio.ensure_future(self._load())
        try:
            return await asyncio.shield(loading)
        finally:
            if loading.done():
                self._loading = None

    async def _load(self) -> SigningKey:
        require_cryptography()
        values = self._context.backend.values
        stored = await values.get(KEY_NAME)
        if stored is None:
            made = await asyncio.to_thread(_generate, self._context.clock.time())
            await values.put(KEY_NAME, made, only_if_absent=True)
            stored = await values.get(KEY_NAME)  # ours, or another process's made first
            if stored is None:
                raise RuntimeError("the mesh's key-value store lost the SNS signing key")
        key = _load(stored.value)
        if self._unsubscribe_secret is None:  # what an HTTP(S) delivery needs next
            await self._load_unsubscribe_secret()
        self._context.endpoints.add(key.path, key.serve)
        self._key = key
        return key

    async def unsubscribe_token(self, subscription_arn: str) -> str:
        """The ``Token`` of a subscription's ``UnsubscribeURL``: the HMAC-SHA256 (hex) of its
        ARN under the mesh's unsubscribe secret, the same in every process sharing the store."""
        secret = self._unsubscribe_secret or await self._load_unsubscribe_secret()
        return hmac.new(secret, subscription_arn.encode(), hashlib.sha256).hexdigest()

    async def unsubscribe_token_matches(self, subscription_arn: str, token: str) -> bool:
        """Whether ``token`` is the subscription's, compared in constant time."""
        expected = await self.unsubscribe_token(subscription_arn)
        return hmac.compare_digest(expected.encode(), token.encode("utf-8", "replace"))

    async def _load_unsubscribe_secret(self) -> bytes:
        # Two loads at once are harmless: both read back the one the store kept.
        values = self._context.backend.values
        stored = await values.get(UNSUBSCRIBE_SECRET_NAME)
        if stored is None:
            made = secrets.token_bytes(32)
            await values.put(UNSUBSCRIBE_SECRET_NAME, made, only_if_absent=True)
            stored = await values.get(UNSUBSCRIBE_SECRET_NAME)
            if stored is None:
                raise RuntimeError("the mesh's key-value store lost the SNS unsubscribe secret")
        if len(stored.value) < 16:
            raise RuntimeError("the mesh's SNS unsubscribe secret in its store is too short")
        secret = self._unsubscribe_secret = bytes(stored.value)
        return secret

    def certificate_url(self, key: SigningKey) -> str:
        """``SigningCertURL``: where the running front serves the certificate."""
        return self._context.endpoints.url(key.path)


_SIGNERS: weakref.WeakKeyDictionary[MeshEndpoints, MeshSigner] = weakref.WeakKeyDictionary()


def mesh_signer(context: ResourceContext) -> MeshSigner:
    """The one :class:`MeshSigner` of the mesh ``context`` belongs to."""
    endpoints = context.endpoints
    signer = _SIGNERS.get(endpoints)
    if signer is None:
        signer = _SIGNERS[endpoints] = MeshSigner(context)
    return signer
