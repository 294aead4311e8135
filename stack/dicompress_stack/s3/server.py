"""S3Proxy on the local filesystem: configure, start, probe.

Objects live as files under `<s3 dir>/data/<bucket>/<key>` (user metadata in extended
attributes), so they outlive the process; every request must carry a valid AWS signature
(V2 or V4) made with the stack's key pair.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from dicompress_stack import maven
from dicompress_stack.net import http_status
from dicompress_stack.processes import Supervised, start_process

READY_TIMEOUT_S = 60.0
# In the command line of the process, so a recorded pid that was reused is not taken for ours.
MARKER = "org.gaul.s3proxy.Main"


def resolve_classpath(cache_dir: Path) -> str:
    """S3Proxy's ':'-joined jar list (see `maven.resolve_classpath`)."""
    pom = resources.files("dicompress_stack.s3").joinpath("pom.xml").read_bytes()
    return maven.resolve_classpath(pom, cache_dir, "the S3Proxy jars")


def s3proxy_properties(port: int, basedir: Path, access_key: str, secret_key: str) -> str:
    """S3Proxy's configuration: one key pair, checked on every request, in front of a
    filesystem store. S3Proxy wants both pairs set: its own (what clients sign with) and the
    backend's (jclouds; unused by a filesystem store, but required).

    S3Proxy 2.6 answers 501 to any x-amz- header it does not know, which includes the CRC
    checksum headers boto3 >= 1.36 sends: by default on every upload (our clients turn that off,
    see `make_s3_client`), and always on the operations that require a checksum, such as
    DeleteObjects. Unknown headers are therefore ignored (checksums are not verified; signatures
    still are, over every signed header).

    CORS is open to every origin: the web viewer (served by the API, another origin) reads
    slices and images and sends upload parts by presigned URL, straight to S3. Every request
    must still carry a valid signature, so an origin gains nothing it was not handed a URL for.
    """
    settings = {
        "s3proxy.endpoint": f"http://127.0.0.1:{port}",
        "s3proxy.authorization": "aws-v2-or-v4",
        "s3proxy.identity": access_key,
        "s3proxy.credential": secret_key,
        "s3proxy.ignore-unknown-headers": "true",
        "s3proxy.cors-allow-all": "true",
        "jclouds.provider": "filesystem-nio2",
        "jclouds.identity": access_key,
        "jclouds.credential": secret_key,
        "jclouds.filesystem.basedir": str(basedir),
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def start_s3(
    s3_dir: Path, classpath: str, port: int, access_key: str, secret_key: str
) -> Supervised:
    """Start S3Proxy on 127.0.0.1:`port` with its files under `s3_dir`; wait until it answers."""
    maven.require_java()
    basedir = s3_dir / "data"
    basedir.mkdir(parents=True, exist_ok=True)
    properties = s3_dir / "s3proxy.properties"
    properties.write_text(s3proxy_properties(port, basedir, access_key, secret_key))
    properties.chmod(0o600)  # it holds the secret key
    logback = s3_dir / "logback.xml"
    logback.write_bytes(resources.files("dicompress_stack.s3").joinpath("logback.xml").read_bytes())
    server = start_process(
        "s3",
        [
            "java",
            "-Xmx256m",
            # As for the broker: serial GC and C1 only. A job's GETs and small PUTs then cost
            # about half the CPU (no C2 compiles); C1 has no SHA-256 intrinsic, so a signed PUT
            # of 0.5 MB costs ~20 ms of CPU (measured in docs/NOTES.md).
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            f"-Dlogback.configurationFile={logback}",
            MARKER,
            "--properties",
            str(properties),
        ],
        s3_dir / "s3.log",
        env={**os.environ, "CLASSPATH": classpath},  # 131 jars would bury the command line
        cwd=s3_dir,
    )
    url = f"http://127.0.0.1:{port}"
    return server.started(lambda: s3_answers(url), f"{url} answered", READY_TIMEOUT_S)


def s3_answers(endpoint_url: str) -> bool:
    """Whether an S3 server answers at `endpoint_url`: an unsigned GET is refused with 403 by
    a server that checks signatures (and listed with 200 by one that does not)."""
    return http_status(endpoint_url.rstrip("/") + "/") in (200, 403)
