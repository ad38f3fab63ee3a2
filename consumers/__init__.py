"""The national views built from the bus topics (see docs/views.md).

documents.py  dossiers.py  reports.py  scoreboard.py   one module per view
viewset.py    the views with their store: the consumer runner's sink, and the read side
store/        the store interface (view writes + offsets in one transaction) and the SQLite backend
api.py        ``lgsp views serve``: the JSON API, the national page (``page/``), /metrics
service.py    ``lgsp views run``: the view builder process
"""
