"""The web studio: the job table and worker (``jobs``), the HTTP API (``server``) and the
page (``static/``)."""
