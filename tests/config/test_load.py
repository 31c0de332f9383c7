"""The config file: defaults, every kind of error naming its key (in the loader, and as `run`
and `config check` meet it: exit 2, one line, never a traceback), token lookup, masking."""

from __future__ import annotations

import io
import re
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config.load import load_config, parse_config
from monitor.config.model import AccountLabel, Severity, SinkConfig, SinkType
from monitor.config.render import render_config
from monitor.config.table import Table
from monitor.errors import ConfigError
from monitor.logs import configure_logging
from tests.helpers.certs import self_signed
from tests.helpers.configs import EVERY_KEY, every_key_files

TOKEN = "cfg-SECRET-token-81c2"
SINK_SECRET = "sink-SECRET-hmac-key-77"
SLACK_URL = "https://hooks.slack.com/services/T000/B000/SECRETslackpath"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"USEAPI_TOKEN": TOKEN}


def parse(text: str, env: dict[str, str], base: Path = Path("/nonexistent")) -> object:
    return parse_config(tomllib.loads(text), env=env, base_dir=base)


def test_defaults_from_an_empty_file(env: dict[str, str]) -> None:
    config = parse_config({}, env=env)
    (source,) = config.sources
    assert source.name == "default"
    assert source.base_url == "https://api.useapi.net"
    assert source.token.reveal() == TOKEN
    assert source.capacity_endpoint is True
    assert config.poll.interval == timedelta(minutes=5)
    assert config.poll.timeout == timedelta(seconds=15)
    assert config.poll.jitter == timedelta(seconds=10)
    assert config.poll.stale_after == timedelta(minutes=15)
    assert config.poll.max_response_bytes == 8 * 1024 * 1024
    assert config.thresholds.warning == timedelta(hours=72)
    assert config.thresholds.critical == timedelta(hours=24)
    assert config.thresholds.min_usable_capacity == 0
    assert (config.metrics.host, config.metrics.port) == ("127.0.0.1", 9877)
    assert config.metrics.account_label is AccountLabel.EMAIL
    assert config.alerts.repeat_interval == timedelta(hours=4)
    assert config.alerts.state_dir == Path("/var/lib/pixverse-monitor")
    assert config.sinks == ()


@pytest.mark.parametrize(("interval", "stale"), [("5m", 900), ("1h", 10800), ("7d", 1814400)])
def test_stale_after_defaults_to_three_intervals(
    env: dict[str, str], interval: str, stale: int
) -> None:
    config = parse_config({"poll": {"interval": interval, "jitter": 0}}, env=env)
    assert config.poll.stale_after == timedelta(seconds=stale)


def test_state_directory_from_systemd(env: dict[str, str]) -> None:
    env["STATE_DIRECTORY"] = "/var/lib/private/pixverse-monitor:/other"
    assert parse_config({}, env=env).alerts.state_dir == Path("/var/lib/private/pixverse-monitor")


def test_the_spec_example_loads(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "key").write_text(SINK_SECRET)
    (tmp_path / "token").write_text(TOKEN)
    text = f"""
[[sources]]
name = "default"
base_url = "https://api.useapi.net"
token_file = "{tmp_path / "token"}"

[poll]
interval = "5m"
timeout = "15s"
jitter = "10s"
stale_after = "15m"

[thresholds]
warning = "72h"
critical = "24h"
min_usable_capacity = 0

[metrics]
listen = "127.0.0.1:9877"
account_label = "email"
web_config_file = ""

[alerts]
repeat_interval = "4h"
state_dir = "/var/lib/pixverse-monitor"

[[sinks]]
name = "ops"
type = "webhook"
url = "https://hooks.example.com/pixverse"
secret_file = "key"
min_severity = "warning"
send_resolved = true
timeout = "10s"
"""
    config = parse(text, env, tmp_path)
    (sink,) = config.sinks  # type: ignore[attr-defined]
    assert sink.type is SinkType.WEBHOOK
    assert sink.secret.reveal() == SINK_SECRET
    assert sink.min_severity is Severity.WARNING
    assert sink.url.reveal() == "https://hooks.example.com/pixverse"


