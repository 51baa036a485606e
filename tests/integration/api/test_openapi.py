"""The OpenAPI document describes the gateway."""

from __future__ import annotations

import httpx


async def test_the_openapi_document_lists_the_endpoints_and_bearer_auth(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/schema/openapi.json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "vigil"
    assert {"/api/v1/workspaces", "/api/v1/workspaces/{workspace_id}", "/api/v1/events"} <= set(
        schema["paths"]
    )
    assert "post" in schema["paths"]["/api/v1/workspaces"]
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
