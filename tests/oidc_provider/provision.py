"""Provision the test OpenID Connect provider's SQLite database (OIDC_PROVIDER_DB).

    python -m tests.oidc_provider.provision setup --client-id ID --client-secret S --redirect-uri URI \
        --user alice:password:chest-readers,other-group [--user ...]
    python -m tests.oidc_provider.provision groups alice [group ...]

`setup` migrates the database, makes an RSA signing key, registers a confidential client for the
authorization-code flow that skips consent, and creates the users with their groups. `groups` sets one
user's groups (none when no group is named): what a directory change looks like to the provider.
"""

import argparse
import io
import os
import sys

import django


def _setup(args) -> None:
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from oidc_provider.models import Client, ResponseType

    call_command("migrate", verbosity=0, interactive=False)
    call_command("creatersakey", stdout=io.StringIO())
    client = Client.objects.create(
        name="cxr-curator",
        client_id=args.client_id,
        client_secret=args.client_secret,
        client_type="confidential",
        jwt_alg="RS256",
        require_consent=False,  # a hospital's own provider does not ask staff to consent to the hospital's tool
        reuse_consent=True,
        _redirect_uris=args.redirect_uri,
        _scope="openid profile email groups",
    )
    client.response_types.add(ResponseType.objects.get(value="code"))
    for spec in args.user:
        username, password, groups = (spec.split(":", 2) + ["", ""])[:3]
        user = User.objects.create_user(username, email=f"{username}@hospital.example", password=password)
        user.first_name, user.last_name = username.capitalize(), "Example"
        user.save()
        _set_groups(user, [g for g in groups.split(",") if g], Group)


def _set_groups(user, names, group_model) -> None:
    user.groups.set([group_model.objects.get_or_create(name=name)[0] for name in names])


def _groups(args) -> None:
    from django.contrib.auth.models import Group, User

    _set_groups(User.objects.get(username=args.username), args.groups, Group)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    setup = commands.add_parser("setup")
    setup.add_argument("--client-id", required=True)
    setup.add_argument("--client-secret", required=True)
    setup.add_argument("--redirect-uri", required=True)
    setup.add_argument("--user", action="append", default=[], help="username:password:group,group")
    groups = commands.add_parser("groups")
    groups.add_argument("username")
    groups.add_argument("groups", nargs="*")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.oidc_provider.settings")
    django.setup()
    {"setup": _setup, "groups": _groups}[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