TEN_YEARS = "at most 3650d (ten years)"
NOT_IDNA = "http://xn--a.example/"  # passes urlsplit; no IDNA codec can encode it
SOURCE = "[[sources]]\nname = 'main'\n"
SINK = "[[sinks]]\nname = 'ops'\nurl = 'http://127.0.0.1:9/hook'\n"

# (text, the key the error names, what its problem says): the one table of settings refused.
BAD = [
    ("bogus = 1", "bogus", "unknown key"),
    ("[poll]\nintervall = '5m'", "poll.intervall", "unknown key"),
    ("[poll]\ninterval = 'soon'", "poll.interval", "duration"),
    ("[poll]\ninterval = '0s'", "poll.interval", "greater than zero"),
    ("[poll]\ninterval = true", "poll.interval", "duration"),
    ("[poll]\ntimeout = '-5s'", "poll.timeout", "duration"),
    ("[poll]\njitter = '10m'", "poll.jitter", "shorter than poll.interval"),
    ("[poll]\nstale_after = '1m'", "poll.stale_after", "at least poll.interval"),
    ("[poll]\nmax_response_bytes = 'big'", "poll.max_response_bytes", "expected an integer"),
    ("[poll]\nmax_response_bytes = 10", "poll.max_response_bytes", "at least 1024"),
    ("poll = 5", "poll", "expected a table"),
    ("[thresholds]\ncritical = '72h'", "thresholds.critical", "shorter than thresholds.warning"),
    ("[thresholds]\ncritical = '100h'", "thresholds.critical", "shorter than"),
    ("[thresholds]\nmin_usable_capacity = -1", "thresholds.min_usable_capacity", ">= 0"),
    ("[thresholds]\nmin_usable_capacity = 1.5", "thresholds.min_usable_capacity", "integer"),
    ("[thresholds]\nmin_usable_capacity = true", "thresholds.min_usable_capacity", "integer"),
    ("[metrics]\nlisten = 'localhost'", "metrics.listen", "HOST:PORT"),
    ("[metrics]\nlisten = '::1:80'", "metrics.listen", "brackets"),
    ("[metrics]\naccount_label = 'name'", "metrics.account_label", "one of email, username"),
    ("[alerts]\nrepeat_interval = 'often'", "alerts.repeat_interval", "duration"),
    ("[alerts]\nrepeat_interval = '30s'", "alerts.repeat_interval", "at least 1m"),
    ("[[sources]]\nname = 'a'\ntoken = 'x'", "sources[0].token", "not accepted inline"),
    ("[[sources]]\nname = 'a'\n[[sources]]\nname = 'a'", "sources[1].name", "duplicate"),
    ("[[sources]]\nname = 'a'\n[[sources]]\nbase_url = 'https://x'", "sources[1].name", "required"),
    ("[[sources]]\nname = ''", "sources[0].name", "empty"),
    ("[[sources]]\nname = '" + "s" * 129 + "'", "sources[0].name", "at most 128"),
    ("[[sources]]\nname = 'a'\nbase_url = 'ftp://x'", "sources[0].base_url", "http"),
    (
        "[[sources]]\nname = 'a'\ncapacity_endpoint = 'yes'",
        "sources[0].capacity_endpoint",
        "boolean",
    ),
    (
        "[[sources]]\nname = 'a'\ntoken_file = '/nonexistent/t'",
        "sources[0].token_file",
        "cannot read",
    ),
    ("[[sources]]\nname = 'a'\ntoken_env = 'NOPE_UNSET'", "sources[0].token_env", "unset or empty"),
    (
        "[[sources]]\nname = 'a'\ntoken_env = 'X'\ntoken_file = 't'",
        "sources[0].token_env",
        "not both",
    ),
    ("sources = [1]", "sources[0]", "expected a table"),
    ("[metrics]\nexternal_url = 'ops.example'", "metrics.external_url", "http"),
    ("[metrics]\nexternal_url = 'https://u:pw@ops.example'", "metrics.external_url", "password"),
    ("[metrics]\nexternal_url = 'https://u@ops.example'", "metrics.external_url", "user"),
    ("[metrics]\nexternal_url = 'https://ops.example/?a=1'", "metrics.external_url", "query"),
    ("[metrics]\nexternal_url = 'https://ops.example/#top'", "metrics.external_url", "fragment"),
    ("[metrics]\nexternal_url = 'https://ops.example:0'", "metrics.external_url", "port"),
    ("[metrics]\nexternal_url = 1", "metrics.external_url", "string"),
    ("[[sinks]]\ntype = 'webhook'\nurl = 'https://x'", "sinks[0].name", "required"),
    ("[[sinks]]\nname = 'a'\ntype = 'pager'\nurl = 'https://x'", "sinks[0].type", "one of webhook"),
    ("[[sinks]]\nname = 'a'", "sinks[0].url", "required"),
    ("[[sinks]]\nname = 'a'\nurl = 'hooks.example.com'", "sinks[0].url", "http"),
    (
        "[[sinks]]\nname = 'a'\nurl = 'https://x'\nsecret = 's'",
        "sinks[0].secret",
        "not accepted inline",
    ),
    (
        "[[sinks]]\nname = 'a'\nurl = 'https://x'\nmin_severity = 'info'",
        "sinks[0].min_severity",
        "one of",
    ),
    (
        "[[sinks]]\nname = 'a'\nurl = 'https://x'\nsend_resolved = 1",
        "sinks[0].send_resolved",
        "boolean",
    ),
    ("[[sinks]]\nname = 'a'\nurl = 'https://x'\ntimeout = 'x'", "sinks[0].timeout", "duration"),
    (
        "[[sinks]]\nname = 'a'\ntype = 'slack'\nurl = 'https://x'\nsecret_file = 'k'",
        "sinks[0].secret_file",
        "only webhook",
    ),
    (
        "[[sinks]]\nname = 'a'\nurl = 'https://x'\nmatchers = ['team=\"a\"', 'team~\"b\"']",
        "sinks[0].matchers[1]",
        "'team~\"b\"': expected =, !=, =~ or !~ after the label name 'team'",
    ),
    (
        "[[sinks]]\nname = 'a'\nurl = 'https://x'\nmatchers = 'team=\"a\"'",
        "sinks[0].matchers",
        "expected an array",
    ),
    ("[[sinks]]\nname = 'a'\nurl = 'https://x'\nmatchers = [1]", "sinks[0].matchers[0]", "string"),
    (
        "[[sinks]]\nname = 'a'\nurl = 'https://x'\nmatchers = ['x=~\"(\"']",
        "sinks[0].matchers[0]",
        "not a valid regex",
    ),
    (
        "[[sinks]]\nname = 'a'\nurl = 'https://x'\ntoken_file = 'k'",
        "sinks[0].token_file",
        "only ntfy",
    ),
    ("[[sinks]]\nname = 'a'\ntype = 'ntfy'\nurl = 'https://ntfy.sh/'", "sinks[0].url", "topic"),
    (
        "[[sinks]]\nname = 'a'\ntype = 'ntfy'\nurl = 'https://ntfy.sh/t'\ntoken = 'tk_x'",
        "sinks[0].token",
        "not accepted inline",
    ),
    (
        "[[sinks]]\nname = 'a'\nurl = 'https://x'\ngroup_wait = '11m'",
        "sinks[0].group_wait",
        "at most 10m",
    ),
    (
        "[[sinks]]\nname = 'a'\nurl = 'https://x'\n[[sinks]]\nname = 'a'\nurl = 'https://y'",
        "sinks[1].name",
        "duplicate",
    ),
    # Durations past ten years (a typo, and an overflow of the date arithmetic they feed).
    ("[poll]\ninterval = '999999999999d'", "poll.interval", TEN_YEARS),
    ("[poll]\ntimeout = '999999999999d'", "poll.timeout", TEN_YEARS),
    ("[poll]\nstale_after = '999999999999d'", "poll.stale_after", TEN_YEARS),
    ("[poll]\njitter = '999999999999d'", "poll.jitter", TEN_YEARS),
    ("[thresholds]\nwarning = '999999999999d'", "thresholds.warning", TEN_YEARS),
    ("[thresholds]\ncritical = '999999999999d'", "thresholds.critical", TEN_YEARS),
    ("[alerts]\nrepeat_interval = '999999999999d'", "alerts.repeat_interval", TEN_YEARS),
    (f"{SINK}timeout = '999999999999d'", "sinks[0].timeout", TEN_YEARS),
    ("[poll]\ninterval = '" + "9" * 400 + "s'", "poll.interval", TEN_YEARS),
    ("[poll]\ninterval = 9223372036854775807", "poll.interval", TEN_YEARS),
    # Settings that would page by themselves.
    ("[poll]\ninterval = '1ms'\njitter = 0", "poll.interval", "at least 1s, got 1ms"),
    ("[poll]\ninterval = '999ms'\njitter = 0", "poll.interval", "at least 1s, got 999ms"),
    (
        "[poll]\ninterval = '1m'\njitter = '5s'\nstale_after = '1m'",
        "poll.stale_after",
        "poll.interval + poll.jitter + poll.timeout (1m20s)",
    ),
    (
        "[poll]\ninterval = '1m'\njitter = '10s'\ntimeout = '15s'\nstale_after = '84s'",
        "poll.stale_after",
        "(1m25s)",
    ),
    # URLs httpx could not use later: ports, IDNA hosts.
    (f"{SOURCE}base_url = 'http://127.0.0.1:99999'", "sources[0].base_url", "Port out of range"),
    (f"{SOURCE}base_url = 'http://127.0.0.1:0'", "sources[0].base_url", "port must be 1..65535"),
    (f"{SOURCE}base_url = '{NOT_IDNA}'", "sources[0].base_url", "not a valid URL"),
    (f"{SOURCE}base_url = 'http://[::1'", "sources[0].base_url", "Invalid IPv6 URL"),
    (SINK.replace(":9/", ":99999/"), "sinks[0].url", "Port out of range"),
    (SINK.replace("http://127.0.0.1:9/hook", NOT_IDNA), "sinks[0].url", "not a valid URL"),
    (SINK.replace("127.0.0.1:9", "\u2603.example"), "sinks[0].url", "Invalid IDNA hostname"),
    ("[metrics]\nlisten = '127.0.0.1:99999'", "metrics.listen", "0..65535"),
    # A matcher without an operator (one whose regex does not compile is above).
    (f"{SINK}matchers = ['team:studio']", "sinks[0].matchers[0]", "expected =, !=, =~ or !~"),
    # Names and labels go into every alert the state file keeps: one it could not load back
    # made the next start drop every alert and pending notification it was on.
    (SINK.replace("'ops'", f"'{'o' * 129}'"), "sinks[0].name", "at most 128"),
    (
        f"[[accounts]]\nmatch = '*'\nlabels = {{ team = '{'t' * 1025}' }}",
        "accounts[0].labels.team",
        "at most 1024",
    ),
    (
        f"[[accounts]]\nmatch = '*'\nlabels = {{ {'n' * 129} = 'x' }}",
        "accounts[0].labels",
        "a label name of 129 characters",
    ),
    (
        "[[accounts]]\nmatch = '*'\nlabels = { "
        + ", ".join(f"l{i} = 'x'" for i in range(33))
        + " }",
        "accounts[0].labels",
        "has 33 labels; at most 32",
    ),
]


