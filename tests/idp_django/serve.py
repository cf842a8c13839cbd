"""A django-oauth-toolkit OpenID provider for the tests, on 127.0.0.1.

    python serve.py CONFIG.json

CONFIG: {"port": 8000, "db": "<sqlite file>", "users": {"alice": {"email": ..., "password": ...,
"groups": [...]}}, "clients": [{"client_id", "client_secret", "redirect_uris": [...],
"post_logout_redirect_uris": [...]}]}. The database is created, the users and confidential
clients (authorization code, skip_authorization, RS256 id_tokens) registered, then Django's
threaded server runs in this process (no autoreloader: the test stops the process it started).
"""

import json
import os
import sys
from pathlib import Path


def main(config_path: str) -> None:
    config = json.loads(Path(config_path).read_text())
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    os.environ["DJANGO_SETTINGS_MODULE"] = "settings"
    os.environ["DOT_DB"] = config["db"]
    os.environ["DOT_ISSUER"] = f"http://127.0.0.1:{config['port']}/o"

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    for name, user in config["users"].items():
        add_user(name, user)
    for client in config["clients"]:
        add_client(client)
    call_command("runserver", f"127.0.0.1:{config['port']}", use_reloader=False, skip_checks=True)


def add_user(name: str, spec: dict) -> None:
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user(name, email=spec["email"], password=spec["password"])
    for group in spec.get("groups", []):
        user.groups.add(Group.objects.get_or_create(name=group)[0])


def add_client(spec: dict) -> None:
    from oauth2_provider.models import Application

    Application.objects.create(
        name=spec["client_id"],
        client_id=spec["client_id"],
        client_secret=spec["client_secret"],  # stored hashed by DOT
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=" ".join(spec["redirect_uris"]),
        post_logout_redirect_uris=" ".join(spec["post_logout_redirect_uris"]),
        algorithm=Application.RS256_ALGORITHM,
        skip_authorization=True,
    )


if __name__ == "__main__":
    main(sys.argv[1])
