"""What ``eventmesh run`` says runs: functions, APIs with their URLs and routes, function URLs,
the AWS endpoint."""

from __future__ import annotations

from typing import Any

from eventmesh import Context, Mesh
from eventmesh.cli._app import LoadedApp
from eventmesh.cli._summary import summary


def test_apis_function_urls_and_the_endpoint_with_their_urls() -> None:
    mesh = Mesh()

    @mesh.function(url=True)
    async def hook(event: Any, context: Context) -> None: ...

    shop = mesh.http_api("shop")
    shop.route("GET /orders/{id}", hook)
    shop.route("POST /orders", hook)
    admin = mesh.rest_api("admin", base_path="admin")
    admin.route("GET /reports", "hook")
    lines = summary(LoadedApp("app:mesh", mesh), "http://127.0.0.1:8000", "http://127.0.0.1:4566")
    assert lines == [
        "function hook (in process)",
        "HTTP API shop at http://127.0.0.1:8000: GET /orders/{id}, POST /orders",
        "REST API admin at http://127.0.0.1:8000/admin: GET /reports",
        "function URL of hook at http://127.0.0.1:8000/_lambda-url/hook/",
        "HTTP front at http://127.0.0.1:8000 (health checks at http://127.0.0.1:8000/health)",
        "AWS endpoint at http://127.0.0.1:4566 (AWS_ENDPOINT_URL=http://127.0.0.1:4566)",
    ]


def test_without_http_the_apis_say_how_to_serve_them() -> None:
    mesh = Mesh()

    @mesh.function
    async def hook(event: Any, context: Context) -> None: ...

    mesh.http_api("shop").route("GET /", hook)
    assert summary(LoadedApp("app:mesh", mesh), None, None) == [
        "function hook (in process)",
        "HTTP API shop (served with --http): GET /",
    ]


def test_an_output_holding_a_no_echo_parameter_is_shown_masked() -> None:
    """The outputs are logged at start: a NoEcho value in one (an Fn::Sub of a password into a
    URL) is masked in the log line; the application's outputs keep the value."""
    from eventmesh.sam import build_application

    template = {
        "Parameters": {"Password": {"Type": "String", "NoEcho": True}},
        "Resources": {"Q": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {"Url": {"Value": {"Fn::Sub": "postgres://app:${Password}@db/orders"}}},
    }
    mesh = Mesh()
    app = build_application(template, mesh=mesh, parameters={"Password": "hunter2"})
    assert app.outputs == {"Url": "postgres://app:hunter2@db/orders"}
    lines = summary(LoadedApp("template.yaml", mesh, application=app), None, None)
    assert lines[-1] == "output Url: postgres://app:****@db/orders"
    assert "hunter2" not in "\n".join(lines)
