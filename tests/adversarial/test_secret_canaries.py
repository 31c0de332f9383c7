"""Secret canaries: distinct values for every kind of credential, a run of the daemon at debug
level through faults, then every log line, /metrics, the status page and its JSON, the state
file and the output of every command are searched for them."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import httpx
import orjson
import pytest

from monitor.testing.fakeapi import ACCOUNTS, AVAILABLE, FakeAccount, FakeUpstream, Fault
from monitor.testing.receiver import WebhookReceiver
from tests.helpers import DAY, ConfigWriter, eventually
from tests.helpers.certs import self_signed
from tests.helpers.commands import cli
from tests.helpers.smtp import FakeSmtp

TOKEN = "canary-useapi-TOKEN-3e9a1f7c"
HMAC_KEY = "canary-webhook-HMAC-77aa12"
SLACK_PATH = "/services/T0CANARY/B0CANARY/canarySlackPathSecret9f"
# A Slack sink nothing listens at: its connection errors reach the status page's deliveries.
DEAD_SLACK_PATH = "/services/T0DEAD/B0DEAD/canaryDeadSlackSecret4e"
AM_PASSWORD = "canary-am-PASSWORD-51c"
BASIC_PASSWORD = "canary-basic-PASSWORD-c0de"
NTFY_TOKEN = "tk_canaryNtfyTOKEN7d41e0"
NTFY_TOPIC = "/canaryNtfyTopicSecret42"  # the topic is as good as a password
SMTP_PASSWORD = "canary-smtp-PASSWORD-8e2d"
APPRISE_PATH = "/canaryApprisePathSecret31"  # an Apprise URL's path: its service's credential
APPRISE_PASSWORD = "canary-apprise-PASSWORD-6b"
TELEGRAM_TOKEN = "7654321098:AAcanaryTelegramBotTOKEN1234567"  # in the URL path it is sent to
DISCORD_PATH = "/api/webhooks/112233/canaryDiscordWebhookTOKEN77"
TEAMS_SIG = "canaryTeamsWorkflowSIG9c3"
TEAMS_PATH = "/workflows/abc/triggers/manual/paths/invoke"


class Process:
    """The daemon as a process, every line of its output collected as it comes."""

    def __init__(self, args: list[str]) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "monitor", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.popen.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.popen.stderr, self.err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: object, into: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            into.append(line)

    def events(self, name: str) -> list[dict[str, object]]:
        found = []
        for line in list(self.out):
            if line.startswith("{"):
                event = orjson.loads(line)
                if event.get("event") == name:
                    found.append(event)
        return found

    def stop(self) -> int:
        self.popen.send_signal(signal.SIGTERM)
        code = self.popen.wait(timeout=30)
        for reader in self._readers:
            reader.join(timeout=5)
        return code


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[FakeSmtp]:
    cert = self_signed(tmp_path)
    with FakeSmtp("starttls", cert=cert, users={"alerts": SMTP_PASSWORD}) as server:
        yield server


def test_no_secret_anywhere_after_a_run_through_the_faults(
    configs: ConfigWriter, receiver: WebhookReceiver, smtp: FakeSmtp, now: float, tmp_path: Path
) -> None:
    accounts = [
        FakeAccount("expired@x.io", now - DAY, max_jobs=4),
        FakeAccount("fine@x.io", now + 30 * DAY, max_jobs=4),
    ]
    with FakeUpstream(TOKEN, accounts) as fake:
        token_file = tmp_path / "token"
        token_file.write_text(TOKEN + "\n")
        hmac_file = tmp_path / "hmac"
        hmac_file.write_text(HMAC_KEY)
        ntfy_token = tmp_path / "ntfy-token"
        ntfy_token.write_text(NTFY_TOKEN + "\n")
        smtp_password = tmp_path / "smtp-password"
        smtp_password.write_text(SMTP_PASSWORD + "\n")
        apprise_urls = tmp_path / "apprise-urls"
        apprise_host = receiver.url.removeprefix("http://")
        apprise_url = f"json://user:{APPRISE_PASSWORD}@{apprise_host}{APPRISE_PATH}"
        apprise_urls.write_text(apprise_url + "\n")
        bot_token = tmp_path / "telegram-token"
        bot_token.write_text(TELEGRAM_TOKEN + "\n")
        discord_url = tmp_path / "discord-url"
        discord_url.write_text(receiver.url + DISCORD_PATH + "\n")
        teams_url = tmp_path / "teams-url"
        teams_url.write_text(f"{receiver.url}{TEAMS_PATH}?api-version=1&sig={TEAMS_SIG}\n")
        web_config = tmp_path / "web.yml"
        hashed = bcrypt.hashpw(BASIC_PASSWORD.encode(), bcrypt.gensalt(4)).decode()
        web_config.write_text(f"basic_auth_users:\n  prometheus: '{hashed}'\n")
        am_url = receiver.url.replace("http://", f"http://am-user:{AM_PASSWORD}@")
        config = configs.write(
            f"""
