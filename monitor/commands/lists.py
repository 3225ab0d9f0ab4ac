"""`prevent-monitor lists validate` and `lists import`: check lists, bring in published ones."""

from __future__ import annotations

import argparse
import sys

from filters.includes import display_name
from filters.listimport import IMPORT_KINDS, ListImportError, import_list
from filters.policy import Policy, PolicyError
from monitor.commands.shared import add_policy_options, policy_path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("lists", help="validate and import block lists")
    lists_sub = parser.add_subparsers(dest="lists_command", metavar="ACTION", required=True)

    validate = lists_sub.add_parser(
        "validate",
        help="check every list and the policy",
        description="Check the policy and every list it names. Problems are printed as "
        "file:line: reason; the exit status is 1 if there are any.",
    )
    add_policy_options(validate)
    validate.set_defaults(func=validate_lists)

    importer = lists_sub.add_parser(
        "import",
        help="import a published list (UT1 category, vendor CTIRU/IWF URL list)",
        description="Import a published list from a local file or folder into the policy's "
        "imported/ folder, normalised and validated, with a header naming its source and date. "
        "Then add it to the policy's lists.",
    )
    importer.add_argument("kind", choices=IMPORT_KINDS, help="what the source is")
    importer.add_argument("source", help="a local file, folder or .tar.gz archive")
    importer.add_argument("--into", required=True, help="the folder or file to write")
    importer.add_argument(
        "--category", help="for ut1: the UT1 category folder to take (e.g. agressif)"
    )
    importer.add_argument(
        "--licence", default="see the publisher's terms", help="licence text for the header"
    )
    importer.set_defaults(func=run_import)


def validate_lists(args: argparse.Namespace) -> int:
    path = policy_path(args)
    if path is None:
        return 2
    problems = Policy.validate(path)
    if problems:
        for problem in problems:
            print(problem)
        print(f"{len(problems)} problem(s): fix them, then run this again.", file=sys.stderr)
        return 1
    try:
        policy = Policy.load(path)
    except PolicyError as exc:  # a race with an editor: validate said fine, load did not
        print(exc, file=sys.stderr)
        return 1
    stats = policy.stats
    print(f"{path}: valid, policy version {policy.version}, loaded in {stats.load_seconds:.2f} s")
    base = policy.spec.base
    while base is not None:
        print(f"  extends {display_name(base.path)} (its settings are the floor for this one)")
        base = base.base
    for name, count in stats.per_list.items():
        print(f"  {name}: {count} entries")
    print(
        f"  total: {stats.domains} domains, {stats.url_prefixes} URL prefixes, "
        f"{stats.regexes} expressions, {stats.search_phrases} search terms, "
        f"{stats.page_phrases} weighted phrases, {stats.allow_entries} allowlist entries, "
        f"{stats.exemptions} study exemptions"
    )
    return 0


def run_import(args: argparse.Namespace) -> int:
    try:
        report = import_list(
            args.kind, args.source, args.into, category=args.category, licence=args.licence
        )
    except ListImportError as exc:
        print(f"prevent-monitor lists import: {exc}", file=sys.stderr)
        return 1
    for line in report:
        print(line)
    return 0
