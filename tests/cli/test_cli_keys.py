"""``s3node key ...`` and the CLI's credentials, against a real standalone process:
keys created, shown, changed, disabled and deleted; the credentials file standalone
writes; no credentials or wrong ones."""

from __future__ import annotations

from pathlib import Path

from cli.cli_run import GATEWAY_READY, run_s3node, standalone_args
from support.processes import start_twistd


def test_keys_over_the_cli(standalone_url: str, tmp_path: Path) -> None:
    """create prints the secret once; list and show never do; the new key can do what
    grant says; disable, enable and delete take effect; without credentials: exit 1."""
    made = run_s3node("key", "create", "--description", "cli", "--read", "/files",
                      "--read", "*", "--json", url=standalone_url)
    assert made.code == 0, made.stderr
    key = made.json()
    key_id, secret = key["access_key_id"], key["secret"]
    assert key["grants"] == [{"scope": "*", "read": True, "write": False},
                             {"scope": "/files", "read": True, "write": False}]
    listed = run_s3node("key", "list", url=standalone_url)
    assert listed.code == 0 and key_id in listed.stdout and secret not in listed.stdout
    assert "r:* r:/files" in listed.stdout
    shown = run_s3node("key", "show", key_id, url=standalone_url)
    assert shown.code == 0 and secret not in shown.stdout and "r:* r:/files" in shown.stdout
    as_user = {"S3NODE_ACCESS_KEY": key_id, "S3NODE_SECRET_KEY": secret}
    assert run_s3node("ls", url=standalone_url, env=as_user).code == 0
    upload = tmp_path / "x.txt"
    upload.write_text("x")
    refused = run_s3node("put", str(upload), url=standalone_url, env=as_user)
    assert refused.code == 1 and "403" in refused.stderr + refused.stdout
    assert run_s3node("key", "grant", key_id, "--write", "/files", "--read", "/files",
                      url=standalone_url).code == 0
    assert run_s3node("put", str(upload), url=standalone_url, env=as_user).code == 0
    assert run_s3node("key", "disable", key_id, url=standalone_url).code == 0
    assert run_s3node("ls", url=standalone_url, env=as_user).code == 1
    assert run_s3node("key", "enable", key_id, url=standalone_url).code == 0
    assert run_s3node("ls", "--all", url=standalone_url, env=as_user).code == 1  # no * read
    assert run_s3node("key", "delete", key_id, url=standalone_url).stdout == f"deleted {key_id}\n"
    assert run_s3node("key", "show", key_id, url=standalone_url).code == 1
    anonymous = run_s3node("ls", url=standalone_url, env={"S3NODE_ACCESS_KEY": "",
                                                        "S3NODE_SECRET_KEY": ""})
    assert anonymous.code != 0


def test_the_credentials_file_standalone_writes_works(tmp_path: Path) -> None:
    """A standalone of its own (no test key): its s3-credentials, given with
    --credentials-file or S3NODE_CREDENTIALS_FILE, is an admin key; nothing else works."""
    data = tmp_path / "data"
    with start_twistd(standalone_args(data), cwd=tmp_path, ready_pattern=GATEWAY_READY,
                      timeout=60, admin_key=False) as proc:
        url = f"http://127.0.0.1:{proc.port}"
        credentials = data / "s3-credentials"
        assert credentials.stat().st_mode & 0o777 == 0o600
        assert "admin access key created" in proc.output()
        no_key = {"S3NODE_ACCESS_KEY": "", "S3NODE_SECRET_KEY": ""}
        assert run_s3node("nodes", url=url, env=no_key).code == 1
        by_option = run_s3node("--credentials-file", str(credentials), "nodes", url=url,
                               env=no_key)
        assert by_option.code == 0, by_option.stderr
        by_env = run_s3node("key", "list", url=url,
                            env={**no_key, "S3NODE_CREDENTIALS_FILE": str(credentials)})
        assert by_env.code == 0 and "admin" in by_env.stdout
        assert run_s3node("nodes", url=url).code == 1  # the suite's key: unknown here
