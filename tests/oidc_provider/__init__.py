"""A small OpenID Connect provider (django-oidc-provider) that the sign-in tests start as a real server process."""
