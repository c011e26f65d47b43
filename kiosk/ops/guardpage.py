"""The guard's visitor desk on the status page (/guard): the visitor waiting at the gate, and a form to let them in
with a host and a purpose (access mode, `policy.strangers = "visitor"`).

The guard opens it on a phone or tablet on the gate's network with the status page's token. The form carries the
token as a field, so a page of another site cannot post it (it does not know the token), and the answer is a
redirect, so reloading it does not register the visit twice. What the form sends becomes a "visit" command to
the frame loop, which records the visit with its event before the gate opens, as for the guard's button; the
loop ignores it if no visitor is waiting (any more).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode

from kiosk.commands import Command

MAX_FORM = 4096  # bytes: a host and a purpose of 80 characters each, and the token, with room to spare

TEXTS = {
    "title": ("Bàn tiếp khách", "Visitor desk"),
    "waiting": ("Khách đang chờ ở cổng", "A visitor is waiting at the gate"),
    "since": ("chờ {seconds} giây, giấy tờ số ****{tail}", "waiting {seconds} s, ID number ****{tail}"),
    "since-no-id": ("chờ {seconds} giây", "waiting {seconds} s"),
    "none": ("Không có khách nào đang chờ.", "No visitor is waiting."),
    "host": ("Gặp ai", "Visiting"),
    "purpose": ("Mục đích", "Purpose"),
    "submit": ("Cho khách vào", "Let the visitor in"),
    "done": ("Đã ghi nhận lượt khách, cổng mở.", "Visit recorded; the gate opens."),
    "refused": ("Không ghi nhận được: {why}", "Not recorded: {why}"),
    "bad-host": ("hãy chọn người hoặc bộ phận được gặp", "choose whom the visitor sees"),
    "bad-purpose": ("hãy chọn mục đích", "choose a purpose"),
    "no-visitor": ("không còn khách nào chờ", "no visitor is waiting any more"),
    "free-host": ("Tên người hoặc bộ phận", "Person or department"),
}


@dataclass(frozen=True)
class Waiting:
    """The visitor under REVIEW, as the loop published it: how long ago (seconds), and their ID number's tail."""

    seconds: float
    id_tail: str | None


def text(key: str, lang: str, **values: object) -> str:
    vi, en = TEXTS[key]
    return (en if lang == "en" else vi).format(**values)


def visit_command(
    body: bytes, hosts: Sequence[str], purposes: Sequence[str], waiting: Waiting | None, at: float
) -> Command | str:
    """The command a submitted form asks for, or the key of the text saying why not."""
    form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=5)
    host = form.get("host", [""])[0].strip()
    purpose = form.get("purpose", [""])[0].strip()
    if not host or len(host) > 80 or not host.isprintable() or (hosts and host not in hosts):
        return "bad-host"
    if purpose not in purposes:
        return "bad-purpose"
    if waiting is None:
        return "no-visitor"
    return Command("visit", at, host=host, purpose=purpose)


def render(
    waiting: Waiting | None,
    hosts: Sequence[str],
    purposes: Sequence[str],
    token: str,
    lang: str,
    said: str | None = None,
) -> str:
    """The page: who waits, and the form (hosts as a list to pick from, or a free field when the venue set none)."""
    e = html.escape
    parts = [
        f'<!doctype html><html lang="{e(lang)}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(text('title', lang))}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{e(text('title', lang))}</h1>",
    ]
    if said:
        parts.append(f'<p class="said">{e(said)}</p>')
    if waiting is None:
        parts.append(f"<p>{e(text('none', lang))}</p>")
    else:
        seconds = int(waiting.seconds)
        since = (
            text("since", lang, seconds=seconds, tail=waiting.id_tail)
            if waiting.id_tail
            else text("since-no-id", lang, seconds=seconds)
        )
        parts.append(f'<p class="waiting"><strong>{e(text("waiting", lang))}</strong><br>{e(since)}</p>')
    query = urlencode({"lang": lang, **({"token": token} if token else {})})
    parts.append(f'<form method="post" action="/guard/visit?{e(query)}">')
    parts.append(f'<input type="hidden" name="token" value="{e(token)}">')
    parts.append(f"<label>{e(text('host', lang))}")
    if hosts:
        options = "".join(f"<option>{e(h)}</option>" for h in hosts)
        parts.append(f'<select name="host" required>{options}</select></label>')
    else:
        placeholder = e(text("free-host", lang))
        parts.append(f'<input name="host" maxlength="80" required placeholder="{placeholder}"></label>')
    options = "".join(f"<option>{e(p)}</option>" for p in purposes)
    parts.append(f'<label>{e(text("purpose", lang))}<select name="purpose" required>{options}</select></label>')
    parts.append(f"<button>{e(text('submit', lang))}</button></form></main></body></html>")
    return "".join(parts)


_CSS = (
    "body{font-family:sans-serif;margin:0;padding:1rem;max-width:32rem}h1{font-size:1.4rem}"
    "label{display:block;margin:.8rem 0}select,input,button{display:block;width:100%;box-sizing:border-box;"
    "font-size:1.1rem;padding:.6rem;margin-top:.3rem}button{background:#0a7d32;color:#fff;border:0;"
    "border-radius:.3rem}.waiting{background:#fff4cc;padding:.6rem}.said{background:#e6f4ea;padding:.6rem}"
)
