"""Marshmallow request schemas (requests.py) and response presenters (responses.py)."""
