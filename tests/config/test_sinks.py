"""The keys of the telegram, discord and teams sinks: read, refused with the key named when
missing or wrong, and printed by `config check` with every credential masked."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from monitor.config.load import parse_config
from monitor.config.model import SinkType
from monitor.config.render import render_config
from monitor.errors import ConfigError
from monitor.secret import MASK

BOT_TOKEN = "7012345678:AAHconfigCanaryBotToken0123456789"
DISCORD_URL = "https://discord.com/api/webhooks/1122334455/configCanaryDiscordToken-xyz"
TEAMS_URL = (
    "https://prod-01.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke"
    "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=configCanaryTeamsSig42"
)
ENV = {"USEAPI_TOKEN": "t"}


@pytest.fixture
def base(tmp_path: Path) -> Path:
    (tmp_path / "bot").write_text(BOT_TOKEN + "\n")
    (tmp_path / "discord").write_text(DISCORD_URL + "\n")
    (tmp_path / "teams").write_text(TEAMS_URL + "\n")
    (tmp_path / "not-a-token").write_text("https://example.com\n")
    return tmp_path


CHATS = """
[[sinks]]
name = "phones"
type = "telegram"
bot_token_file = "bot"
chat_id = -1001234567890
message_thread_id = 42
[[sinks]]
name = "chat"
type = "discord"
url_file = "discord"
[[sinks]]
name = "office"
type = "teams"
url_file = "teams"
"""


def test_the_three_are_read(base: Path) -> None:
    phones, chat, office = parse_config(tomllib.loads(CHATS), env=ENV, base_dir=base).sinks
    assert phones.type is SinkType.TELEGRAM
    assert phones.url.reveal() == f"https://api.telegram.org/bot{BOT_TOKEN}/sendMessage"
    assert phones.url_display == f"https://api.telegram.org/bot{MASK}/sendMessage"
    assert (phones.chat_id, phones.message_thread_id) == ("-1001234567890", 42)
    assert phones.bot_token_file == base / "bot"
    assert (chat.type, chat.url.reveal()) == (SinkType.DISCORD, DISCORD_URL)
    assert (office.type, office.url.reveal()) == (SinkType.TEAMS, TEAMS_URL)
    assert BOT_TOKEN not in repr(phones) and DISCORD_URL not in repr(chat)


def test_config_check_prints_them_with_every_credential_masked(base: Path) -> None:
    text = render_config(parse_config(tomllib.loads(CHATS), env=ENV, base_dir=base))
    for secret in (BOT_TOKEN, BOT_TOKEN.split(":")[1], "configCanaryDiscordToken", "sig=config"):
        assert secret not in text
    assert f'bot_token_file = "{base / "bot"}"' in text
    assert 'chat_id = "-1001234567890"' in text and "message_thread_id = 42" in text
    assert f"# url: https://api.telegram.org/bot{MASK}/sendMessage" in text
    assert 'api_url = "https://api.telegram.org"' in text


TELEGRAM = "[[sinks]]\nname = 'p'\ntype = 'telegram'\n"
BAD = [
    (TELEGRAM + "chat_id = 1", "sinks[0].bot_token_file", "is required"),
    (TELEGRAM + "bot_token = 'x'\nchat_id = 1", "sinks[0].bot_token", "not accepted inline"),
    (TELEGRAM + "bot_token_file = 'missing'\nchat_id = 1", "sinks[0].bot_token_file", "cannot"),
    (TELEGRAM + "bot_token_file = 'not-a-token'\nchat_id = 1", "sinks[0].bot_token_file", "bot"),
    (TELEGRAM + "bot_token_file = 'bot'", "sinks[0].chat_id", "is required"),
    (TELEGRAM + "bot_token_file = 'bot'\nchat_id = 'general'", "sinks[0].chat_id", "chat id"),
    (TELEGRAM + "bot_token_file = 'bot'\nchat_id = true", "sinks[0].chat_id", "chat id"),
    (
        TELEGRAM + "bot_token_file = 'bot'\nchat_id = 1\nmessage_thread_id = 0",
        "sinks[0].message_thread_id",
        "topic",
    ),
    (
        TELEGRAM + "bot_token_file = 'bot'\nchat_id = 1\nmessage_thread_id = '42'",
        "sinks[0].message_thread_id",
        "expected an integer",
    ),
    (
        TELEGRAM + "bot_token_file = 'bot'\nchat_id = 1\napi_url = 'ftp://x'",
        "sinks[0].api_url",
        "",
    ),
    (
        TELEGRAM + "bot_token_file = 'bot'\nchat_id = 1\napi_url = 'https://u:p@tg.example'",
        "sinks[0].api_url",
        "credentials",
    ),
    (
        TELEGRAM + "bot_token_file = 'bot'\nchat_id = 1\nurl = 'https://x'",
        "sinks[0].url",
        "telegram",
    ),
    ("[[sinks]]\nname = 'c'\ntype = 'discord'", "sinks[0].url", "is required"),
    ("[[sinks]]\nname = 'c'\ntype = 'teams'\nurl = 'teams.example'", "sinks[0].url", ""),
    (
        "[[sinks]]\nname = 'c'\ntype = 'discord'\nurl = 'https://x'\nchat_id = 1",
        "sinks[0].chat_id",
        "unknown",
    ),
]


@pytest.mark.parametrize(("text", "key", "problem"), BAD, ids=[f"{b[1]}:{b[2]}" for b in BAD])
def test_errors_name_the_key(text: str, key: str, problem: str, base: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(tomllib.loads(text), env=ENV, base_dir=base)
    assert caught.value.key == key
    assert problem in caught.value.problem
    assert BOT_TOKEN not in str(caught.value)
