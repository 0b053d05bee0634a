"""API Gateway in front of the mesh: REST APIs (payload 1.0), HTTP APIs (payload 2.0, or 1.0
when asked) and function URLs, with AWS's events, routing, response rules, errors and
authorizers. Everything here works on :class:`~eventmesh._http_messages.HttpRequest` and
:class:`~eventmesh._http_messages.HttpResponse`; serving them over HTTP (ASGI, uvicorn) is the
face's job (:mod:`eventmesh.http`).
"""
