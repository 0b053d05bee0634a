"""Route keys and matching: API Gateway's syntax, HTTP APIs' precedence (the reference's
§1.7 worked example) and REST APIs' resource tree."""

from __future__ import annotations

import pytest

from eventmesh import ConfigurationError
from eventmesh.gateway.routes import RouteTable, parse_route_key


def _table(*keys: str, rest: bool = False) -> RouteTable[str]:
    table: RouteTable[str] = RouteTable(rest=rest)
    for key in keys:
        table.add(parse_route_key(key, allow_default=not rest), key)
    return table


def _route(table: RouteTable[str], method: str, path: str) -> str | None:
    match = table.find(method, path)
    return match.value if match else None


def test_the_worked_example_of_http_api_routing() -> None:
    table = _table(
        "GET /pets/dog/1", "GET /pets/dog/{id}", "GET /pets/{proxy+}", "ANY /{proxy+}", "$default"
    )
    assert _route(table, "GET", "/pets/dog/2") == "GET /pets/dog/{id}"
    assert _route(table, "GET", "/pets/cat/1") == "GET /pets/{proxy+}"
    assert _route(table, "POST", "/test/5") == "ANY /{proxy+}"
    assert _route(table, "GET", "/pets/dog/1") == "GET /pets/dog/1"
    assert _route(table, "GET", "/") == "$default"  # a greedy variable takes one segment or more


def test_a_method_of_its_own_wins_over_any_on_the_same_path() -> None:
    table = _table("ANY /items", "GET /items")
    assert _route(table, "GET", "/items") == "GET /items"
    assert _route(table, "DELETE", "/items") == "ANY /items"


def test_a_more_specific_path_wins_over_a_method_match_on_a_greedy_path() -> None:
    table = _table("ANY /items/{id}", "GET /{proxy+}")
    assert _route(table, "GET", "/items/3") == "ANY /items/{id}"


def test_nothing_matching_and_no_default_is_no_route() -> None:
    table = _table("GET /a")
    assert _route(table, "GET", "/b") is None
    assert _route(table, "POST", "/a") is None


def test_path_parameters_are_url_decoded_within_their_segment() -> None:
    table = _table("GET /files/{name}", "GET /all/{path+}")
    match = table.find("GET", "/files/a%2Fb%20c")
    assert match is not None and match.parameters == {"name": "a/b c"}
    greedy = table.find("GET", "/all/x/y%3Dz")
    assert greedy is not None and greedy.parameters == {"path": "x/y=z"}


def test_a_trailing_slash_matches_the_same_route() -> None:
    assert _route(_table("GET /a/b"), "GET", "/a/b/") == "GET /a/b"


def test_rest_picks_the_resource_then_its_method() -> None:
    table = _table("GET /pets", "ANY /{proxy+}", rest=True)
    assert _route(table, "GET", "/pets") == "GET /pets"
    # /pets is the most specific resource and has no POST: REST does not fall back
    assert _route(table, "POST", "/pets") is None
    assert _route(table, "POST", "/toys") == "ANY /{proxy+}"


def test_rest_has_one_variable_child_per_resource() -> None:
    table = _table("GET /pets/{id}", rest=True)
    with pytest.raises(ConfigurationError, match="only one is allowed"):
        table.add(parse_route_key("GET /pets/{name}"), "x")
    table.add(parse_route_key("POST /pets/{id}"), "same variable is fine")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("GET /{proxy+}/more", "must be the last segment"),
        ("GET orders", "starts with '/'"),
        ("FETCH /orders", "is not one of"),
        ("GET  /orders", "METHOD /path"),
        ("GET", "METHOD /path"),
        ("GET /a//b", "empty path segment"),
        ("GET /a/", "does not end with '/'"),
        ("GET /a/{id", "bad path segment"),
        ("GET /a/x{id}", "bad path segment"),
        ("GET /{id}/{id}", "appears twice"),
        ("get /a", "is not one of"),
    ],
)
def test_bad_route_keys_are_refused_saying_why(key: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_route_key(key)


def test_rest_apis_have_no_default_route() -> None:
    with pytest.raises(ConfigurationError, match=r"\$default"):
        parse_route_key("$default", allow_default=False)


def test_a_route_key_defined_twice_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="already defined"):
        _table("GET /a", "GET /a")
