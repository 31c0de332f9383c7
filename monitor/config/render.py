"""The effective configuration written back as TOML, every secret masked (`config check`)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from monitor.config.model import AccountRule, Config, EmailSettings, SinkType, SmtpTls
from monitor.secret import MASK
from monitor.timefmt import format_duration


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, timedelta):
        return toml_string(format_duration(value))
    if isinstance(value, Path):
        return toml_string(str(value))
    if value is None:
        return '""'
    return toml_string(str(value))


# TOML basic strings: these have short escapes, every other control character (U+0000 to
# U+001F and U+007F) must be written as \uXXXX; everything else may stand as it is.
_SHORT_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
_CONTROLS = {chr(c): f"\\u{c:04X}" for c in (*range(0x20), 0x7F)} | _SHORT_ESCAPES
_BASIC_STRING = str.maketrans({**_CONTROLS, '"': '\\"', "\\": "\\\\"})
# A comment ends at the line's end and may hold no control character but tab: the same
# escapes, so a value shown in a comment cannot add a line to the document.
_COMMENT = str.maketrans({k: v for k, v in _CONTROLS.items() if k != "\t"})


def toml_string(text: str) -> str:
    """`text` as a TOML basic string, which loads back to the very same text."""
    return '"' + text.translate(_BASIC_STRING) + '"'


def _comment(text: str) -> str:
    return "# " + text.translate(_COMMENT)


def render_config(config: Config) -> str:
    """TOML of the configuration in force. Secrets and sink URLs appear only as masked
    comments; the files and variables they came from are shown as they were configured."""
    out: list[str] = []
    if config.path is not None:
        out.append(_comment(f"effective configuration of {config.path}"))
    for source in config.sources:
        out += ["", "[[sources]]"]
        out.append(f"name = {_value(source.name)}")
        out.append(f"base_url = {_value(source.base_url)}")
        if source.token_file is not None:
            out.append(f"token_file = {_value(source.token_file)}")
        if source.token_env is not None:
            out.append(f"token_env = {_value(source.token_env)}")
        out.append(_comment(f"token: {MASK} (from {source.token_origin})"))
        out.append(f"capacity_endpoint = {_value(source.capacity_endpoint)}")
        out.append(f"account_endpoint = {_value(source.account_endpoint)}")
        out.append(f"features_endpoint = {_value(source.features_endpoint)}")
    poll = config.poll
    out += ["", "[poll]"]
    out += [
        f"interval = {_value(poll.interval)}",
        f"timeout = {_value(poll.timeout)}",
        f"jitter = {_value(poll.jitter)}",
        f"stale_after = {_value(poll.stale_after)}",
        f"max_response_bytes = {poll.max_response_bytes}",
        f"account_interval = {_value(poll.account_interval)}",
        f"features_interval = {_value(poll.features_interval)}",
    ]
    t = config.thresholds
    out += ["", "[thresholds]"]
    out += [
        f"warning = {_value(t.warning)}",
        f"critical = {_value(t.critical)}",
        f"min_usable_capacity = {t.min_usable_capacity}",
        f"plan_warning = {_value(t.plan_warning)}",
        f"min_credits = {t.min_credits}",
    ]
    m = config.metrics
    out += ["", "[metrics]"]
    out += [
        f"listen = {_value(m.listen)}",
        f"account_label = {_value(m.account_label.value)}",
        f"web_config_file = {_value(m.web_config_file)}",
        f"external_url = {_value(m.external_url)}"
        if m.external_url is not None
        else _comment("external_url: derived from listen when the daemon starts"),
    ]
    a = config.alerts
    out += ["", "[alerts]"]
    out += [f"repeat_interval = {_value(a.repeat_interval)}", f"state_dir = {_value(a.state_dir)}"]
    for sink in config.sinks:
        out += ["", "[[sinks]]"]
        out.append(f"name = {_value(sink.name)}")
        out.append(f"type = {_value(sink.type.value)}")
        if sink.url_file is not None:
            out.append(f"url_file = {_value(sink.url_file)}")
        if sink.email is not None:
            out += _email(sink.email)
        elif sink.apprise_urls:
            out.append(_comment(f"urls: {sink.url_display} ({len(sink.apprise_urls)}, masked)"))
        else:
            out.append(_comment(f"url: {sink.url_display} (path and query masked)"))
        if sink.secret_file is not None:
            out.append(f"secret_file = {_value(sink.secret_file)}")
            out.append(_comment(f"secret: {MASK}"))
        if sink.token_file is not None:
            out.append(f"token_file = {_value(sink.token_file)}")
            out.append(_comment(f"token: {MASK}"))
        if sink.bot_token_file is not None:
            out.append(f"bot_token_file = {_value(sink.bot_token_file)}")
            out.append(_comment(f"bot token: {MASK}"))
        if sink.chat_id is not None:
            out.append(f"chat_id = {_value(sink.chat_id)}")
        if sink.message_thread_id is not None:
            out.append(f"message_thread_id = {_value(sink.message_thread_id)}")
        if sink.api_url is not None:
            out.append(f"api_url = {_value(sink.api_url)}")
        out.append(f"min_severity = {_value(sink.min_severity.value)}")
        out.append(f"send_resolved = {_value(sink.send_resolved)}")
        out.append(f"timeout = {_value(sink.timeout)}")
        out.append(f"group_wait = {_value(sink.group_wait)}")
        if sink.type is SinkType.ALERTMANAGER:
            out.append(f"resolve_grace = {_value(sink.resolve_grace)}")
        if sink.matchers:
            out.append(f"matchers = [{', '.join(toml_string(str(m)) for m in sink.matchers)}]")
    out += _account_rules(config.accounts)
    return "\n".join(out).lstrip("\n") + "\n"


def _email(email: EmailSettings) -> list[str]:
    out = [
        f"smtp_host = {_value(email.smtp_host)}",
        f"smtp_port = {email.smtp_port}",
        f"tls = {_value(email.tls.value)}",
    ]
    if email.username is not None:
        out.append(f"username = {_value(email.username)}")
        out.append(f"password_file = {_value(email.password_file)}")
        out.append(_comment(f"password: {MASK}"))
        if email.tls is SmtpTls.NONE:
            out.append(_comment('login and password sent unencrypted, as tls = "none" asks'))
    if email.ca_file is not None:
        out.append(f"ca_file = {_value(email.ca_file)}")
    out.append(f"from = {_value(email.sender)}")
    out.append(f"to = [{', '.join(toml_string(address) for address in email.recipients)}]")
    return out


def _account_rules(rules: tuple[AccountRule, ...]) -> list[str]:
    out: list[str] = []
    for rule in rules:
        out += ["", "[[accounts]]", f"match = {_value(rule.match)}"]
        out.append(f"ignore = {_value(rule.ignore)}")
        for name in ("warning", "critical", "plan_warning", "min_credits"):
            value = getattr(rule, name)
            if value is not None:
                out.append(f"{name} = {_value(value)}")
        if rule.labels:
            # Label names are validated identifiers, so they are bare keys.
            pairs = ", ".join(f"{name} = {_value(value)}" for name, value in rule.labels)
            out.append(f"labels = {{ {pairs} }}")
    return out
