"""`dicompress`: run the embedded stack (`up`), talk to it (`env`, `token`, `submit`, `watch`,
`upload`, `mini-ct`), demo it (`demo`), or rebuild its progress projection from the log
(`replay`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dicompress_infra.auth import issue_token
from dicompress_infra.s3 import S3Uri, S3UriError
from dicompress_schemas import Codec
from dicompress_stack import watch as watching
from dicompress_stack.client import ClientError, submit_job
from dicompress_stack.config import (
    S3_ACCESS_KEY,
    S3_SECRET_KEY,
    StackConfig,
    load_or_create_secret,
    render_exports,
)
from dicompress_stack.errors import StackError
from dicompress_stack.migrate_layout import migrate, owners_in
from dicompress_stack.minict import add_mini_ct_command, run_mini_ct
from dicompress_stack.stack import JWT_AUDIENCE, Stack, attach, raise_interrupt, start_stack
from dicompress_stack.upload import add_upload_command, run_upload

TOKEN_TTL_S = 12 * 3600
# submit/watch use it when set, else a token for --tenant (a variable name, not a secret)
TOKEN_ENV = "DICOMPRESS_TOKEN"  # noqa: S105


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dicompress", description="The embedded dicompress stack, for development and demos."
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where the stack keeps its data and stack.json (default: $DICOMPRESS_DATA_DIR or "
        "./.dicompress)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "up", help="start Kafka, Postgres, S3 and the five services; Ctrl-C stops them"
    )
    commands.add_parser("env", help="print the running stack's endpoints as `export` lines")
    token = commands.add_parser("token", help="print a development bearer token")
    token.add_argument("--tenant", default="demo", help="tenant the token is for (default: demo)")
    commands.add_parser(
        "demo", add_help=False, help="compress a CT series end to end (see `demo --help`)"
    )
    replay_cmd = commands.add_parser(
        "replay", help="rebuild the progress projection from the event log and swap it in"
    )
    replay_cmd.add_argument(
        "--check", action="store_true", help="only compare the rebuild with the live tables"
    )
    migrate_cmd = commands.add_parser(
        "migrate-layout",
        help="move jobs' objects stored before the tenant rule (jobs/{id}/) under their tenant",
    )
    migrate_cmd.add_argument(
        "--bucket", help="the bucket to migrate (default: the running stack's)"
    )
    migrate_cmd.add_argument("--dry-run", action="store_true", help="only count what would move")
    add_job_commands(commands)
    return parser


def add_job_commands(commands: Any) -> None:
    """`submit` and `watch`: the job surface of the running stack, from a terminal."""
    submit_cmd = commands.add_parser(
        "submit", help="submit a compression job to the running stack (--watch to follow it)"
    )
    submit_cmd.add_argument("source", metavar="SOURCE_URI", help="s3://bucket/prefix/ of a series")
    submit_cmd.add_argument(
        "--target",
        metavar="URI",
        help="S3 prefix the ZIP goes under (default: s3://<source bucket>/<tenant>/results/)",
    )
    submit_cmd.add_argument(
        "--rate", type=float, help="compression ratio to ask for (default: the API's)"
    )
    submit_cmd.add_argument(
        "--codec", choices=[codec.value for codec in Codec], help="default: the API's"
    )
    submit_cmd.add_argument(
        "--anonymize", action="store_true", help="strip patient identity from the output"
    )
    submit_cmd.add_argument(
        "--watch", action="store_true", help="follow the job with a progress bar until it ends"
    )
    watch_cmd = commands.add_parser(
        "watch", help="follow a job's progress until it ends (resumes after dropped connections)"
    )
    watch_cmd.add_argument("job_id", metavar="JOB_ID", type=uuid.UUID, help="the job's id")
    upload_cmd = add_upload_command(commands)
    mini_ct_cmd = add_mini_ct_command(commands)
    for command in (submit_cmd, watch_cmd, upload_cmd, mini_ct_cmd):
        command.add_argument(
            "--tenant",
            default="demo",
            help=f"tenant to act as (default: demo); ${TOKEN_ENV}, when set, is used instead",
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `dicompress` console script."""
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and args.command != "demo":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    quiet = args.command in ("env", "token", "submit", "watch", "upload", "mini-ct")
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        config = StackConfig.from_env(os.environ, args.data_dir)
        if args.command == "up":
            return up(config)
        if args.command == "env":
            return env(config)
        if args.command == "token":
            print(token(config, args.tenant))
            return 0
        if args.command == "migrate-layout":
            return migrate_layout(config, bucket=args.bucket, dry_run=args.dry_run)
        if args.command == "replay":
            return replay(config, check_only=args.check)
        if args.command == "submit":
            return submit(config, args)
        if args.command == "watch":
            return watch(config, args)
        if args.command == "upload":
            return upload(config, args)
        if args.command == "mini-ct":
            return run_mini_ct(*_job_access(config, args.tenant), args)
        return demo(config, rest)
    except (StackError, ClientError) as exc:
        print(f"dicompress {args.command}: {exc}", file=sys.stderr)
        return 1
    except ValidationError as exc:  # a malformed DICOMPRESS_* variable
        print(f"dicompress {args.command}: bad DICOMPRESS_* setting: {exc}", file=sys.stderr)
        return 2