@pytest.mark.parametrize(("text", "key", "problem"), BAD, ids=[b[1] + ":" + b[2] for b in BAD])
def test_errors_name_the_key(
    text: str,
    key: str,
    problem: str,
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(text, env)
    assert caught.value.key == key
    assert problem in caught.value.problem
    assert str(caught.value).startswith(key)
    # As the commands meet it: exit 2 and one line naming the key, never a traceback.
    path = tmp_path / "config.toml"
    path.write_text(text)
    monkeypatch.setenv("USEAPI_TOKEN", TOKEN)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    try:
        for argv in (["config", "check", str(path)], ["run", "--config", str(path)]):
            assert main(argv) == 2, argv
            err = capsys.readouterr().err
            (line,) = err.splitlines()
            assert key in line, line
            assert "Traceback" not in err
    finally:
        configure_logging("warning", "json", stream=io.StringIO())


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ("https://ops.example/pixverse/", "https://ops.example/pixverse"),
        ("http://[::1]:9877", "http://[::1]:9877"),
        ("https://ops.example", "https://ops.example"),
        ("", None),  # derived from listen when the daemon starts
    ],
)
def test_the_external_url(written: str, kept: str | None, env: dict[str, str]) -> None:
    config = parse_config({"metrics": {"external_url": written}}, env=env)
    assert config.metrics.external_url == kept
    assert parse_config({}, env=env).metrics.external_url is None


