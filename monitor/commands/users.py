"""`prevent-monitor users`: console accounts from the command line.

- `users add USERNAME --role prevent_lead|it_staff|comms [--display-name N] [--email E]`: prints
  a one-time password once (it is stored only as an argon2 hash).
- `users list`: name, role, schools, active, last sign-in.
- `users disable USERNAME`: the account can no longer sign in; open sessions end within 30 s.
- `users schools USERNAME ID [ID ...] | --all-schools`: whose pupils the account sees.

An account sees the schools it is given (`--school ID`, repeatable) or every school
(`--all-schools`, for a trust's safeguarding lead). Without either, a single school's account
is its school's (`school_id`); in a trust (`trust.schools` set) the command asks which.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from monitor.commands.shared import add_config_option, read_config
from monitor.commands.storeurl import store_url
from monitor.store.accounts import (
    ASSIGNABLE_ROLES,
    AccountError,
    add_user,
    disable_user,
    list_users,
    set_schools,
)
from monitor.store.database import StoreError, make_engine, make_sessionmaker


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("users", help="add, list or disable review-console accounts")
    sub = parser.add_subparsers(dest="users_command", metavar="ACTION", required=True)

    add = sub.add_parser("add", help="add an account and print its one-time password")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=ASSIGNABLE_ROLES)
    add.add_argument("--display-name", help="the name shown in the console and the audit trail")
    add.add_argument("--email")
    _school_options(add)
    add.set_defaults(func=run_add)

    ls = sub.add_parser("list", help="list the accounts")
    ls.set_defaults(func=run_list)

    off = sub.add_parser("disable", help="stop an account from signing in")
    off.add_argument("username")
    off.set_defaults(func=run_disable)

    give = sub.add_parser("schools", help="set whose pupils an account sees")
    give.add_argument("username")
    give.add_argument("school", nargs="*", help="school ids (see trust.schools)")
    give.add_argument("--all-schools", action="store_true", help="every school of the trust")
    give.set_defaults(func=run_schools)

    for p in (add, ls, off, give):
        add_config_option(p)
        p.add_argument("--database-url", help="the store's URL (overrides the configuration)")


def _school_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--school", action="append", default=[], metavar="ID",
        help="a school whose pupils the account sees (repeat for several)",
    )  # fmt: skip
    parser.add_argument("--all-schools", action="store_true", help="every school of the trust")


def _chosen_schools(args: argparse.Namespace, named: list[str]) -> frozenset[str] | None:
    """The schools asked for (None: every school), checked against the configuration's."""
    if args.all_schools:
        if named:
            raise AccountError("give school ids or --all-schools, not both")
        return None
    config = read_config(args.config, optional=True)
    if config is None:
        raise AccountError("the configuration could not be read (see above)")
    known = config.schools()
    if not named:
        if known.many:
            raise AccountError(
                "this is a trust: say whose pupils the account sees with --school ID "
                f"(one of {', '.join(sorted(known.ids))}) or --all-schools"
            )
        return frozenset({known.own})
    unknown = sorted(set(named) - known.ids)
    if unknown:
        raise AccountError(
            f"unknown school {', '.join(unknown)}: the configuration knows "
            f"{', '.join(sorted(known.ids))} (trust.schools)"
        )
    return frozenset(named)


def _with_session(args: argparse.Namespace, work: Any) -> int:
    url = store_url(args, "users")
    if url is None:
        return 2
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            result = work(session)
            session.commit()
            return int(result or 0)
    except AccountError as exc:
        print(f"prevent-monitor users: {exc}", file=sys.stderr)
        return 1
    except StoreError as exc:
        print(
            f"prevent-monitor users: the store is not usable ({exc.__class__.__name__}: "
            f"{str(exc).splitlines()[0]})",
            file=sys.stderr,
        )
        return 2
    finally:
        engine.dispose()


def run_add(args: argparse.Namespace) -> int:
    def work(session: Any) -> int:
        schools = _chosen_schools(args, args.school)
        password = add_user(
            session, args.username, args.role, display_name=args.display_name, email=args.email,
            schools=schools,
        )  # fmt: skip
        shown = "every school" if schools is None else ", ".join(sorted(schools))
        print(f"user {args.username.strip().lower()!r} ({args.role}, sees {shown}) added")
        print(f"one-time password: {password}")
        print("it is shown only now: give it to the person and ask them to change it")
        return 0

    return _with_session(args, work)


def run_list(args: argparse.Namespace) -> int:
    def work(session: Any) -> int:
        for user in list_users(session):
            last = "never"
            if user.last_login_at:
                last = user.last_login_at.isoformat(timespec="minutes")
            state = "active" if user.active else "disabled"
            name = user.display_name or ""
            schools = "every school" if user.schools == "*" else (user.schools or "no school")
            print(
                f"{user.username}\t{user.role}\t{schools}\t{state}\tlast sign-in {last}\t{name}"
            )
        return 0

    return _with_session(args, work)


def run_disable(args: argparse.Namespace) -> int:
    def work(session: Any) -> int:
        disable_user(session, args.username)
        print(f"user {args.username!r} disabled")
        return 0

    return _with_session(args, work)


def run_schools(args: argparse.Namespace) -> int:
    def work(session: Any) -> int:
        if not args.school and not args.all_schools:
            raise AccountError("name the school ids, or --all-schools")
        stored = set_schools(session, args.username, _chosen_schools(args, args.school))
        shown = "every school" if stored == "*" else stored
        print(f"user {args.username!r} now sees {shown}; open sessions end within 30 s")
        return 0

    return _with_session(args, work)
