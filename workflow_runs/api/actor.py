from rest_framework.request import Request

from tenants.models import User


def request_user(request: Request) -> User:
    """The authenticated caller (the views' permission classes have already refused anonymous ones)."""
    user = request.user
    assert isinstance(user, User)
    return user
