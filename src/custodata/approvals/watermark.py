"""Per-recipient watermarks of export files, and reading them back from a leaked copy.

Three layers, so a leak is traced even after the obvious mark is cut away:

1. a visible notice line (导出人 … 导出编号 … 仅限内部使用) after the table — deters, but
   is removed in a second, and is never trusted on its own;
2. a mark column [导出标记], the last column of every data row: the row's number and a
   code carrying the export's random watermark id plus a keyed tag (HMAC with the server
   secret, so nobody can forge another person's mark or have noise read as one) — copying
   any whole row carries it along.  It is a column of its own, not characters hidden in
   the cells people read: a spreadsheet user filtering on a name or a mobile finds exactly
   what they typed (files of earlier versions carried the mark as zero-width characters
   inside cells; :func:`find_marks` still reads those);
3. canary rows [蜜罐记录]: a few invented customers per file whose values are
   derived from the watermark id, shaped like the real (masked) rows around them;
   they survive deleting the mark column.  Their values are kept in
   ``export_file.canaries`` to be recognised; they describe nobody.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import random
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060")  # two bits each
_ID_BYTES, _TAG_BYTES = 8, 4
MARK_LENGTH = (_ID_BYTES + _TAG_BYTES) * 4  # characters
_RUN = re.compile("[" + "".join(ZERO_WIDTH) + "]{" + str(MARK_LENGTH) + ",}")
_ESCAPED = re.compile(r"\\u(200[bcdBCD]|2060)")
_CUSTOMER_ID = re.compile(r"C\d{9}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_LOCAL_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})?")
# the visible mark: Crockford base32 (no I, L, O, U: nothing to misread when typed back from a printout)
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 20  # (8 + 4 bytes) * 8 bits / 5 bits a character
_VISIBLE = re.compile(r"(?<![0-9A-Z])\d{1,7}-([" + CROCKFORD + "]{" + str(CODE_LENGTH) + r"})(?![0-9A-Z])")
_HAN = re.compile("[\u4e00-\u9fff]")
# common surnames and given-name characters: canary names look like the people around them
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
_GIVEN = ("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文"
          "辉力永健世广志义兴良海山仁波宁贵福生龙元全国胜学祥才发")


def _tag(secret: bytes, watermark_id: bytes) -> bytes:
    return hmac.new(secret, b"custodata watermark v1\x1f" + watermark_id, hashlib.sha256).digest()[:_TAG_BYTES]


def invisible_mark(secret: bytes, watermark_id: str) -> str:
    """The zero-width string carrying ``watermark_id`` (16 hex digits) and its keyed tag."""
    raw = bytes.fromhex(watermark_id)
    if len(raw) != _ID_BYTES:
        raise ValueError("a watermark id is 16 hex digits")
    out: list[str] = []
    for byte in raw + _tag(secret, raw):
        out.extend(ZERO_WIDTH[(byte >> shift) & 3] for shift in (6, 4, 2, 0))
    return "".join(out)


def _decode(chars: str) -> bytes:
    digits = [ZERO_WIDTH.index(c) for c in chars]
    return bytes(
        (digits[i] << 6) | (digits[i + 1] << 4) | (digits[i + 2] << 2) | digits[i + 3]
        for i in range(0, len(digits), 4)
    )


def find_marks(text: str, secret: bytes) -> Counter[str]:
    """Watermark ids whose genuine (tag-checked) invisible marks occur in ``text``, with how often.

    JSON written with ``\\u200b`` escapes is read too.
    """
    text = _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text)
    found: Counter[str] = Counter()
    for run in _RUN.finditer(text):
        chars, start = run.group(0), 0
        while start + MARK_LENGTH <= len(chars):
            raw = _decode(chars[start:start + MARK_LENGTH])
            wid, tag = raw[:_ID_BYTES], raw[_ID_BYTES:]
            if hmac.compare_digest(tag, _tag(secret, wid)):
                found[wid.hex()] += 1
                start += MARK_LENGTH
            else:
                start += 1
    return found


def visible_code(secret: bytes, watermark_id: str) -> str:
    """The mark column's code: ``watermark_id`` (16 hex digits) and its keyed tag, 20 base32 characters."""
    raw = bytes.fromhex(watermark_id)
    if len(raw) != _ID_BYTES:
        raise ValueError("a watermark id is 16 hex digits")
    number = int.from_bytes(raw + _tag(secret, raw), "big")
    return "".join(CROCKFORD[(number >> (5 * i)) & 31] for i in reversed(range(CODE_LENGTH)))


def mark_cell(code: str, row_number: int) -> str:
    """One row's cell of the mark column: its number in the file, then the export's code."""
    return f"{row_number:05d}-{code}"


