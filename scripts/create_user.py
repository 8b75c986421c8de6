"""Creates a user from the command line (an admin's tool; the API needs an admin to do it).

    python -m scripts.create_user EMAIL [--role admin|user] [--password-stdin]

Without --password-stdin the password is asked for interactively.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from api.security import hash_password
from db import accounts
from db.session import async_session_factory, make_async_engine
from db.tables import Role, utcnow
from settings import get_settings


async def create(email: str, password: str, role: Role) -> int:
    engine = make_async_engine(get_settings())
    try:
        async with async_session_factory(engine)() as session:
            if await accounts.get_user_by_email(session, email=email) is not None:
                print(f"a user with email {email} already exists", file=sys.stderr)
                return 1
            user = await accounts.create_user(
                session, email=email, hashed_password=hash_password(password), role=role.value, now=utcnow()
            )
            await session.commit()
            print(f"created {role.value} {user.email} ({user.id})")
            return 0
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("email")
    parser.add_argument("--role", choices=[role.value for role in Role], default=Role.user.value)
    parser.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    args = parser.parse_args(argv)
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("password: ")
    if len(password) < 8:
        print("the password must have at least 8 characters", file=sys.stderr)
        return 2
    return asyncio.run(create(args.email, password, Role(args.role)))


if __name__ == "__main__":
    sys.exit(main())
