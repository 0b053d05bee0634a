"""What the authorizer tests share: real keys, signed tokens, and authorization requests shaped
as the gateway builds them (REST payload 1.0, HTTP API payload 1.0 and 2.0)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from eventmesh._http_messages import HttpResponse
from eventmesh.gateway.authorization import AuthorizationRequest

ACCOUNT = "123456789012"
REGION = "us-east-1"


class SigningKey:
    """A real key pair (RSA 2048 or EC P-256) with a ``kid``, and its public JWK."""

    def __init__(self, kid: str, kind: str = "RSA") -> None:
        self.kid = kid
        self.kind = kind
        if kind == "RSA":
            self.private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.algorithm = "RS256"
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        else:
            self.private = ec.generate_private_key(ec.SECP256R1())
            self.algorithm = "ES256"
            jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.private.public_key()))
        self.jwk: dict[str, Any] = {**jwk, "kid": kid, "use": "sig", "alg": self.algorithm}

    def sign(self, claims: Mapping[str, Any], *, kid: str | None = None, **headers: Any) -> str:
        return jwt.encode(
            dict(claims),
            self.private,
            algorithm=headers.pop("algorithm", self.algorithm),
            headers={"kid": kid or self.kid, **headers},
        )


def jwks(*keys: SigningKey) -> dict[str, Any]:
    return {"keys": [key.jwk for key in keys]}


def _query_maps(query: str) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    pairs = parse_qsl(query, keep_blank_values=True)
    if not pairs:
        return None, None
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        multi.setdefault(key, []).append(value)
    return {key: values[-1] for key, values in multi.items()}, multi


def rest_request(
    method: str = "GET",
    path: str = "/orders/1",
    *,
    resource: str = "/orders/{id}",
    headers: Sequence[tuple[str, str]] = (),
    query: str = "",
    api_id: str = "restapi001",
    stage: str = "prod",
    stage_variables: Mapping[str, str] | None = None,
) -> AuthorizationRequest:
    """A REST API request and its payload 1.0 proxy event."""
    from eventmesh._http_messages import HttpRequest

    lowered = tuple((name.lower(), value) for name, value in headers)
    single, multi = _query_maps(query)
    event = {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {name: value for name, value in headers} or None,
        "multiValueHeaders": {name: [value] for name, value in headers} or None,
        "queryStringParameters": single,
        "multiValueQueryStringParameters": multi,
        "pathParameters": {"id": path.rsplit("/", 1)[-1]},
        "stageVariables": dict(stage_variables) if stage_variables else None,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": api_id,
            "httpMethod": method,
            "identity": {"sourceIp": "127.0.0.1"},
            "path": f"/{stage}{path}",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "resourcePath": resource,
            "stage": stage,
        },
        "body": "secret body",
        "isBase64Encoded": False,
    }
    arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/{stage}/{method}/{path.lstrip('/')}"
    request = HttpRequest(method, path, headers=lowered, query_string=query, raw_path=path)
    return AuthorizationRequest(request, event, arn, "rest")


def http_request(
    method: str = "GET",
    path: str = "/orders/1",
    *,
    route_key: str = "GET /orders/{id}",
    headers: Sequence[tuple[str, str]] = (),
    query: str = "",
    api_id: str = "httpapi001",
    stage: str = "$default",
    version: str = "2.0",
    stage_variables: Mapping[str, str] | None = None,
) -> AuthorizationRequest:
    """An HTTP API request and its payload 2.0 (or 1.0) proxy event."""
    from eventmesh._http_messages import HttpRequest

    lowered = tuple((name.lower(), value) for name, value in headers)
    single, multi = _query_maps(query)
    arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/{stage}/{method}/{path.lstrip('/')}"
    request = HttpRequest(method, path, headers=lowered, query_string=query, raw_path=path)
    event: dict[str, Any]
    if version == "2.0":
        joined: dict[str, str] = {}
        for name, value in lowered:
            joined[name] = f"{joined[name]},{value}" if name in joined else value
        event = {
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": path,
            "rawQueryString": query,
            "headers": joined,
            "requestContext": {
                "accountId": ACCOUNT,
                "apiId": api_id,
                "domainName": f"{api_id}.execute-api.{REGION}.amazonaws.com",
                "domainPrefix": api_id,
                "http": {
                    "method": method,
                    "path": path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "127.0.0.1",
                    "userAgent": "test",
                },
                "requestId": "JKJaXmPLvHcESHA=",
                "routeKey": route_key,
                "stage": stage,
                "time": "01/Jan/2026:00:00:00 +0000",
                "timeEpoch": 1767225600000,
            },
            "pathParameters": {"id": path.rsplit("/", 1)[-1]},
            "body": "secret body",
            "isBase64Encoded": False,
        }
        if query:
            event["queryStringParameters"] = {
                key: ",".join(values) for key, values in (multi or {}).items()
            }
        if stage_variables:
            event["stageVariables"] = dict(stage_variables)
    else:
        event = {
            "version": "1.0",
            "resource": route_key.split(" ", 1)[-1],
            "path": path,
            "httpMethod": method,
            "headers": {name: value for name, value in headers} or None,
            "multiValueHeaders": {name: [value] for name, value in headers} or None,
            "queryStringParameters": single,
            "multiValueQueryStringParameters": multi,
            "pathParameters": {"id": path.rsplit("/", 1)[-1]},
            "stageVariables": dict(stage_variables) if stage_variables else None,
            "requestContext": {
                "accountId": ACCOUNT,
                "apiId": api_id,
                "httpMethod": method,
                "identity": {"sourceIp": "127.0.0.1"},
                "path": path,
                "requestId": "JKJaXmPLvHcESHA=",
                "resourcePath": route_key.split(" ", 1)[-1],
                "routeKey": route_key,
                "stage": stage,
            },
            "body": "secret body",
            "isBase64Encoded": False,
        }
    return AuthorizationRequest(request, event, arn, "http")


def body(response: HttpResponse | None) -> Any:
    assert response is not None
    return json.loads(response.body)


def header(response: HttpResponse | None, name: str) -> str | None:
    assert response is not None
    values = [value for key, value in response.headers if key.lower() == name.lower()]
    return values[0] if values else None
