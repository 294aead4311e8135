"""The packaged migrations are present, well numbered, and create the tables others depend on."""

from __future__ import annotations

import re
from dataclasses import fields

from dicompress_progress import slices
from dicompress_progress.migrate import load_migrations
from dicompress_schemas.jobs import JobView


def test_migrations_are_packaged_and_numbered_from_one() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert migrations[0].name == "init"


def test_first_migration_creates_jobs_and_job_events() -> None:
    sql = load_migrations()[0].sql
    assert re.search(r"CREATE TABLE jobs \(", sql)
    assert re.search(r"CREATE TABLE job_events \(", sql)
    assert "ON jobs (tenant, requested_at)" in sql
    assert "PRIMARY KEY (job_id, seq)" in sql
    assert re.search(r"event_id\s+uuid NOT NULL UNIQUE", sql)


def test_every_view_field_is_a_jobs_column() -> None:
    # The store writes JobView field by field into jobs; a field without a column would fail
    # only at run time.
    migrations = load_migrations()
    jobs_table = migrations[0].sql.split("CREATE TABLE job_events")[0]
    columns = set(re.findall(r"^\s{4}([a-z_]+)\s", jobs_table, flags=re.MULTILINE))
    for later in migrations[1:]:
        columns |= set(re.findall(r"ADD COLUMN ([a-z_]+)\s", later.sql))
    assert {f.name for f in fields(JobView)} <= columns
    assert "updated_at" in columns


def test_every_slice_row_field_is_a_job_slices_column() -> None:
    migrations = load_migrations()
    table = migrations[1].sql.split("CREATE TABLE job_slices (")[1].split(");")[0]
    columns = set(re.findall(r"^\s{4}([a-z_]+)\s", table, flags=re.MULTILINE))
    for later in migrations[2:]:
        altered = re.findall(r"ALTER TABLE job_slices (ADD|DROP) COLUMN ([a-z_]+)", later.sql)
        columns |= {column for action, column in altered if action == "ADD"}
        columns -= {column for action, column in altered if action == "DROP"}
    assert set(slices.COLUMNS) <= columns
    assert "psnr" not in columns  # version 1's PSNR (BitsStored peak) is gone, not renamed
