"""Producers of bus events: the HTTP ingress, the file publisher and the simulators.

They build on ``bus`` (the Publisher, the event models); they never import ``consumers``.
"""