[[sources]]
name = "main"
base_url = "{fake.base_url}"
token_file = "{token_file}"

[poll]
interval = "1s"
timeout = "1s"
jitter = 0

[metrics]
listen = "127.0.0.1:0"
web_config_file = "{web_config}"

[alerts]
state_dir = "{tmp_path / "state"}"

[[sinks]]
name = "hook"
url = "{receiver.url}/hook"
secret_file = "{hmac_file}"

[[sinks]]
name = "chat"
type = "slack"
url = "{receiver.url}{SLACK_PATH}"

[[sinks]]
name = "am"
type = "alertmanager"
url = "{am_url}"

[[sinks]]
name = "push"
type = "ntfy"
url = "{receiver.url}{NTFY_TOPIC}"
token_file = "{ntfy_token}"

[[sinks]]
name = "phones"
type = "telegram"
bot_token_file = "{bot_token}"
chat_id = -1001234567890
api_url = "{receiver.url}"

[[sinks]]
name = "discord"
type = "discord"
url_file = "{discord_url}"

[[sinks]]
name = "office"
type = "teams"
url_file = "{teams_url}"

[[sinks]]
name = "dead"
type = "slack"
url = "http://127.0.0.1:1{DEAD_SLACK_PATH}"

[[sinks]]
name = "mail"
type = "email"
smtp_host = "127.0.0.1"
smtp_port = {smtp.port}
username = "alerts"
password_file = "{smtp_password}"
ca_file = "{tmp_path / "smtp.crt"}"
from = "alerts@example.com"
to = ["ops@example.com"]

