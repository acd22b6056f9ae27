"""How the OpenAPI schema documents the API's token authentication (`Authorization: Token <token>`)."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.auth.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Token")  # noqa: S106 (a scheme name)
