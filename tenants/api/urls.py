from django.urls import path

from . import views

urlpatterns = [
    path("auth/login", views.LoginApi.as_view(), name="auth-login"),
    path("auth/logout", views.LogoutApi.as_view(), name="auth-logout"),
    path("me", views.MeApi.as_view(), name="me"),
    path("tenants", views.TenantListApi.as_view(), name="tenant-list"),
    path("tenants/<str:tenant_id>/fair-share", views.TenantFairShareApi.as_view(), name="tenant-fair-share"),
    path("users", views.UserListApi.as_view(), name="user-list"),
    path("users/<int:user_id>", views.UserDetailApi.as_view(), name="user-detail"),
]
