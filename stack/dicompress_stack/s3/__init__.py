"""The embedded S3: S3Proxy (Apache-2.0) from Maven Central, run with Java like our Kafka.

It keeps objects on disk under the stack's data dir, so they survive a restart, and checks
the AWS signature of every request, so an edited presigned URL or an unsigned request is
refused (403), as on AWS S3. `pom.xml` and `logback.xml` ship beside this module.
"""

from dicompress_stack.s3.buckets import create_bucket, s3_settings
from dicompress_stack.s3.server import (
    MARKER,
    resolve_classpath,
    s3_answers,
    s3proxy_properties,
    start_s3,
)

__all__ = [
    "MARKER",
    "create_bucket",
    "resolve_classpath",
    "s3_answers",
    "s3_settings",
    "s3proxy_properties",
    "start_s3",
]
