"""Reading the keys only a telegram sink takes: the bot's token (a secret, read from a file),
the chat and forum topic it writes to, and where the Bot API is. The sendMessage URL they make
is the sink's URL, a secret: the token is in its path."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from monitor.config.addresses import check_http_url, redact_url
from monitor.config.table import Table
from monitor.errors import ConfigError
from monitor.secret import MASK, Secret

DEFAULT_API_URL = "https://api.telegram.org"
# What @BotFather hands out: the bot's id, a colon, then letters, digits, "_" and "-"; nothing
# else may go into the URL path the token is sent in.
_BOT_TOKEN = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{20,200}")
# A chat: its id (a user or group; "-100..." for a supergroup or channel), or "@username"
# for a public channel.
_CHAT_ID = re.compile(r"-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31}")
_CHAT_ID_HELP = "a chat id such as -1001234567890, or @channelusername"


@dataclass(frozen=True, slots=True)
class TelegramTarget:
    """Where a telegram sink's messages go: the sendMessage URL (a secret), how it may be
    shown, the token's file, the chat and the forum topic."""

    url: Secret
    url_display: str
    bot_token_file: Path
    chat_id: str
    message_thread_id: int | None
    api_url: str


def read_telegram(
    table: Table, read_secret: Callable[[str, Path], Secret], base_dir: Path
) -> TelegramTarget:
    """The keys of a telegram sink; ConfigError naming the key at fault."""
    for key in ("url", "url_file"):
        if table.has(key):
            problem = "a telegram sink takes bot_token_file, chat_id and api_url instead"
            raise ConfigError(table.key(key), problem)
    table.reject_inline_secret("bot_token", "bot_token_file")
    path = table.optional_path("bot_token_file", base_dir)
    if path is None:
        problem = "is required: the file holding the bot's token (from @BotFather)"
        raise ConfigError(table.key("bot_token_file"), problem)
    token = read_secret(table.key("bot_token_file"), path)
    if not _BOT_TOKEN.fullmatch(token.reveal()):
        problem = f"{path} does not hold a bot token (the bot's id, a colon, then its key)"
        raise ConfigError(table.key("bot_token_file"), problem)
    api_url = table.string("api_url", DEFAULT_API_URL).rstrip("/")
    check_http_url(table.key("api_url"), api_url)
    if "@" in urlsplit(api_url).netloc:
        raise ConfigError(table.key("api_url"), "must carry no credentials (user:password@)")
    return TelegramTarget(
        url=Secret(f"{api_url}/bot{token.reveal()}/sendMessage"),
        url_display=f"{redact_url(api_url)}/bot{MASK}/sendMessage",
        bot_token_file=path,
        chat_id=_chat_id(table),
        message_thread_id=_thread_id(table),
        api_url=api_url,
    )


def _chat_id(table: Table) -> str:
    value: int | str = table.get("chat_id", (int, str))  # type: ignore[arg-type]
    text = str(value).strip()
    if not _CHAT_ID.fullmatch(text):
        raise ConfigError(table.key("chat_id"), f"must be {_CHAT_ID_HELP}; got {str(value)[:40]!r}")
    return text


def _thread_id(table: Table) -> int | None:
    if not table.has("message_thread_id"):
        return None
    value = table.get("message_thread_id", int)
    if value <= 0:
        problem = f"must be a forum topic's id (> 0); got {value}"
        raise ConfigError(table.key("message_thread_id"), problem)
    return value
