"""Packaging for s3node, a distributed file and object store on Twisted."""

import re
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py


class build_py_with_sql(build_py):
    """Copy the top-level ``sql/`` migrations into the package as ``s3node/_sql``.

    An installed s3node reads its migrations from there; a checkout (and an
    editable install, which puts the checkout on ``sys.path``) reads ``sql/``.
    """

    def run(self) -> None:
        super().run()
        for src in sorted(Path("sql").glob("*/*.sql")):
            dest = Path(self.build_lib, "s3node", "_sql", *src.parts[1:])
            self.mkpath(str(dest.parent))
            self.copy_file(str(src), str(dest))



def read_version() -> str:
    """The version, kept in one place: ``__version__`` in ``s3node/__init__.py``."""
    text = Path("s3node", "__init__.py").read_text(encoding="utf-8")
    found = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    if found is None:
        raise RuntimeError("s3node/__init__.py has no __version__ line")
    return found.group(1)


setup(
    name="s3node",
    version=read_version(),
    description="A distributed file and object store: Klein gateway, gRPC storage nodes",
    long_description=Path("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["s3node", "s3node.*"]) + ["twisted.plugins"],
    # A plain root mapping keeps `pip install -e .` on a static .pth file that
    # puts the checkout on sys.path, where twistd's plugin scan finds
    # twisted/plugins/s3node_plugin.py.
    package_dir={"": "."},
    # sql/ ships inside the package as s3node/_sql (see build_py_with_sql).
    cmdclass={"build_py": build_py_with_sql},
    include_package_data=False,
    install_requires=[
        "twisted[tls]>=24.11,<27",
        "klein>=24.8,<25",
        # grpcio, grpcio-tools and protobuf move together: the generated
        # modules check their runtime (protobuf >= 7.35, grpcio >= 1.85.1).
        "grpcio>=1.85.1,<1.86",
        "protobuf>=7.35,<8",
        "txpostgres>=1.7,<2",
        # txpostgres declares no dependencies of its own.
        "psycopg2-binary>=2.9,<3",
        "treq>=24.9,<27",
        "pluggy>=1.5,<2",
        # BLAKE3, the default chunk checksum (docs/performance.md, "Checksums")
        "blake3>=1.0,<2",
        "python-multipart>=0.0.27,<0.1",  # max_header_size (s3node/gateway/multipart.py)
        # the `s3node` command-line client (s3node/cli, docs/cli.md): a plain
        # synchronous client that streams both ways, without Twisted
        "httpx>=0.28,<0.29",
        "click>=8.1,<9",
        "tqdm>=4.66,<5",
        # the S3 endpoint (s3node/s3, docs/s3.md): request XML parsed without
        # entity expansion
        "defusedxml>=0.7.1,<0.8",
        # CRC-32C (chunks' transfer check, s3node/core/checksums.py) and, for
        # S3, CRC64NVME (its default checksum family) from the AWS common
        # runtime, the implementation botocore itself uses
        "awscrt>=0.32,<0.40",
        # /metrics on the gateway and --metrics-listen on storage nodes (docs/metrics.md)
        "prometheus_client>=0.22,<0.27",
    ],
    extras_require={
        "test": [
            "pytest>=8,<10",
            "pytest-twisted>=1.14,<2",
            "pytest-timeout>=2.3,<3",
            "hypothesis>=6.100,<7",
            "grpcio-tools>=1.85.1,<1.86",
            # the S3 building blocks are checked against the real client's
            # signer, checksums and response parsers
            "boto3>=1.40,<2",
            "botocore>=1.40,<2",
            # the gateway's /openapi.json is fuzzed against a real gateway
            # (tests/integration/test_fuzz_openapi.py, docs/security.md)
            "schemathesis>=4.32,<5",
            # throwaway CAs and certificates for the TLS tests (tests/support/nodeauth.py)
            "cryptography>=42",
        ],
    },
    entry_points={
        "console_scripts": [
            "s3node = s3node.cli:main",
            "s3node-keys = s3node.s3server.keyadmin:main",
        ],
        # Third-party placement and checksum plugins register here.
        "s3node": [],
    },
    classifiers=[
        "Framework :: Twisted",
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: MIT License",
    ],
)
