"""Operations admin (staff superusers only). Everyday work happens in the app's own screens."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import AuditEvent, Job, Membership, Project, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = BaseUserAdmin.fieldsets + (("Profile", {"fields": ("display_name",)}),)
    actions = ["deactivate_and_revoke_tokens"]

    @admin.action(description="Deactivate and revoke their API tokens")
    def deactivate_and_revoke_tokens(self, request, queryset):
        from django.contrib import messages
        from django.core.exceptions import PermissionDenied

        from .services.accounts import deactivate_user

        done, revoked, refused = 0, 0, []
        for user in queryset:
            try:
                revoked += deactivate_user(request.user, user)
            except PermissionDenied as exc:  # your own account, or one stronger than yours: per user
                refused.append(f"{user.get_username()}: {exc}")
            else:
                done += 1
        self.message_user(request, f"Deactivated {done} user(s); revoked {revoked} token(s).")
        for line in refused:
            self.message_user(request, f"Not deactivated: {line}", level=messages.WARNING)


class ReadOnlyAdminMixin:
    """Projects and memberships change only through the services (audit trail, last-admin rule): the
    operations admin shows them and changes nothing."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MembershipInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["user", "role", "created_at"]
    readonly_fields = fields


@admin.register(Project)
class ProjectAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["slug", "name", "created_at"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["project", "user", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["project__slug", "user__username"]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "project", "status", "progress_done", "progress_total", "created_at"]
    list_filter = ["status", "kind"]
    readonly_fields = [f.name for f in Job._meta.fields]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor_username", "action", "object_type", "object_repr"]
    list_filter = ["action"]
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False
