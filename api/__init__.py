"""The analysts' service: the scoring API, inspection outcomes, access keys and the analyst's page.

- ``settings``  what a service process reads from its environment;
- ``app``       the FastAPI application (one per worker), errors, health;
- ``limits``    what a request may cost: body bytes counted as they arrive, JSON rows, JSON parsing;
- ``headers``   the security headers on every answer;
- ``mappings``  the mappings an upload may name (bundled and configured), by name only;
- ``openapi``   the schema as served: the parameters' values known when the app is built;
- ``champion``  the served model: registry, local cache, atomic swap, workers following a reload;
- ``access``    API keys with roles, stored hashed in the history store's database;
- ``deps``      the error answer, the caller's role, the model a request is answered with;
- ``scoring``   manifests, JSON declarations and a declaration's evidence;
- ``amendments`` a recorded declaration's versions, and an admin's amendment of it;
- ``evidence``  a declaration's features beside its HS code's norms;
- ``outcomes``  inspection outcomes in and out, the model's description and reload;
- ``schemas``   the documented request and answer shapes;
- ``page/``     the analyst's page (static HTML and JavaScript, no build step).
"""
