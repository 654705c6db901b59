"""Template tags that ask curation.permissions whether to show a link or button: the same rules the views and
services enforce, so a page never offers what the server would refuse."""

from django import template

from curation.permissions import Action, SiteAction, can, site_allowed

register = template.Library()


@register.simple_tag
def project_can(user, action_name: str, project) -> bool:
    """`{% project_can user "members.manage" project as may_manage %}`: an `Action` in `project`."""
    if project is None or not getattr(user, "is_authenticated", False):
        return False
    return can(user, Action(action_name), project)


@register.simple_tag
def site_can(user, action_name: str) -> bool:
    """`{% site_can user "site.create_projects" as may_create %}`: a `SiteAction`."""
    if not getattr(user, "is_authenticated", False):
        return False
    return site_allowed(user, SiteAction(action_name))
