"""The website API's routes, one router per surface (docs/api.md).

* :mod:`.complaints`: ``POST /api/v1/complaints`` (web complaints, scope ``submit``);
* :mod:`.tickets`: ``/api/v1/tickets``, ``/api/v1/tickets/{number}`` (incremental sync) and
  ``/api/v1/stats`` (scope ``read``; ``read:personal`` for numbers in clear, audit-logged);
* :mod:`.open311`: Open311 GeoReport v2 under ``/open311/v2``.

Each module's ``router(access)`` builds its ``APIRouter`` from the application's
:class:`laporgub.api.context.Access`; :func:`laporgub.api.app.build_app` includes them in
this order, which is the order of the paths in ``/openapi.json``. A new endpoint goes into
the module of its surface (or a new module included there); its function name is its
OpenAPI operation id, so renaming one changes the published API document.
"""
