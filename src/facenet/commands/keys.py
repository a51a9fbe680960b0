"""`facenet keys create --scope read|enrol|admin [--name N] | list | revoke ID [--keys FILE] [--json]`"""

from __future__ import annotations

import argparse
from pathlib import Path

from facenet.commands.common import emit_json

KEYS_FILE_NAME = "service_keys.db"


def add_keys_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--keys", metavar="FILE",
                   help=f"the API-key file (default: {KEYS_FILE_NAME} in the user data folder, $FACENET_HOME/galleries when set)")


def keys_location(args: argparse.Namespace) -> Path:
    if getattr(args, "keys", None):
        return Path(args.keys)
    from facenet.settings import Settings

    return Settings.from_env().data_dir / KEYS_FILE_NAME


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("keys", help="API keys of `facenet serve`: create (shown once), list, revoke")
    common = argparse.ArgumentParser(add_help=False)
    add_keys_arg(common)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    ops = p.add_subparsers(dest="op", metavar="OP", required=True)
    c = ops.add_parser("create", parents=[common], help="a new key; printed once, stored only as a hash")
    c.add_argument("--scope", required=True, choices=["read", "enrol", "admin"],
                   help="read: detect/embed/verify/identify/list; enrol: also add, rename, merge, cluster; admin: also delete")
    c.add_argument("--name", default="", help="a label to tell keys apart")
    ops.add_parser("list", parents=[common], help="the keys (id, name, scope, last characters, revoked)")
    r = ops.add_parser("revoke", parents=[common], help="revoke a key by id (a running server refuses it at once)")
    r.add_argument("id", type=int)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from facenet.errors import UsageError
    from facenet.service.keys import KeyStore

    store = KeyStore(keys_location(args))
    if args.op == "create":
        record, key = store.create(args.scope, args.name)
        if args.json:
            emit_json({**record.to_dict(), "key": key, "file": str(store.path)})
        else:
            print(key)
            print(f"key {record.id} ({record.scope}{', ' + record.name if record.name else ''}) stored as a hash in "
                  f"{store.path}; it is shown only now.", file=__import__("sys").stderr)
        return 0
    if args.op == "list":
        keys = store.list()
        if args.json:
            emit_json([k.to_dict() for k in keys])
        else:
            for k in keys:
                state = "revoked" if k.revoked is not None else "valid"
                print(f"{k.id:4d}  {k.scope:6s} {state:8s} ...{k.hint}  {k.name}")
        return 0
    if not store.revoke(args.id):
        raise UsageError(f"No valid key with id {args.id} in {store.path} (see `facenet keys list`).")
    if args.json:
        emit_json({"revoked": args.id})
    else:
        print(f"key {args.id} revoked")
    return 0
