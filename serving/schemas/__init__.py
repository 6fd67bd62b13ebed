"""Pydantic request and response models of the HTTP API, with the examples the OpenAPI document shows."""
