"""Lambda authorizers: TOKEN and REQUEST, REST and HTTP APIs (payload 1.0 and 2.0), policy and
simple responses, result caching on the virtual clock.

The authorizer functions are real functions of a running mesh; each counts its calls. The
events' shapes follow API Gateway's "Input to an API Gateway Lambda authorizer" and "Working
with AWS Lambda authorizers for HTTP APIs"; the refusals' bodies are API Gateway's literals.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from authorizer_support import body, header, http_request, rest_request
from hypothesis import given, settings
from hypothesis import strategies as st

from eventmesh import ConfigurationError, Context, Mesh
from eventmesh.gateway.authorization import AuthorizationRequest
from eventmesh.gateway.authorizers import LambdaAuthorizer
from eventmesh.testing import VirtualClock

REST_ARN = "arn:aws:execute-api:us-east-1:123456789012:restapi001/prod/GET/orders/1"
HTTP_ARN = "arn:aws:execute-api:us-east-1:123456789012:httpapi001/$default/GET/orders/1"


def policy(
    effect: str, resource: str | list[str], action: str | list[str] = "execute-api:Invoke"
) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Action": action, "Effect": effect, "Resource": resource}],
    }


class Authz:
    """An authorizer function whose answer the test chooses; it keeps every event."""

    def __init__(
        self, mesh: Mesh, answer: Callable[[dict[str, Any]], Any], **settings: Any
    ) -> None:
        self.events: list[dict[str, Any]] = []
        self.answer = answer

        async def authorizer_fn(event: dict[str, Any], context: Context) -> Any:
            self.events.append(event)
            return self.answer(event)

        self.function = (
            mesh.function(authorizer_fn, **settings) if settings else mesh.function(authorizer_fn)
        )

    @property
    def calls(self) -> int:
        return len(self.events)


def allow_all(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "principalId": "user-1",
        "policyDocument": policy("Allow", event.get("methodArn") or event.get("routeArn")),
        "context": {"stringKey": "value", "numberKey": 1, "booleanKey": True},
    }


async def authorize(mesh: Mesh, auth: LambdaAuthorizer, request: AuthorizationRequest) -> Any:
    async with mesh:
        return await auth.authorize(request)


def token(value: str) -> list[tuple[str, str]]:
    return [("Authorization", value)]


# -- REST, TOKEN -----------------------------------------------------------------------------


async def test_a_token_authorizer_gets_aws_token_event_and_its_policy_allows(mesh: Mesh) -> None:
    fn = Authz(mesh, allow_all)
    auth = LambdaAuthorizer(mesh.context, fn.function, type="TOKEN")
    async with mesh:
        answer = await auth.authorize(rest_request(headers=token("allow-me")))
    assert fn.events == [{"type": "TOKEN", "authorizationToken": "allow-me", "methodArn": REST_ARN}]
    assert answer.allowed
    assert answer.context is not None
    latency = answer.context["integrationLatency"]
    assert isinstance(latency, int) and latency >= 0
    assert answer.context == {
        "stringKey": "value",
        "numberKey": "1",
        "booleanKey": "true",
        "principalId": "user-1",
        "integrationLatency": latency,
    }


async def test_an_explicit_deny_is_403_with_aws_message(mesh: Mesh) -> None:
    fn = Authz(
        mesh,
        lambda event: {"principalId": "u", "policyDocument": policy("Deny", event["methodArn"])},
    )
    auth = LambdaAuthorizer(mesh.context, fn.function, type="TOKEN")
    answer = await authorize(mesh, auth, rest_request(headers=token("t")))
    assert answer.refusal is not None
    assert answer.refusal.status == 403
    assert body(answer.refusal) == {
        "Message": "User is not authorized to access this resource with an explicit deny"
    }
    assert header(answer.refusal, "x-amzn-ErrorType") == "AccessDeniedException"


async def test_a_policy_allowing_another_method_is_an_implicit_deny(mesh: Mesh) -> None:
    fn = Authz(
        mesh,
        lambda event: {
            "principalId": "u",
            "policyDocument": policy("Allow", event["methodArn"].replace("/GET/", "/POST/")),
        },
    )
    auth = LambdaAuthorizer(mesh.context, fn.function, type="TOKEN")
    answer = await authorize(mesh, auth, rest_request(headers=token("t")))
    assert answer.refusal is not None
    assert answer.refusal.status == 403
    assert body(answer.refusal) == {"Message": "User is not authorized to access this resource"}


@pytest.mark.parametrize(
    ("statements", "method", "allowed"),
    [
        ([("Allow", "arn:aws:execute-api:us-east-1:123456789012:restapi001/*/GET/*")], "GET", True),
        (
            [("Allow", "arn:aws:execute-api:us-east-1:123456789012:restapi001/*/GET/*")],
            "POST",
            False,
        ),
        (
            [("Allow", "arn:aws:execute-api:us-east-1:123456789012:restapi001/prod/*")],
            "DELETE",
            True,
        ),
        ([("Allow", "*")], "PATCH", True),
        (
            [("Allow", "arn:aws:execute-api:us-east-1:123456789012:restapi001/pro?/GET/orders/?")],
            "GET",
            True,
        ),
        (
            [("Allow", "arn:aws:execute-api:us-east-1:123456789012:restapi001/prod/GET/orders")],
            "GET",
            False,
        ),
        ([("Allow", "arn:aws:execute-api:us-east-1:123456789012:otherapi01/*")], "GET", False),
        # ? is exactly one character: not none, not two
        (
            [("Allow", "arn:aws:execute-api:us-east-1:123456789012:restapi001/prod/GET/orders/??")],
            "GET",
            False,
        ),
        (
            [("Allow", "arn:aws:execute-api:us-east-1:123456789012:restapi001/prod/GET/orders/1?")],
            "GET",
            False,
        ),
        (
            [("Allow", "arn:aws:execute-api:us-east-1:123456789012:restapi001/prod/GET/order?/1")],
            "GET",
            True,
        ),
        # everything but * and ? is literal (a regular expression's . or + would match here)
        (
            [("Allow", "arn:aws:execute-api:us-east-1:123456789012:restapi001/prod/GET/orders.1")],
            "GET",
            False,
        ),
        (
            [("Allow", "arn:aws:execute-api:us-east-1:123456789012:restapi001/prod/GET/orders/1+")],
            "GET",
            False,
        ),
        # resources are case-sensitive, unlike actions
        (
            [("Allow", "arn:aws:execute-api:us-east-1:123456789012:restapi001/prod/get/orders/1")],
            "GET",
            False,
        ),
        # * spans slashes and may be empty
        (
            [("Allow", "arn:aws:execute-api:us-east-1:123456789012:restapi001/*orders/1*")],
            "GET",
            True,
        ),
        ([("Allow", "*"), ("Deny", "arn:aws:execute-api:*:*:*/*/GET/orders/*")], "GET", False),
        ([("Allow", "*"), ("Deny", "arn:aws:execute-api:*:*:*/*/GET/orders/*")], "PUT", True),
    ],
)
async def test_policy_resources_match_the_method_arn_with_wildcards(
    mesh: Mesh, statements: list[tuple[str, str]], method: str, allowed: bool
) -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}
            for effect, resource in statements
        ],
    }
    fn = Authz(mesh, lambda event: {"principalId": "u", "policyDocument": document})
    auth = LambdaAuthorizer(mesh.context, fn.function, type="TOKEN")
    answer = await authorize(mesh, auth, rest_request(method, headers=token("t")))
    assert answer.allowed is allowed


async def test_a_long_path_cannot_make_policy_matching_crawl(mesh: Mesh) -> None:
    """The ARN carries the caller's path: matching it against a policy with several wildcards
    must stay quick whatever the path (a backtracking regular expression took 15 s here for a
    4,000-character path, blocking every other request on the loop)."""
    document = {
        "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resource}
            for resource in (
                "arn:aws:execute-api:*:*:*/*/*/admin/*/x",
                "*/*/*/*/*/*/DELETE",
                "arn:aws:execute-api:*:*:*/*/*/orders/*/*/*/end",
            )
        ]
    }
    fn = Authz(mesh, lambda event: {"principalId": "u", "policyDocument": document})
    auth = LambdaAuthorizer(mesh.context, fn.function, type="TOKEN")
    path = "/orders/" + "a/" * 4000 + "b"
    async with mesh:
        started = time.perf_counter()
        answer = await auth.authorize(rest_request(path=path, headers=token("t")))
        elapsed = time.perf_counter() - started
        assert answer.refusal is not None and answer.refusal.status == 403
        allowed = await auth.authorize(rest_request(path=path + "/end", headers=token("t")))
        assert allowed.allowed
    assert elapsed < 1.0


@pytest.mark.parametrize(
    ("action", "allowed"),
    [
        ("execute-api:Invoke", True),
        ("execute-api:*", True),
        ("EXECUTE-API:invoke", True),
        (["s3:GetObject", "execute-api:Invoke"], True),
        ("*", True),
        ("s3:GetObject", False),
        ("execute-api:ManageConnections", False),
    ],
)
async def test_only_statements_about_invoke_apply(mesh: Mesh, action: Any, allowed: bool) -> None:
    fn = Authz(
        mesh, lambda event: {"principalId": "u", "policyDocument": policy("Allow", "*", action)}
    )
    auth = LambdaAuthorizer(mesh.context, fn.function, type="TOKEN")
    assert (await authorize(mesh, auth, rest_request(headers=token("t")))).allowed is allowed


async def test_a_missing_or_empty_token_is_401_without_calling_the_authorizer(mesh: Mesh) -> None:
    fn = Authz(mesh, allow_all)
    auth = LambdaAuthorizer(mesh.context, fn.function, type="TOKEN")
    async with mesh:
        for request in (rest_request(), rest_request(headers=token(""))):
            answer = await auth.authorize(request)
            assert answer.refusal is not None
            assert answer.refusal.status == 401
            assert body(answer.refusal) == {"message": "Unauthorized"}
            assert header(answer.refusal, "x-amzn-ErrorType") == "UnauthorizedException"
    assert fn.calls == 0


async def test_a_token_failing_its_validation_expression_is_401_without_a_call(mesh: Mesh) -> None:
    fn = Authz(mesh, allow_all)
    auth = LambdaAuthorizer(
        mesh.context, fn.function, type="TOKEN", token_validation=r"Bearer [\w.-]+"
    )
    async with mesh:
        refused = await auth.authorize(rest_request(headers=token("Bearer abc def")))
        assert refused.refusal is not None and refused.refusal.status == 401
        assert fn.calls == 0
        assert (await auth.authorize(rest_request(headers=token("Bearer abc.def")))).allowed
    assert fn.calls == 1


async def test_the_token_header_can_be_named(mesh: Mesh) -> None:
    fn = Authz(mesh, allow_all)
    auth = LambdaAuthorizer(
        mesh.context, fn.function, type="TOKEN", identity_sources="method.request.header.X-Auth"
    )
    async with mesh:
        assert (await auth.authorize(rest_request(headers=[("x-auth", "abc")]))).allowed
        assert not (await auth.authorize(rest_request(headers=token("abc")))).allowed
    assert fn.events[0]["authorizationToken"] == "abc"


async def test_failing_with_unauthorized_is_401_other_failures_are_500(
    mesh: Mesh, caplog: pytest.LogCaptureFixture
) -> None:
    def fail(event: dict[str, Any]) -> Any:
        raise Exception(event["authorizationToken"])

    fn = Authz(mesh, fail)
    auth = LambdaAuthorizer(mesh.context, fn.function, type="TOKEN")
    async with mesh:
        refused = await auth.authorize(rest_request(headers=token("Unauthorized")))
        with caplog.at_level(logging.ERROR, logger="eventmesh.gateway.authorizers"):
            failed = await auth.authorize(rest_request(headers=token("secret-token-9")))
    assert "the function failed (Exception)" in caplog.text
    assert "secret-token-9" not in caplog.text
    assert refused.refusal is not None
    assert (refused.refusal.status, body(refused.refusal)) == (401, {"message": "Unauthorized"})
    assert failed.refusal is not None
    assert (failed.refusal.status, body(failed.refusal)) == (500, {"message": None})
    assert header(failed.refusal, "x-amzn-ErrorType") == "AuthorizerConfigurationException"


@pytest.mark.parametrize(
    "answer",
    [
        "Allow",
        None,
        {"principalId": "u"},
        {"principalId": "u", "policyDocument": "Allow"},
        {"principalId": "u", "policyDocument": {"Statement": "Allow"}},
        {"principalId": "u", "policyDocument": policy("Maybe", "*")},
        {"principalId": "u", "policyDocument": policy("Allow", 42)},  # type: ignore[arg-type]
        {"principalId": "u", "policyDocument": policy("Allow", [])},
        {"principalId": {"id": 1}, "policyDocument": policy("Allow", "*")},
        {
            "principalId": "u",
            "policyDocument": policy("Allow", "*"),
            "context": {"nested": {"a": 1}},
        },
        {"principalId": "u", "policyDocument": policy("Allow", "*"), "context": {"list": [1]}},
        {"principalId": "u", "policyDocument": policy("Allow", "*"), "context": ["a"]},
        {"principalId": "u", "policyDocument": policy("Allow", "*"), "usageIdentifierKey": 5},
    ],
)
async def test_a_malformed_answer_is_500_and_is_not_cached(
    mesh: Mesh, answer: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fn = Authz(mesh, lambda event: answer)
    auth = LambdaAuthorizer(mesh.context, fn.function, type="TOKEN")
    async with mesh:
        with caplog.at_level(logging.ERROR, logger="eventmesh.gateway.authorizers"):
            for _ in range(2):
                refused = await auth.authorize(rest_request(headers=token("secret-token")))
                assert refused.refusal is not None
                assert (refused.refusal.status, body(refused.refusal)) == (500, {"message": None})
    assert fn.calls == 2
    assert "shape API Gateway rejects" in caplog.text
    assert "secret-token" not in caplog.text


async def test_a_throttled_or_unknown_authorizer_function_is_500(mesh: Mesh) -> None:
    fn = Authz(mesh, allow_all, reserved_concurrency=0)
    throttled = LambdaAuthorizer(mesh.context, fn.function, type="TOKEN")
    unknown = LambdaAuthorizer(mesh.context, "no-such-function", type="TOKEN")
    async with mesh:
        for auth in (throttled, unknown):
            answer = await auth.authorize(rest_request(headers=token("t")))
            assert answer.refusal is not None and answer.refusal.status == 500


async def test_the_usage_identifier_key_is_handed_to_the_gateway(mesh: Mesh) -> None:
    fn = Authz(
        mesh,
        lambda event: {**allow_all(event), "usageIdentifierKey": "key-of-a-usage-plan"},
    )
    auth = LambdaAuthorizer(mesh.context, fn.function, type="TOKEN")
    async with mesh:
        answer = await auth.authorize(rest_request(headers=token("t")))
        cached = await auth.authorize(rest_request(headers=token("t")))
    assert answer.usage_identifier_key == "key-of-a-usage-plan"
    assert cached.usage_identifier_key == "key-of-a-usage-plan"
    assert answer.context is not None and "usageIdentifierKey" not in answer.context


# -- caching ---------------------------------------------------------------------------------


async def test_results_are_cached_by_identity_for_the_ttl(mesh: Mesh, clock: VirtualClock) -> None:
    fn = Authz(mesh, allow_all)
    auth = LambdaAuthorizer(mesh.context, fn.function, type="TOKEN", ttl=60)
    alice, bob = rest_request(headers=token("alice")), rest_request(headers=token("bob"))
    async with mesh:
        first = await auth.authorize(alice)
        again = await auth.authorize(alice)
        assert fn.calls == 1
        assert first.context is not None and again.context is not None
        assert again.context["integrationLatency"] == 0
        assert again.context["principalId"] == "user-1"
        assert (await auth.authorize(bob)).allowed
        assert fn.calls == 2
        await clock.advance(59)
        await auth.authorize(alice)
        assert fn.calls == 2
        await clock.advance(1)
        await auth.authorize(alice)
        assert fn.calls == 3


async def test_the_default_ttl_is_300_seconds(mesh: Mesh, clock: VirtualClock) -> None:
    fn = Authz(mesh, allow_all)
    auth = LambdaAuthorizer(mesh.context, fn.function, type="TOKEN")
    async with mesh:
        await auth.authorize(rest_request(headers=token("t")))
        await clock.advance(299)
        await auth.authorize(rest_request(headers=token("t")))
        assert fn.calls == 1
        await clock.advance(1)
        await auth.authorize(rest_request(headers=token("t")))
        assert fn.calls == 2


async def test_a_ttl_of_zero_calls_the_authorizer_every_time(mesh: Mesh) -> None:
    fn = Authz(mesh, allow_all)
    auth = LambdaAuthorizer(mesh.context, fn.function, type="TOKEN", ttl=0)
    async with mesh:
        for _ in range(3):
            assert (await auth.authorize(rest_request(headers=token("t")))).allowed
    assert fn.calls == 3


async def test_a_cached_policy_is_evaluated_against_each_method(mesh: Mesh) -> None:
    fn = Authz(mesh, allow_all)  # allows the exact method ARN it was called for
    auth = LambdaAuthorizer(mesh.context, fn.function, type="TOKEN")
    async with mesh:
        assert (await auth.authorize(rest_request("GET", headers=token("t")))).allowed
        other = await auth.authorize(rest_request("DELETE", headers=token("t")))
    assert fn.calls == 1
    assert other.refusal is not None
    assert body(other.refusal) == {"Message": "User is not authorized to access this resource"}


async def test_a_cached_deny_stays_a_deny(mesh: Mesh) -> None:
    fn = Authz(mesh, lambda event: {"principalId": "u", "policyDocument": policy("Deny", "*")})
    auth = LambdaAuthorizer(mesh.context, fn.function, type="TOKEN")
    async with mesh:
        for _ in range(2):
            answer = await auth.authorize(rest_request(headers=token("t")))
            assert answer.refusal is not None and answer.refusal.status == 403
    assert fn.calls == 1


async def test_the_cache_is_per_api_and_stage(mesh: Mesh) -> None:
    fn = Authz(mesh, lambda event: {"principalId": "u", "policyDocument": policy("Allow", "*")})
    auth = LambdaAuthorizer(mesh.context, fn.function, type="TOKEN")
    async with mesh:
        await auth.authorize(rest_request(headers=token("t")))
        await auth.authorize(rest_request(headers=token("t"), stage="beta"))
        await auth.authorize(rest_request(headers=token("t"), api_id="restapi002"))
    assert fn.calls == 3


# -- REST, REQUEST ---------------------------------------------------------------------------


async def test_a_request_authorizer_gets_the_request_parts_without_the_body(mesh: Mesh) -> None:
    fn = Authz(mesh, allow_all)
    auth = LambdaAuthorizer(
        mesh.context,
        fn.function,
        identity_sources=[
            "method.request.header.HeaderAuth1",
            "method.request.querystring.QueryString1",
        ],
    )
    request = rest_request(
        headers=[("HeaderAuth1", "headerValue1")],
        query="QueryString1=queryValue1",
        stage_variables={"StageVar1": "stageValue1"},
    )
    answer = await authorize(mesh, auth, request)
    assert answer.allowed
    [event] = fn.events
    expected = {
        key: value for key, value in request.event.items() if key not in ("body", "isBase64Encoded")
    }
    assert event == {"type": "REQUEST", "methodArn": REST_ARN, **expected}
    assert event["headers"] == {"HeaderAuth1": "headerValue1"}
    assert event["queryStringParameters"] == {"QueryString1": "queryValue1"}
    assert event["stageVariables"] == {"StageVar1": "stageValue1"}
    assert "authorizer" not in event["requestContext"]


async def test_every_identity_source_must_be_present(mesh: Mesh) -> None:
    fn = Authz(mesh, allow_all)
    auth = LambdaAuthorizer(
        mesh.context,
        fn.function,
        identity_sources="method.request.header.H, method.request.querystring.q",
    )
    async with mesh:
        for request in (
            rest_request(headers=[("H", "v")]),
            rest_request(query="q=1"),
            rest_request(headers=[("H", "v")], query="q="),
        ):
            answer = await auth.authorize(request)
            assert answer.refusal is not None
            assert (answer.refusal.status, body(answer.refusal)) == (
                401,
                {"message": "Unauthorized"},
            )
        assert fn.calls == 0
        assert (await auth.authorize(rest_request(headers=[("H", "v")], query="q=1"))).allowed
        assert (await auth.authorize(rest_request(headers=[("H", "v")], query="q=1"))).allowed
        assert fn.calls == 1
        assert (await auth.authorize(rest_request(headers=[("H", "v")], query="q=2"))).allowed
        assert fn.calls == 2


async def test_stage_variables_and_context_can_be_identity_sources(mesh: Mesh) -> None:
    fn = Authz(mesh, allow_all)
    auth = LambdaAuthorizer(
        mesh.context,
        fn.function,
        identity_sources=["stageVariables.tenant", "context.identity.sourceIp"],
    )
    async with mesh:
        assert not (await auth.authorize(rest_request())).allowed
        assert (await auth.authorize(rest_request(stage_variables={"tenant": "acme"}))).allowed


async def test_a_request_authorizer_without_caching_needs_no_identity_source(mesh: Mesh) -> None:
    fn = Authz(mesh, allow_all)
    auth = LambdaAuthorizer(mesh.context, fn.function, identity_sources=[], ttl=0)
    async with mesh:
        assert (await auth.authorize(rest_request())).allowed
        assert (await auth.authorize(rest_request())).allowed
    assert fn.calls == 2


# -- HTTP APIs, payload 2.0 ------------------------------------------------------------------


async def test_an_http_api_authorizer_gets_the_2_0_event(mesh: Mesh) -> None:
    fn = Authz(mesh, lambda event: {"isAuthorized": True})
    auth = LambdaAuthorizer(
        mesh.context,
        fn.function,
        identity_sources=["$request.header.Authorization", "$request.querystring.id"],
        simple_responses=True,
    )
    request = http_request(
        headers=[("Authorization", "user1"), ("Header2", "value2")],
        query="id=123&parameter1=value1&parameter1=value2",
        stage_variables={"stageVariable1": "value1"},
    )
    assert (await authorize(mesh, auth, request)).allowed
    [event] = fn.events
    assert event == {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": HTTP_ARN,
        "identitySource": ["user1", "123"],
        "routeKey": "GET /orders/{id}",
        "rawPath": "/orders/1",
        "rawQueryString": "id=123&parameter1=value1&parameter1=value2",
        "headers": {"authorization": "user1", "header2": "value2"},
        "queryStringParameters": {"id": "123", "parameter1": "value1,value2"},
        "requestContext": request.event["requestContext"],
        "pathParameters": {"id": "1"},
        "stageVariables": {"stageVariable1": "value1"},
    }


async def test_a_simple_response_allows_with_its_context_under_lambda(mesh: Mesh) -> None:
    context = {
        "stringKey": "value",
        "numberKey": 1,
        "booleanKey": True,
        "arrayKey": ["value1", "value2"],
        "mapKey": {"value1": "value2"},
    }
    fn = Authz(mesh, lambda event: {"isAuthorized": True, "context": context})
    auth = LambdaAuthorizer(mesh.context, fn.function, simple_responses=True)
    answer = await authorize(mesh, auth, http_request(headers=token("secretToken")))
    assert answer.allowed
    assert answer.context == {"lambda": context}


async def test_a_simple_refusal_is_403_forbidden_and_cached(
    mesh: Mesh, clock: VirtualClock
) -> None:
    fn = Authz(mesh, lambda event: {"isAuthorized": False, "context": {"why": "no"}})
    auth = LambdaAuthorizer(mesh.context, fn.function, simple_responses=True)
    async with mesh:
        for _ in range(2):
            answer = await auth.authorize(http_request(headers=token("t")))
            assert answer.refusal is not None
            assert (answer.refusal.status, body(answer.refusal)) == (403, {"message": "Forbidden"})
        assert fn.calls == 1
        await clock.advance(300)
        await auth.authorize(http_request(headers=token("t")))
        assert fn.calls == 2


async def test_a_simple_decision_covers_every_route_unless_the_route_key_is_a_source(
    mesh: Mesh,
) -> None:
    fn = Authz(mesh, lambda event: {"isAuthorized": True})
    shared = LambdaAuthorizer(mesh.context, fn.function, simple_responses=True)
    per_route = LambdaAuthorizer(
        mesh.context,
        fn.function,
        simple_responses=True,
        identity_sources=["$request.header.Authorization", "$context.routeKey"],
    )
    orders = http_request(headers=token("t"))
    users = http_request(path="/users/1", route_key="GET /users/{id}", headers=token("t"))
    async with mesh:
        for auth in (shared, per_route):
            await auth.authorize(orders)
            await auth.authorize(users)
    assert fn.calls == 1 + 2
    assert fn.events[-1]["identitySource"] == ["t", "GET /users/{id}"]


async def test_an_http_api_policy_response_allows_or_is_403_forbidden(mesh: Mesh) -> None:
    fn = Authz(
        mesh,
        lambda event: {
            "principalId": "abcdef",
            "policyDocument": policy(
                "Allow" if event["identitySource"] == ["good"] else "Deny", event["routeArn"]
            ),
            "context": {"exampleKey": "exampleValue", "numberKey": 1},
        },
    )
    auth = LambdaAuthorizer(mesh.context, fn.function)
    async with mesh:
        allowed = await auth.authorize(http_request(headers=token("good")))
        denied = await auth.authorize(http_request(headers=token("bad")))
    assert allowed.context == {"lambda": {"exampleKey": "exampleValue", "numberKey": 1}}
    assert denied.refusal is not None
    assert (denied.refusal.status, body(denied.refusal)) == (403, {"message": "Forbidden"})


async def test_a_missing_identity_on_an_http_api_is_401_without_a_call(mesh: Mesh) -> None:
    fn = Authz(mesh, lambda event: {"isAuthorized": True})
    auth = LambdaAuthorizer(mesh.context, fn.function, simple_responses=True)
    answer = await authorize(mesh, auth, http_request())
    assert answer.refusal is not None
    assert (answer.refusal.status, body(answer.refusal)) == (401, {"message": "Unauthorized"})
    assert header(answer.refusal, "x-amzn-ErrorType") is None
    assert fn.calls == 0


@pytest.mark.parametrize(
    "answer",
    [{"isAuthorized": "true"}, {"isAuthorized": True, "context": "x"}, {}, [True]],
)
async def test_a_malformed_simple_response_is_500_internal_server_error(
    mesh: Mesh, answer: Any
) -> None:
    fn = Authz(mesh, lambda event: answer)
    auth = LambdaAuthorizer(mesh.context, fn.function, simple_responses=True)
    refused = await authorize(mesh, auth, http_request(headers=token("t")))
    assert refused.refusal is not None
    assert (refused.refusal.status, body(refused.refusal)) == (
        500,
        {"message": "Internal Server Error"},
    )


async def test_an_http_api_authorizer_failure_is_500_whatever_its_message(mesh: Mesh) -> None:
    def fail(event: dict[str, Any]) -> Any:
        raise Exception("Unauthorized")

    fn = Authz(mesh, fail)
    auth = LambdaAuthorizer(mesh.context, fn.function, simple_responses=True)
    refused = await authorize(mesh, auth, http_request(headers=token("t")))
    assert refused.refusal is not None
    assert (refused.refusal.status, body(refused.refusal)) == (
        500,
        {"message": "Internal Server Error"},
    )


# -- HTTP APIs, payload 1.0 ------------------------------------------------------------------


async def test_an_http_api_1_0_authorizer_gets_the_1_0_event(mesh: Mesh) -> None:
    fn = Authz(mesh, allow_all)
    auth = LambdaAuthorizer(
        mesh.context,
        fn.function,
        identity_sources=["$request.header.Authorization", "$request.querystring.id"],
    )
    request = http_request(headers=token("user1"), query="id=123", version="1.0")
    answer = await authorize(mesh, auth, request)
    assert answer.allowed
    assert answer.context == {"lambda": {"stringKey": "value", "numberKey": 1, "booleanKey": True}}
    [event] = fn.events
    expected = {
        key: value
        for key, value in request.event.items()
        if key not in ("version", "body", "isBase64Encoded")
    }
    assert event == {
        "version": "1.0",
        "type": "REQUEST",
        "methodArn": HTTP_ARN,
        "identitySource": "user1,123",
        "authorizationToken": "user1,123",
        **expected,
    }


async def test_simple_responses_on_a_1_0_route_are_500(mesh: Mesh) -> None:
    fn = Authz(mesh, lambda event: {"isAuthorized": True})
    auth = LambdaAuthorizer(mesh.context, fn.function, simple_responses=True)
    answer = await authorize(mesh, auth, http_request(headers=token("t"), version="1.0"))
    assert answer.refusal is not None and answer.refusal.status == 500
    assert fn.calls == 0


async def test_a_token_authorizer_on_an_http_api_is_500(mesh: Mesh) -> None:
    fn = Authz(mesh, allow_all)
    auth = LambdaAuthorizer(mesh.context, fn.function, type="TOKEN")
    answer = await authorize(mesh, auth, http_request(headers=token("t")))
    assert answer.refusal is not None and answer.refusal.status == 500


# -- declaration errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [
        {"type": "COGNITO"},
        {"type": "TOKEN", "identity_sources": ["$request.header.A", "$request.header.B"]},
        {"type": "TOKEN", "identity_sources": "$request.querystring.token"},
        {"ttl": 3601},
        {"ttl": -1},
        {"ttl": True},
        {"ttl": float("nan")},
        {"identity_sources": []},
        {"identity_sources": 5},
        {"identity_sources": [5]},
        {"type": "TOKEN", "token_validation": 5},
        {"identity_sources": ["Authorization"]},
        {"token_validation": ".*"},
        {"type": "TOKEN", "token_validation": "("},
        {"type": "TOKEN", "simple_responses": True},
    ],
)
def test_bad_declarations_fail_at_the_call(mesh: Mesh, settings: dict[str, Any]) -> None:
    fn = Authz(mesh, allow_all)
    with pytest.raises(ConfigurationError):
        LambdaAuthorizer(mesh.context, fn.function, **settings)


# -- the result cache under a flood ------------------------------------------------------------


def test_the_result_cache_keeps_at_most_its_bound_dropping_the_oldest(clock: VirtualClock) -> None:
    from eventmesh.gateway.authorizers._cache import MAX_ENTRIES, ResultCache

    assert MAX_ENTRIES == 10_000
    cache: ResultCache[int] = ResultCache(clock, 300, max_entries=3)
    for n in range(5):
        cache.put(f"token-{n}", n)
    assert len(cache) == 3
    assert [cache.get(f"token-{n}") for n in range(5)] == [None, None, 2, 3, 4]
    cache.put("token-2", 20)  # put again: the newest now
    cache.put("token-5", 5)
    assert [cache.get(f"token-{n}") for n in (2, 3, 4, 5)] == [20, None, 4, 5]
    default: ResultCache[int] = ResultCache(clock, 300)
    for n in range(MAX_ENTRIES + 50):
        default.put(n, n)
    assert len(default) == MAX_ENTRIES
    assert default.get(49) is None and default.get(50) == 50


async def test_cached_results_do_not_keep_the_callers_tokens(mesh: Mesh) -> None:
    """Each cached result costs a bounded few hundred bytes whatever the token's size (10,000
    results of 16 KB tokens would otherwise hold 160 MB), and no token stays in memory."""
    import gc
    import tracemalloc

    async def allow(event: dict[str, Any], context: Context) -> Any:
        return {"principalId": "u", "policyDocument": policy("Allow", "*")}

    function = mesh.function(allow)
    auth = LambdaAuthorizer(mesh.context, function, type="TOKEN")
    async with mesh:
        await auth.authorize(rest_request(headers=token("warm-up")))
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for n in range(200):
                big = f"{n:04d}" + "x" * 16_000
                assert (await auth.authorize(rest_request(headers=token(big)))).allowed
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    assert len(auth.cache) == 201
    assert grown < 200 * 16_000 / 4, grown


async def test_http_api_context_variables_are_identity_sources_on_payload_2_0(mesh: Mesh) -> None:
    """``$context.identity.sourceIp``, ``$context.httpMethod``, ``$context.path``,
    ``$context.protocol`` and ``$context.identity.userAgent`` are HTTP API context variables
    whatever the payload version; in a 2.0 event their values sit under
    ``requestContext.http``, and they must not count as missing (a 401 for everyone)."""
    fn = Authz(mesh, lambda event: {"isAuthorized": True})
    auth = LambdaAuthorizer(
        mesh.context,
        fn.function,
        simple_responses=True,
        identity_sources=[
            "$context.identity.sourceIp",
            "$context.httpMethod",
            "$context.path",
            "$context.protocol",
            "$context.identity.userAgent",
            "$context.routeKey",
        ],
    )
    assert (await authorize(mesh, auth, http_request())).allowed
    assert fn.events[0]["identitySource"] == [
        "127.0.0.1",
        "GET",
        "/orders/1",
        "HTTP/1.1",
        "test",
        "GET /orders/{id}",
    ]


@pytest.mark.parametrize(
    ("statements", "allowed"),
    [
        ([("Allow", {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})], False),
        ([("Allow", None), ("Deny", {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})], False),
        ([("Allow", None), ("Allow", {"Bool": {"aws:SecureTransport": "true"}})], True),
    ],
)
async def test_statements_with_conditions_fail_closed(
    mesh: Mesh, statements: list[tuple[str, Any]], allowed: bool
) -> None:
    """The mesh does not evaluate IAM conditions: an Allow that holds only under a condition
    never allows, a Deny under a condition always denies (never more access than the policy
    could grant)."""
    document = {
        "Statement": [
            {
                "Action": "execute-api:Invoke",
                "Effect": effect,
                "Resource": "*",
                **({"Condition": condition} if condition is not None else {}),
            }
            for effect, condition in statements
        ]
    }
    fn = Authz(mesh, lambda event: {"principalId": "u", "policyDocument": document})
    auth = LambdaAuthorizer(mesh.context, fn.function, type="TOKEN")
    answer = await authorize(mesh, auth, rest_request(headers=token("t")))
    assert answer.allowed is allowed


@settings(max_examples=400, deadline=None)
@given(
    pattern=st.text(alphabet="ab/*?.", min_size=1, max_size=8),
    arn=st.text(alphabet="ab/.", max_size=10),
)
def test_policy_wildcards_agree_with_iam_semantics(pattern: str, arn: str) -> None:
    """IAM's ``*`` (any run, ``/`` included, possibly empty) and ``?`` (exactly one
    character), everything else literal, over the whole ARN: checked against a reference
    built from a regular expression on short strings."""
    import re

    from eventmesh.gateway.authorizers._policy import ALLOW, Policy

    reference = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    expected = re.fullmatch(reference, arn, re.DOTALL) is not None
    document = {"Statement": {"Effect": "Allow", "Action": "execute-api:*", "Resource": pattern}}
    assert (Policy.parse(document).evaluate(arn) == ALLOW) is expected
