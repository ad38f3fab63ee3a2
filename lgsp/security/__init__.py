"""Operator tooling for the secure bus: principals and their ACLs (as code), SCRAM users, onboarding.

Not part of the SDK (``bus``): agency developers never administer the cluster.
"""