def test_missing_token_names_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({}, env={})
    assert caught.value.key == "sources[0].token_file"
    assert "$USEAPI_TOKEN" in caught.value.problem


def test_token_lookup_order(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "useapi-token").write_text("from-credentials\n")
    (tmp_path / "file-token").write_text("from-file\n")
    env = {"CREDENTIALS_DIRECTORY": str(creds), "USEAPI_TOKEN": "from-env", "MINE": "from-mine"}

    def token(text: str, env: dict[str, str]) -> str:
        config = parse_config(tomllib.loads(text), env=env, base_dir=tmp_path)
        return config.sources[0].token.reveal()

    assert token("[[sources]]\nname='a'\ntoken_file='file-token'", env) == "from-file"
    assert token("[[sources]]\nname='a'\ntoken_env='MINE'", env) == "from-mine"
    assert token("", env) == "from-credentials"
    assert token("", {**env, "CREDENTIALS_DIRECTORY": str(tmp_path / "none")}) == "from-env"
    assert token("", {"USEAPI_TOKEN": "from-env"}) == "from-env"


def test_the_token_beside_the_config_file_comes_last(tmp_path: Path) -> None:
    """As installed by docs/install.md: config.toml names no token, and useapi-token beside it is
    what the unit's LoadCredential= copies. Root on the host reads that file directly."""
    path = tmp_path / "config.toml"
    path.write_text("[[sources]]\nname = 'a'\n")
    beside = tmp_path / "useapi-token"
    beside.write_text("from-beside\n")
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "useapi-token").write_text("from-credentials\n")

    def loaded(env: dict[str, str]) -> tuple[str, str]:
        (source,) = load_config(path, env=env).sources
        return source.token.reveal(), source.token_origin

    assert loaded({}) == ("from-beside", f"file {beside}")
    assert loaded({"USEAPI_TOKEN": "from-env"})[0] == "from-env"
    assert loaded({"CREDENTIALS_DIRECTORY": str(creds)})[0] == "from-credentials"
    # An explicit token_file wins over all of them.
    (tmp_path / "other").write_text("from-other")
    path.write_text("[[sources]]\nname = 'a'\ntoken_file = 'other'\n")
    assert loaded({})[0] == "from-other"


