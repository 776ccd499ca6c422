"""The REST API (DRF): the seed's endpoints on workflows and executions, and the rest.

Views here are thin: they read a request, call the model or service function that owns
the rule, and say what happened. `urls.py` lists every path.
"""
