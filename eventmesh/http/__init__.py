"""The HTTP front (the face): serves the gateway (:mod:`eventmesh.gateway`) over ASGI."""