[[sinks]]
name = "anything"
type = "apprise"
url_file = "{apprise_urls}"
"""
        )
        daemon = Process(["run", "--config", str(config), "--log-level", "debug"])
        outputs: list[str] = []
        try:
            (started,) = eventually(lambda: daemon.events("daemon.started"), timeout=15)
            port = int(str(started["listen"]).rsplit(":", 1)[1])
            eventually(
                lambda: (
                    (
                        {r.path.split("?")[0] for r in receiver.accepted()}
                        >= {"/hook", SLACK_PATH, "/api/v2/alerts", NTFY_TOPIC, DISCORD_PATH}
                        | {f"/bot{TELEGRAM_TOKEN}/sendMessage", TEAMS_PATH, APPRISE_PATH}
                    )
                    and smtp.accepted()
                ),
                timeout=15,
                what="a notification to every sink",
            )
            # Faults: an upstream error text repeating the token, a failing capacity call,
            # a sink that fails once and is retried.
            echo = orjson.dumps({"error": f"token {TOKEN} is not valid", "code": 401})
            fake.fail_always(ACCOUNTS, Fault(401, body=echo))
            fake.fail_always(AVAILABLE, Fault(500, body=echo, headers={"Retry-After": "0"}))
            receiver.respond(500, times=3)
            seen = len(fake.requests)
            eventually(lambda: len(fake.requests) >= seen + 3, timeout=10, what="failed polls")
            for args in (
                ["check"],
                ["check", "--json"],
                ["notify-test"],
                ["notify-test", "--dry-run"],
            ):
                done = cli(*args, "--config", str(config), "--log-level", "debug")
                outputs += [done.stdout, done.stderr]
            done = cli("config", "check", str(config), "--log-level", "debug")
            outputs += [done.stdout, done.stderr]
            assert done.returncode == 0, done.stderr
            fake.fail_always(ACCOUNTS, None)
            fake.fail_always(AVAILABLE, None)
            daemon.popen.send_signal(signal.SIGHUP)
            eventually(lambda: daemon.events("config.reloaded"), timeout=10, what="a reload")
            metrics_url = f"http://127.0.0.1:{port}/metrics"
            wrong = httpx.get(metrics_url, auth=("prometheus", "wrong-" + BASIC_PASSWORD))
            assert wrong.status_code == 401
            scraped = httpx.get(metrics_url, auth=("prometheus", BASIC_PASSWORD))
            assert scraped.status_code == 200
            outputs.append(scraped.text)
            # The status page and its JSON: every sink's recent deliveries, failures with why.
            for path in ("/", "/api/v1/status"):
                url = f"http://127.0.0.1:{port}{path}"
                shown = httpx.get(url, auth=("prometheus", BASIC_PASSWORD))
                assert shown.status_code == 200
                outputs.append(shown.text)
            page = outputs[-2]
        finally:
            code = daemon.stop()
        served = fake.secrets_served()
    assert code == 0, "".join(daemon.err)
    state = (tmp_path / "state" / "state.json").read_text()
    logs = "".join(daemon.out + daemon.err)

    # The run did what it had to, so that a leak would have shown.
    assert '"HTTP Request: POST' in logs, "httpx's own request lines are in the debug log"
    assert "is not valid" in logs and "is not valid" in "".join(outputs)
    assert "PixverseTokenExpired" in state
    pushed = [r for r in receiver.accepted() if r.path == NTFY_TOPIC]
    assert pushed and pushed[0].headers["authorization"] == f"Bearer {NTFY_TOKEN}"
    assert smtp.logins[0] == ("alerts", True)
    assert [r for r in receiver.accepted() if r.path == APPRISE_PATH]
    assert "connection_error: ConnectError" in page and "http_5xx: HTTP 500" in page

    canaries = {
        "useapi token": TOKEN,
        "webhook secret": HMAC_KEY,
        "slack url path": SLACK_PATH,
        "slack url": receiver.url + SLACK_PATH,
        "dead slack url path": DEAD_SLACK_PATH,
        "dead slack url": f"http://127.0.0.1:1{DEAD_SLACK_PATH}",
        "alertmanager password": AM_PASSWORD,
        "ntfy token": NTFY_TOKEN,
        "ntfy topic": NTFY_TOPIC,
        "smtp password": SMTP_PASSWORD,
        "apprise url": apprise_url,
        "apprise url path": APPRISE_PATH,
        "apprise url password": APPRISE_PASSWORD,
        "telegram bot token": TELEGRAM_TOKEN,
        "telegram bot token's key": TELEGRAM_TOKEN.split(":")[1],
        "discord url path": DISCORD_PATH,
        "teams url signature": TEAMS_SIG,
        "basic-auth password": BASIC_PASSWORD,
        **{f"upstream secret {i}": value for i, value in enumerate(served)},
    }
    places = {"daemon logs": logs, "state file": state, "command output": "\n".join(outputs)}
    leaks = [
        f"{what} in {where}"
        for what, value in canaries.items()
        for where, text in places.items()
        if value in text
    ]
    assert not leaks, leaks
