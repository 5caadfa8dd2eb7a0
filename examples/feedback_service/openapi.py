"""The OpenAPI 3.0 description served at ``/openapi.json``."""

from __future__ import annotations

from typing import Any

from .schema import feedback_json_schema

FEEDBACK_PATH = "/api/v1/aiops/feedback"


def _error(description: str, schema: str = "Error", headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }
    if headers:
        response["headers"] = headers
    return response


def _header(description: str, type_: str = "integer") -> dict[str, Any]:
    return {"description": description, "schema": {"type": type_}}


_RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": _header("Requests allowed per window."),
    "RateLimit-Remaining": _header("Requests left in the current window."),
    "RateLimit-Reset": _header("Seconds until the window resets."),
}

_AUTH_HEADERS = {"WWW-Authenticate": _header("Bearer challenge (RFC 6750).", "string")}


def openapi_document(*, max_body_bytes: int) -> dict[str, Any]:
    """Build the OpenAPI document; ``max_body_bytes`` is reported for 413s."""
    authenticated_errors = {
        "401": _error("Missing or invalid bearer token.", headers=_AUTH_HEADERS),
        "429": _error(
            "Rate limit exceeded.",
            headers={"Retry-After": _header("Seconds to wait."), **_RATE_LIMIT_HEADERS},
        ),
        "503": _error("Storage unavailable."),
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "AIOps feedback service",
            "version": "1.0.0",
            "description": "Collects operator feedback on anomaly-detector verdicts.",
        },
        "paths": {
            FEEDBACK_PATH: {
                "post": {
                    "operationId": "createFeedback",
                    "summary": "Store one feedback document.",
                    "security": [{"bearerAuth": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/FeedbackRequest"}}
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "Stored.",
                            "headers": {
                                "Location": _header("URL of the stored document.", "string"),
                                **_RATE_LIMIT_HEADERS,
                            },
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/FeedbackCreated"}
                                }
                            },
                        },
                        "400": _error("Malformed JSON or Content-Length."),
                        "411": _error("Content-Length is required."),
                        "413": _error(f"Body larger than {max_body_bytes} bytes."),
                        "415": _error("Content-Type must be application/json."),
                        "422": _error("Schema validation failed.", "ValidationFailed"),
                        **authenticated_errors,
                    },
                }
            },
            FEEDBACK_PATH + "/{id}": {
                "get": {
                    "operationId": "getFeedback",
                    "summary": "Read a stored feedback document.",
                    "security": [{"bearerAuth": []}],
                    "parameters": [
                        {
                            "name": "id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The stored document.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        "404": _error("Unknown or expired id."),
                        **authenticated_errors,
                    },
                }
            },
            "/.well-known/jwks.json": {
                "get": {
                    "summary": "Public keys that verify this service's tokens.",
                    "responses": {"200": {"description": "JWK Set (RFC 7517)."}},
                }
            },
            "/metrics/aiops": {
                "get": {
                    "summary": "Prometheus metrics.",
                    "responses": {"200": {"description": "Prometheus text exposition."}},
                }
            },
            "/healthz": {"get": {"summary": "Liveness.", "responses": {"200": {"description": "Alive."}}}},
            "/readyz": {
                "get": {
                    "summary": "Readiness: Redis answers PING.",
                    "responses": {
                        "200": {"description": "Ready."},
                        "503": {"description": "Redis unavailable."},
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {
                "FeedbackRequest": feedback_json_schema(),
                "FeedbackCreated": {
                    "type": "object",
                    "required": ["id", "status"],
                    "properties": {
                        "id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                        "status": {"type": "string", "enum": ["stored"]},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
                },
                "ValidationFailed": {
                    "type": "object",
                    "required": ["error", "fields"],
                    "properties": {
                        "error": {"type": "string", "enum": ["validation_failed"]},
                        "fields": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["field", "problem"],
                                "properties": {
                                    "field": {"type": "string"},
                                    "problem": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            },
        },
    }
