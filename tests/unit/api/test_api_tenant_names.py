"""The API's token check against the shared table of tenant names (tests/tenant_names.py), the
same table the notifier's handshake test runs: a token whose tenant breaks the contract's rule
is a 401, whichever route it is sent to, and nothing is published for it."""

import httpx
import pytest
from api_fakes import SECRET, FakePublisher

from dicompress_api.settings import ApiSettings
from dicompress_infra.auth import issue_token
from tenant_names import ACCEPTED, REFUSED

BODY = {
    "s3SourceUri": "s3://dicompress-data/acme/in/ct1",
    "s3TargetUri": "s3://dicompress-data/acme/out",
}


def bearer(tenant: str, settings: ApiSettings) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SECRET, tenant, settings.jwt_audience)}"}


@pytest.mark.parametrize("name", REFUSED.values(), ids=REFUSED.keys())
async def test_a_token_with_a_refused_tenant_name_is_401(
    name: str, client: httpx.AsyncClient, settings: ApiSettings, publisher: FakePublisher
) -> None:
    headers = bearer(name, settings)
    listed = await client.get("/jobs", headers=headers)
    posted = await client.post("/jobs", json=BODY, headers=headers)
    for response in (listed, posted):
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert publisher.events == []
    # the refusal says the rule, never echoes the name (it may be a NUL or 5,000 characters)
    detail = posted.json()["detail"]
    assert "tenant" in detail
    assert name == "" or name not in detail


@pytest.mark.parametrize("name", ACCEPTED.values(), ids=ACCEPTED.keys())
async def test_a_token_with_an_accepted_tenant_name_is_served(
    name: str, client: httpx.AsyncClient, settings: ApiSettings
) -> None:
    response = await client.get("/jobs", headers=bearer(name, settings))
    assert response.status_code == 200, response.text
