"""The REST API, a third front end beside ``app/cli`` and ``app/ui`` (``python main.py serve``).

It calls the same services as the command line and answers with the same JSON. :mod:`app.server.api` builds
the FastAPI application, :mod:`app.server.guards` holds the request-size, rate and token checks,
:mod:`app.server.tfserving` speaks TensorFlow Serving's REST predict protocol for the embedding model, and
:mod:`app.server.run` starts uvicorn. Nothing here imports Qt.
"""
