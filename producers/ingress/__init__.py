"""The HTTP ingress: CloudEvents over HTTP into Kafka, for agency systems that do not speak Kafka.

``create_app(settings)`` builds the FastAPI app; ``serve(settings, host=..., port=...)`` runs it under
uvicorn (``lgsp ingress``).
"""

from producers.ingress.app import create_app, serve

__all__ = ["create_app", "serve"]
