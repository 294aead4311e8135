"""Where a tenant may read and write: S3 prefixes per tenant, so clinics never touch each other's
data even though they share buckets.

A tenant named in `API_TENANT_PREFIXES` gets exactly the prefixes listed there; any other tenant
gets `API_DEFAULT_TENANT_PREFIXES` (by default `s3://{bucket}/{tenant}/` for each allowed
bucket). A URI is allowed when its bucket is the prefix's and its key, read as a folder, starts
with the prefix's key folder by folder: `s3://b/acme/` allows `s3://b/acme/ct1` but not
`s3://b/acme-evil/`. `S3Uri.parse` already refused '..', '.' and empty segments; a '%' is
refused too, so no percent-encoded escape can reach a client that decodes keys.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from dicompress_api.web.errors import FieldProblem
from dicompress_infra.s3 import S3Uri


@dataclass(frozen=True)
class TenantRules:
    """The configured rules; `prefixes(tenant)` expands them for one tenant."""

    per_tenant: Mapping[str, list[str]]
    default: list[str]
    buckets: Collection[str]

    def prefixes(self, tenant: str) -> list[S3Uri]:
        """The S3 prefixes `tenant` may use, placeholders expanded."""
        templates = self.per_tenant.get(tenant, self.default)
        return [S3Uri.parse(uri) for uri in _expand(templates, tenant, self.buckets)]

    def problems(self, tenant: str, uris: Iterable[tuple[str, S3Uri]]) -> list[FieldProblem]:
        """One problem per (field, uri) that falls outside the tenant's prefixes."""
        allowed = self.prefixes(tenant)
        return [
            FieldProblem(field, rule, detail)
            for field, uri in uris
            for rule, detail in _refusal(uri, allowed)
        ]


def _expand(templates: Iterable[str], tenant: str, buckets: Collection[str]) -> Iterable[str]:
    for template in templates:
        with_tenant = template.replace("{tenant}", tenant)
        if "{bucket}" in with_tenant:
            yield from (with_tenant.replace("{bucket}", bucket) for bucket in sorted(buckets))
        else:
            yield with_tenant


def _refusal(uri: S3Uri, allowed: list[S3Uri]) -> list[tuple[str, str]]:
    if "%" in uri.key:
        return [("percent_encoded", "'%' is not allowed in an S3 key (no encoded escapes)")]
    if any(uri.bucket == p.bucket and uri.prefix.startswith(p.prefix) for p in allowed):
        return []
    shown = ", ".join(str(p) for p in allowed) or "none"
    return [("prefix_not_allowed", f"{uri} is not under a prefix this tenant may use: {shown}")]
