"""Per-tenant S3 prefixes: which URIs a tenant may use as source or target."""

import pytest

from dicompress_api.tenancy import TenantRules
from dicompress_infra.s3 import S3Uri

RULES = TenantRules(
    per_tenant={"clinic-a": ["s3://dicompress-data/clinic-a/", "s3://archive/{tenant}/in"]},
    default=["s3://{bucket}/{tenant}/"],
    buckets=["dicompress-data", "scratch"],
)


def refused(tenant: str, uri: str) -> list[str]:
    return [p.rule for p in RULES.problems(tenant, [("s3SourceUri", S3Uri.parse(uri))])]


def test_default_rule_expands_tenant_and_every_allowed_bucket() -> None:
    assert [str(p) for p in RULES.prefixes("acme")] == [
        "s3://dicompress-data/acme/",
        "s3://scratch/acme/",
    ]


@pytest.mark.parametrize(
    ("tenant", "uri"),
    [
        ("acme", "s3://dicompress-data/acme/ct1/"),
        ("acme", "s3://dicompress-data/acme"),
        ("acme", "s3://scratch/acme/x/y"),
        ("clinic-a", "s3://dicompress-data/clinic-a/ct"),
        ("clinic-a", "s3://archive/clinic-a/in/ct"),
    ],
)
def test_uris_under_the_tenants_prefixes_are_allowed(tenant: str, uri: str) -> None:
    assert refused(tenant, uri) == []


@pytest.mark.parametrize(
    ("tenant", "uri", "rule"),
    [
        ("acme", "s3://dicompress-data/globex/ct1", "prefix_not_allowed"),
        ("acme", "s3://dicompress-data/acme-evil/ct1", "prefix_not_allowed"),
        ("acme", "s3://dicompress-data/", "prefix_not_allowed"),
        ("acme", "s3://other/acme/ct1", "prefix_not_allowed"),
        ("acme", "s3://dicompress-data/acme/%2e%2e/globex", "percent_encoded"),
        # A tenant with its own rule does not also get the default one.
        ("clinic-a", "s3://scratch/clinic-a/ct", "prefix_not_allowed"),
        ("clinic-a", "s3://archive/clinic-a/input", "prefix_not_allowed"),
    ],
)
def test_uris_outside_are_refused_with_the_rule(tenant: str, uri: str, rule: str) -> None:
    assert refused(tenant, uri) == [rule]
