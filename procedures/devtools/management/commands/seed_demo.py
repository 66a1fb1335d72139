from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from procedures.devtools.demo import seed_demo


class Command(BaseCommand):
    help = "Create the demo clinic (idempotent). Refused when DEBUG is off."

    def add_arguments(self, parser):
        parser.add_argument("--password", default="clinic-demo", help="password for demo users")

    def handle(self, *args, password: str, **options):
        if not settings.DEBUG:
            raise CommandError("seed_demo creates known passwords: refused when DEBUG is off.")
        created = seed_demo(password=password)
        self.stdout.write(
            self.style.SUCCESS(
                "Demo clinic ready: {users} users, {patients} patients, "
                "{appointments} appointments created.".format(**created)
            )
        )
        self.stdout.write("Log in as frontdesk, nurse, physician or admin.")
