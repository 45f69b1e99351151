"""portal/cli.py: what the commands refuse before touching any database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result

from portal.cli import PROG, main, portal
from portal.settings import get_settings

COMMANDS = ["serve", "dev", "migrate", "mail-worker", "remind", "purge", "approver", "catalog"]


def invoke(*args: str) -> Result:
    return CliRunner().invoke(portal, list(args), prog_name=PROG)


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    """Settings read again from the (patched) environment, and forgotten afterwards."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_help_lists_every_command_in_order():
    result = invoke("--help")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"Usage: {PROG} [OPTIONS] COMMAND [ARGS]...")
    listed = result.stdout.split("Commands:", 1)[1]
    assert [
        line.split()[0] for line in listed.splitlines() if line.startswith("  ") and line.split()[0] in COMMANDS
    ] == COMMANDS
    assert "-h, --help" in result.stdout


@pytest.mark.parametrize(("group", "actions"), [("approver", ["add", "reset"]), ("catalog", ["load"])])
def test_subgroups_list_their_actions(group, actions):
    result = invoke(group, "-h")
    assert result.exit_code == 0
    for action in actions:
        assert f"  {action} " in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "No such command 'nope'."),
        (["approver", "nope"], "No such command 'nope'."),
        (["approver", "add", "--email", "a@example.gov", "--name", "Ann Lee"], "Missing option '--grant'."),
        (["approver", "add", "--name", "Ann Lee", "--grant", "*:1"], "Missing option '--email'."),
        (["approver", "reset"], "Missing option '--user-id'."),
        (["serve", "--port", "eighty"], "Invalid value for '--port': 'eighty' is not a valid integer."),
        (["dev", "--workers", "2"], "No such option '--workers'."),
        (["catalog", "load", "a.toml", "b.toml"], "Got unexpected extra argument (b.toml)"),
        (["migrate", "--force"], "No such option '--force'."),
    ],
)
def test_argument_errors_exit_2_with_a_usage_message(args, message):
    result = invoke(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"Usage: {PROG} ")
    assert result.stderr.rstrip().endswith(f"Error: {message}")


@pytest.mark.parametrize("args", [[], ["approver"], ["catalog"]])
def test_a_group_without_its_command_shows_its_help_and_exits_2(args):
    result = invoke(*args)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Usage: {PROG} ")
    assert "Commands:" in result.stderr


def test_main_returns_the_exit_status(capsys):
    assert main(["--help"]) == 0
    assert "mail-worker" in capsys.readouterr().out
    assert main(["nope"]) == 2
    assert "Error: No such command 'nope'." in capsys.readouterr().err
    assert main(["approver", "reset"]) == 2
    assert "Missing option '--user-id'" in capsys.readouterr().err


def test_unsafe_settings_end_any_command_with_one_line(monkeypatch, capsys, fresh_settings):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("PORTAL_SECRET_KEY", "")
    assert main(["migrate"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "error: PORTAL_SECRET_KEY must be set to a secret value in production\n"


def test_dev_is_refused_in_production(monkeypatch, tmp_path, capsys, fresh_settings):
    for var, value in {
        "PORTAL_ENV": "production",
        "PORTAL_SECRET_KEY": "s" * 48,
        "PORTAL_DATA_KEY": "ZmFrZS1idXQtbm90LWRlZmF1bHQtZGF0YS1rZXktISE=",
        "PORTAL_BASE_URL": "https://iacs.example.gov",
        "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'never-opened.db'}",
    }.items():
        monkeypatch.setenv(var, value)
    assert main(["dev"]) == 2
    assert capsys.readouterr().err == "`dev` is for development; use `serve` in production.\n"
    assert not (tmp_path / "never-opened.db").exists()