def up(config: StackConfig) -> int:
    """Start everything, print how to reach it, and stop it all on Ctrl-C or SIGTERM."""
    # SIGTERM takes Ctrl-C's clean path; SIGINT is set too, as a shell starting us in the
    # background (`dicompress up &`) leaves it ignored
    signal.signal(signal.SIGTERM, raise_interrupt)
    signal.signal(signal.SIGINT, raise_interrupt)
    started = time.monotonic()
    try:
        stack = start_stack(config)
    except KeyboardInterrupt:
        print("interrupted; whatever had started was stopped", file=sys.stderr)
        return 130
    print(banner(stack, time.monotonic() - started, token(config, "demo")), flush=True)
    code = 0
    try:
        while not (dead := stack.dead()):
            time.sleep(1.0)
        for process in dead:
            print(
                f"{process.name} exited (code {process.popen.returncode}); stopping the stack\n"
                f"--- last lines of {process.log_path}:\n{process.log_tail()}",
                file=sys.stderr,
            )
        code = 1
    except KeyboardInterrupt:
        pass
    finally:
        # stop once, completely: a second Ctrl-C must not leave half the stack running
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("stopping the stack...", file=sys.stderr, flush=True)
        stack.stop()
        print("stopped", file=sys.stderr)
    return code


def banner(stack: Stack, seconds: float, dev_token: str) -> str:
    """What `dicompress up` prints once everything answers."""
    config = stack.config
    return "\n".join(
        [
            f"dicompress is up in {seconds:.1f} s (data in {config.data_dir})",
            f"  API        {config.api_url}  (OpenAPI: {config.api_url}/docs)",
            f"  WebSocket  {config.ws_url}",
            f"  viewer     {config.api_url}/viewer/#token={dev_token}",
            f"  Kafka      {config.kafka_bootstrap}",
            f"  Postgres   {config.database_url}",
            f"  S3         {config.s3_endpoint_url}  bucket {config.bucket}",
            f"  logs       {config.data_dir}/<component>/<component>.log",
            f"development token for tenant 'demo' (valid {TOKEN_TTL_S // 3600} h):",
            f"  {dev_token}",
            "`dicompress env` prints these as exports; Ctrl-C stops everything.",
        ]
    )


def env(config: StackConfig) -> int:
    """Print `export NAME=value` lines for the running stack, or fail if none runs."""
    found = attach(config.data_dir)
    if found is None:
        print(
            f"dicompress env: no stack is running from {config.data_dir}; "
            "start one with `dicompress up`",
            file=sys.stderr,
        )
        return 1
    values = found.endpoints() | {
        "TOPIC_PREFIX": found.config.topic_prefix,
        "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
    }
    print(render_exports(values), end="")
    return 0


def token(config: StackConfig, tenant: str) -> str:
    """A bearer token for `tenant`, signed with this data dir's secret."""
    return issue_token(load_or_create_secret(config), tenant, JWT_AUDIENCE, TOKEN_TTL_S)


def replay(config: StackConfig, *, check_only: bool) -> int:
    """Replay the running stack's log into its Postgres (the logic is the progress service's)."""
    from dicompress_progress.replay import replay_main
    from dicompress_progress.settings import ProgressSettings

    found = attach(config.data_dir)
    if found is None:
        raise StackError(
            f"no stack is running from {config.data_dir}; start one with `dicompress up`"
        )
    values = found.endpoints()
    settings = ProgressSettings(
        kafka_bootstrap_servers=values["KAFKA_BOOTSTRAP_SERVERS"],
        database_url=values["DATABASE_URL"],
        topic_prefix=found.config.topic_prefix,
    )
    return replay_main(settings, check_only=check_only)