def find_visible_marks(text: str, secret: bytes) -> Counter[str]:
    """Watermark ids whose genuine (tag-checked) mark-column codes occur in ``text``, with how often."""
    found: Counter[str] = Counter()
    checked: dict[str, str | None] = {}
    for m in _VISIBLE.finditer(text):
        code = m.group(1)
        if code not in checked:
            number = 0
            for ch in code:
                number = (number << 5) | CROCKFORD.index(ch)
            raw = number.to_bytes(_ID_BYTES + _TAG_BYTES, "big")
            wid, tag = raw[:_ID_BYTES], raw[_ID_BYTES:]
            checked[code] = wid.hex() if hmac.compare_digest(tag, _tag(secret, wid)) else None
        wid_hex = checked[code]
        if wid_hex is not None:
            found[wid_hex] += 1
    return found


# --- canary rows ----------------------------------------------------------------------------------

def _rng(secret: bytes, watermark_id: str, *parts: object) -> random.Random:
    label = "\x1f".join(["canary", watermark_id, *map(str, parts)]).encode()
    return random.Random(hmac.new(secret, label, hashlib.sha256).digest())  # noqa: S311 - not for secrets


def _fake_text(value: str, rng: random.Random) -> tuple[str, bool]:
    """A value of the same shape (mask characters kept); True when it is distinctive enough to recognise."""
    if _CUSTOMER_ID.fullmatch(value):  # ids from C900000000 on are far beyond any issued yet
        return f"C9{rng.randrange(10**8):08d}", True
    if _ISO_DATE.fullmatch(value):
        day = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(365 * 55))
        return day.isoformat(), False
    if _LOCAL_TIME.fullmatch(value):  # a time of the last few years, to the second like the real ones
        stamp = dt.datetime(2020, 1, 1) + dt.timedelta(seconds=rng.randrange(86_400 * 365 * 6))
        return f"{stamp:%Y-%m-%d %H:%M:%S}", False
    if _HAN.search(value):
        if len(value) > 4:  # an address or a remark: handled by the caller (copied from another row)
            return value, False
        chars = [ch if not _HAN.match(ch) else rng.choice(_GIVEN) for ch in value]
        if _HAN.match(value[0]):
            chars[0] = rng.choice(_SURNAMES)
        return "".join(chars), len(value) >= 2
    local, at, domain = value.partition("@")
    changed = 0
    out = []
    for i, ch in enumerate(local):
        if ch.isdigit() and i > 0:
            out.append(str(rng.randrange(10)))
            changed += 1
        elif ch.isascii() and ch.isalpha():
            letter = chr(rng.randrange(26) + ord("a"))
            out.append(letter.upper() if ch.isupper() else letter)
            changed += 1
        else:
            out.append(ch)
    return "".join(out) + at + domain, changed >= 4


def canary_rows(
    secret: bytes, watermark_id: str, rows: Sequence[dict[str, Any]], count: int,
) -> list[tuple[int, dict[str, Any], dict[str, Any]]]:
    """``count`` invented rows shaped like ``rows``: (position to insert at, row, signature).

    The signature names the canary's invented customer id (recognised on its own)
    and its other distinctive values (two of them recognise it).
    """
    if not rows or count <= 0:
        return []
    out = []
    for k in range(count):
        rng = _rng(secret, watermark_id, k)
        row: dict[str, Any] = {}
        sig: dict[str, Any] = {"id": None, "values": []}
        for key in rows[0]:
            template = rows[rng.randrange(len(rows))].get(key)
            if isinstance(template, bool) or template is None:
                row[key] = template
            elif isinstance(template, int):
                row[key] = rng.randint(max(template // 2, 0), template * 2 + 1) if template >= 0 else template
            elif isinstance(template, float):
                row[key] = round(template * rng.uniform(0.6, 1.4), 2)
            elif isinstance(template, str):
                fake, distinctive = _fake_text(template, rng)
                row[key] = fake
                if distinctive and fake.startswith("C9") and _CUSTOMER_ID.fullmatch(fake):
                    sig["id"] = fake
                elif distinctive:
                    sig["values"].append(fake)
            else:
                row[key] = template  # lists (tags) and the like: as a real row has them
        out.append((rng.randrange(len(rows) + 1), row, sig))
    return out


def canary_count(rows: int) -> int:
    """One canary per 50 real rows, at least one, at most ten."""
    return 0 if rows == 0 else min(max(rows // 50, 1), 10)


def canary_seen(signature: dict[str, Any], text: str) -> bool:
    if signature.get("id") and signature["id"] in text:
        return True
    return sum(1 for v in signature.get("values", []) if v and v in text) >= 2
