"""The website HTTP API and Open311 GeoReport v2 (docs/api.md): plain modules, no threads.

``app`` builds the ASGI application; ``auth`` (keys, scopes, rate limits),
``complaints`` (web complaints into the pipeline), ``views`` (tickets as JSON,
Open311), ``sync`` (the change sequence and cursor) and ``cli`` are used by it
and by the ``laporgub api-key`` / ``webhooks`` commands. The ApiServer actor
(``laporgub/actors/api_server.py``) serves the application.
"""
