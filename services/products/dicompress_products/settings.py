"""The products process manager's settings: the common ones plus its own, from the environment."""

from __future__ import annotations

from pydantic import Field, field_validator

from dicompress_infra.settings import CommonSettings, NameList
from dicompress_schemas.products import DEFAULT_PARAMS, DEFAULT_PRODUCTS, ProductKind


class ProductsSettings(CommonSettings):
    """Environment names are the field names in upper case (PRODUCTS_POLICY, ...)."""

    products_group_id: str = Field(
        default="dicompress-products",
        description="Kafka consumer group of the process manager's instances",
    )
    products_health_host: str = Field(
        default="127.0.0.1", description="Address of the health endpoint (0.0.0.0 in a container)"
    )
    products_health_port: int = Field(
        default=18040, ge=0, le=65535, description="Port of GET /healthz (0: any free port)"
    )
    products_policy: NameList = Field(
        default_factory=lambda: [k.value for k in DEFAULT_PRODUCTS],
        description="Products made on upload for every tenant without its own policy "
        "(preview, thumbnails, snapshot; empty: none)",
    )
    products_tenant_policies: dict[str, list[str]] = Field(
        default_factory=dict,
        description='Per-tenant policies as JSON, e.g. {"clinic-a": ["preview"]}',
    )
    products_projection_wait_s: float = Field(
        default=300.0,
        gt=0,
        description="How long to wait for the progress worker to project a completed ingest "
        "before trying again later",
    )

    @field_validator("products_policy")
    @classmethod
    def _known_kinds(cls, value: list[str]) -> list[str]:
        return _upload_kinds(value)

    @field_validator("products_tenant_policies")
    @classmethod
    def _known_tenant_kinds(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        return {t: _upload_kinds(kinds) for t, kinds in value.items()}

    def policy(self, tenant: str) -> tuple[ProductKind, ...]:
        """What is made on upload for `tenant`."""
        kinds = self.products_tenant_policies.get(tenant, self.products_policy)
        return tuple(ProductKind(k) for k in kinds)


def _upload_kinds(names: list[str]) -> list[str]:
    """Products that can be made on upload (a Mini CT needs a region: only a user asks)."""
    kinds = [ProductKind(name) for name in names]
    other = [k.value for k in kinds if k not in DEFAULT_PARAMS]
    if other:
        raise ValueError(f"{other} cannot be made on upload; choose among {DEFAULT_PRODUCTS}")
    return [k.value for k in kinds]
