"""The HTTP API of custodata (FastAPI): a thin translation of HTTP to the service layer.

``create_app(services)`` builds the application; ``custodata serve`` runs it
with the web console.  The spec is published at ``/api/openapi.json``.
"""

from custodata.api.app import create_app

__all__ = ["create_app"]
