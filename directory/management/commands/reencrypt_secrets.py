"""``manage.py reencrypt_secrets``: encrypt every stored secret again under the configured key.

After an upgrade from an install that ran on the public development key (see
``directory/secrets.py``), or after setting ``KEYFLOW_SECRETS_KEY`` on an install whose key was
derived from ``SECRET_KEY``: each value is read (under whichever key it was written with that
Keyflow can still use) and written back under the key configured now.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from directory.secrets import EncryptedTextField


class Command(BaseCommand):
    help = "Encrypt every stored secret again under the configured key."

    def handle(self, *args: Any, **options: Any) -> None:
        count = 0
        with transaction.atomic():
            for model in apps.get_models():
                fields = [f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
                if not fields:
                    continue
                for obj in model.objects.only("pk", *fields).iterator():
                    model.objects.filter(pk=obj.pk).update(**{name: getattr(obj, name) for name in fields})
                    count += 1
        self.stdout.write(f"Encrypted the secrets of {count} object(s) under the configured key.")
