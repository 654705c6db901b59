"""Claims of the test provider: the standard profile and e-mail claims, and a "groups" claim."""

from oidc_provider.lib.claims import ScopeClaims


def userinfo(claims, user):
    """Fill the standard claims from the provider's own account (OIDC_USERINFO)."""
    claims["preferred_username"] = user.username
    claims["name"] = user.get_full_name()
    claims["given_name"] = user.first_name
    claims["family_name"] = user.last_name
    claims["email"] = user.email
    claims["email_verified"] = True
    return claims


class GroupsScopeClaims(ScopeClaims):
    """Scope "groups": the names of the account's groups, as a directory-backed provider sends them."""

    info_groups = ("Groups", "The groups you belong to.")

    def scope_groups(self):
        return {"groups": sorted(self.user.groups.values_list("name", flat=True))}