def migrate_layout(config: StackConfig, *, bucket: str | None, dry_run: bool) -> int:
    """`dicompress migrate-layout` on the running stack (dicompress_stack.migrate_layout)."""
    found = attach(config.data_dir)
    if found is None:
        raise StackError(
            f"no stack is running from {config.data_dir}; start one with `dicompress up`"
        )
    values = found.endpoints()
    target = bucket or values["S3_BUCKET"]
    moved = migrate(found.s3_client(), target, owners_in(values["DATABASE_URL"]), dry_run=dry_run)
    verb = "would move" if dry_run else "moved"
    print(
        f"s3://{target}: {verb} {moved.moved} objects under their tenant's prefix, "
        f"{moved.already} already there; {len(moved.unknown)} of jobs the projection does not "
        "know left in place" + (f" (e.g. {moved.unknown[0]})" if moved.unknown else "")
    )
    return 0


def job_request(args: argparse.Namespace) -> dict[str, Any]:
    """The body of POST /jobs for `dicompress submit`; options left out take the API's defaults."""
    try:
        source = S3Uri.parse(args.source)
    except S3UriError as exc:
        raise StackError(f"SOURCE_URI {args.source!r}: {exc}") from exc
    body: dict[str, Any] = {
        "s3SourceUri": args.source,
        "s3TargetUri": args.target or f"s3://{source.bucket}/{args.tenant}/results/",
    }
    if args.rate is not None:
        body["compressionRate"] = args.rate
    if args.codec is not None:
        body["codec"] = args.codec
    if args.anonymize:
        body["anonymize"] = True
    return body


def submit(config: StackConfig, args: argparse.Namespace) -> int:
    """Submit a job through the API; with --watch, follow it like `dicompress watch`."""
    request = job_request(args)
    api_url, ws_url, bearer = _job_access(config, args.tenant)
    answer = submit_job(api_url, bearer, request)
    job_id = answer["jobId"]
    print(f"job {job_id} queued; ZIP: {answer.get('artifactUri')}", flush=True)
    if not args.watch:
        print(f"follow it with: dicompress watch {job_id}")
        return 0
    return _watch(ws_url, bearer, job_id)


def watch(config: StackConfig, args: argparse.Namespace) -> int:
    """Follow a job's progress until it ends; exit 0 only if it completed."""
    _, ws_url, bearer = _job_access(config, args.tenant)
    return _watch(ws_url, bearer, str(args.job_id))


def upload(config: StackConfig, args: argparse.Namespace) -> int:
    """Upload a study to the running stack and show what it became (see upload.py)."""
    api_url, _, bearer = _job_access(config, args.tenant)
    try:
        return run_upload(api_url, bearer, args)
    except KeyboardInterrupt:
        return 130


def _watch(ws_url: str, bearer: str, job_id: str) -> int:
    try:
        progress = asyncio.run(watching.watch(ws_url, bearer, job_id))
    except KeyboardInterrupt:
        print(f"stopped watching; the job goes on (dicompress watch {job_id})", file=sys.stderr)
        return 130
    print(watching.outcome(progress))
    return 0 if progress.status == "completed" else 1


def _job_access(config: StackConfig, tenant: str) -> tuple[str, str, str]:
    """The running stack's API and WebSocket URLs, and the bearer token to use there."""
    found = attach(config.data_dir)
    if found is None:
        raise StackError(
            f"no stack is running from {config.data_dir}; start one with `dicompress up`"
        )
    values = found.endpoints()
    bearer = os.environ.get(TOKEN_ENV) or token(config, tenant)
    return values["API_URL"], values["WS_URL"], bearer


def demo(config: StackConfig, rest: list[str]) -> int:
    """Hand over to the demo, imported only now: it is heavy and only this command needs it."""
    from dicompress_stack import demo as demo_module

    parser = argparse.ArgumentParser(
        prog="dicompress demo", description=(demo_module.__doc__ or "").split("\n\n")[0]
    )
    demo_module.add_arguments(parser)
    args = parser.parse_args(rest)
    args.data_dir = config.data_dir
    return demo_module.main(args)