def test_an_empty_token_beside_the_config_names_the_file_and_no_key(tmp_path: Path) -> None:
    """No key of the file names the token beside it: the error says which file was read and
    why, rather than a `sources[0].token_file` the reader would look for in vain."""
    path = tmp_path / "config.toml"
    path.write_text("")
    (tmp_path / "useapi-token").write_text("\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert caught.value.key == ""
    assert str(caught.value) == (
        f"{tmp_path / 'useapi-token'} is empty (the useapi.net token of source 'default', "
        "read from beside the config file because the source sets neither token_file nor "
        "token_env)"
    )


def test_a_token_beside_the_config_that_cannot_be_read_names_the_file_and_no_key(
    tmp_path: Path,
) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[[sources]]\nname = 'main'\n")
    (tmp_path / "useapi-token").mkdir()  # unreadable as a file, even for root
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert caught.value.key == ""
    assert str(caught.value).startswith(f"cannot read {tmp_path / 'useapi-token'}: ")
    assert "source 'main'" in str(caught.value)
    assert "neither token_file nor token_env" in str(caught.value)

    def denied(file: Path) -> str:
        raise PermissionError(13, "Permission denied")

    with pytest.raises(ConfigError) as caught:
        parse_config(
            tomllib.loads(path.read_text()),
            env={},
            base_dir=tmp_path,
            path=path,
            read_text=denied,
        )
    assert (caught.value.key, str(caught.value).split(" (")[0]) == (
        "",
        f"cannot read {tmp_path / 'useapi-token'}: Permission denied",
    )
    # A token_file that is set is still named by its key.
    path.write_text("[[sources]]\nname = 'main'\ntoken_file = 'useapi-token'\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert caught.value.key == "sources[0].token_file"
    assert "beside the config" not in str(caught.value)


def test_no_token_anywhere_names_every_place_looked(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    problem = caught.value.problem
    assert "$CREDENTIALS_DIRECTORY/useapi-token" in problem
    assert "$USEAPI_TOKEN" in problem
    assert str(tmp_path / "useapi-token") in problem


def test_tokens_can_be_left_unread(tmp_path: Path) -> None:
    """`notify-test` never calls useapi.net: a missing or unreadable token is no error."""
    path = tmp_path / "config.toml"
    path.write_text("[[sources]]\nname = 'a'\ntoken_file = '/nonexistent/token'\n")
    with pytest.raises(ConfigError):
        load_config(path, env={})
    (source,) = load_config(path, env={}, read_tokens=False).sources
    assert source.token.reveal() == ""
    assert source.token_origin.startswith("not read")
    # Still validated: the key itself must make sense.
    path.write_text("[[sources]]\nname = 'a'\ntoken_file = 't'\ntoken_env = 'X'\n")
    with pytest.raises(ConfigError, match="not both"):
        load_config(path, env={}, read_tokens=False)


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[poll\ninterval = 5")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken, env={"USEAPI_TOKEN": "x"})
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "absent.toml", env={"USEAPI_TOKEN": "x"})


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "tok").write_text("relative-token")
    path = tmp_path / "c.toml"
    path.write_text("[[sources]]\nname='a'\ntoken_file='tok'\n")
    assert load_config(path, env={}).sources[0].token.reveal() == "relative-token"


def test_rendered_config_masks_secrets_and_loads_back(tmp_path: Path) -> None:
    (tmp_path / "key").write_text(SINK_SECRET)
    (tmp_path / "token").write_text(TOKEN)
    (tmp_path / "slack-url").write_text(SLACK_URL)
    path = tmp_path / "c.toml"
    path.write_text(
        """
[[sources]]
name = "prod"
token_file = "token"
[poll]
interval = "90s"
[thresholds]
warning = "3d"
critical = "1h30m"
[[sinks]]
name = "ops"
url = "https://hooks.example.com/pixverse?key=SECRETquery"
secret_file = "key"
[[sinks]]
name = "chat"
type = "slack"
url_file = "slack-url"
"""
    )
    config = load_config(path, env={})
    text = render_config(config)
    for secret in (TOKEN, SINK_SECRET, "SECRETslackpath", "SECRETquery"):
        assert secret not in text
        assert secret not in repr(config)
    assert 'interval = "1m30s"' in text
    assert 'critical = "1h30m"' in text
    assert "hooks.slack.com/…" in text
    # What it prints is itself a valid config, minus the masked URL of the inline sink.
    reloaded = tomllib.loads(text)
    assert reloaded["sources"][0]["token_file"] == str(tmp_path / "token")
    assert reloaded["thresholds"]["warning"] == "3d"


def test_resolve_grace_of_alertmanager_sinks(tmp_path: Path) -> None:
    def sinks(text: str) -> tuple[SinkConfig, ...]:
        return parse_config(tomllib.loads(text), env={"USEAPI_TOKEN": "t"}).sinks

    am = "[[sinks]]\nname = 'am'\ntype = 'alertmanager'\nurl = 'http://am:9093'\n"
    (default,) = sinks(am)
    assert default.resolve_grace == timedelta(minutes=2)
    (zero,) = sinks(am + "resolve_grace = 0\n")
    assert zero.resolve_grace == timedelta(0)
    hook = "[[sinks]]\nname = 'h'\nurl = 'http://h/x'\n"
    assert sinks(hook)[0].resolve_grace == timedelta(0)
    with pytest.raises(ConfigError) as caught:
        sinks(hook + "resolve_grace = '1m'\n")
    assert caught.value.key == "sinks[0].resolve_grace"


CONFIGURATION_DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def reference_block() -> str:
    """The TOML block of docs/configuration.md, "Every key and its default"."""
    text = CONFIGURATION_DOC.read_text()
    section = text[text.index("## Every key and its default") :]
    start = section.index("```toml\n") + len("```toml\n")
    block = section[start : section.index("\n```", start)]
    assert "[thresholds]" in block  # never an empty block, which would load to the defaults
    return block


def documented_keys(block: str) -> set[str]:
    """`table.key` of every key the block shows, commented out or not."""
    keys: set[str] = set()
    table = ""
    for raw in block.splitlines():
        line = raw.lstrip("# ").split("  #")[0].strip()
        if header := re.fullmatch(r"\[\[?(\w+)\]\]?", line):
            table = header.group(1)
        elif key := re.match(r"(\w+)\s*=", line):
            keys.add(f"{table}.{key.group(1)}")
    return keys


def test_the_documented_defaults_block_holds_only_defaults() -> None:
    """docs/configuration.md: every uncommented key of its block is the default value, so
    the block loads to the very configuration an empty file does."""
    block = reference_block()
    env = {"USEAPI_TOKEN": "t"}
    documented = parse_config(tomllib.loads(block), env=env)
    assert documented == parse_config({}, env=env)
    assert "[[sinks]]" not in [line.strip() for line in block.splitlines()]  # none by default


def test_every_key_the_loader_reads_is_documented_and_no_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keys of docs/configuration.md are those the loader reads, found by recording what
    it looks up while loading configs that reach every branch: a new key fails this until it
    is documented, and a documented key the loader no longer knows fails it too."""
    read: set[str] = set()
    finish = Table.finish

    def recording_finish(self: Table) -> None:
        path = re.sub(r"\[\d+\]", "", self.key("")).rstrip(".")
        # Not the top level (its tables), nor labels (names of the reader's own choosing).
        if path and not path.startswith("accounts.labels"):
            read.update(f"{path}.{name}" for name in self._seen)
        finish(self)

    monkeypatch.setattr(Table, "finish", recording_finish)
    for name, text in every_key_files(self_signed(tmp_path)[0].read_text()).items():
        (tmp_path / name).write_text(text + "\n")
    for text in (reference_block(), EVERY_KEY):
        parse_config(
            tomllib.loads(text), env={"TOKEN": "t", "USEAPI_TOKEN": "t"}, base_dir=tmp_path
        )
    assert documented_keys(reference_block()) == read
