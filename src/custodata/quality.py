"""Reason codes for quarantined rows.

Every row that does not make it from landing into a business data sub-domain
is kept in quarantine with exactly one of these codes, so a data steward can
group, count and fix them, and so that ``read = accepted + quarantined``
reconciles per source.
"""

from __future__ import annotations

from enum import StrEnum


class QuarantineReason(StrEnum):
    CSV_MALFORMED = "CSV_MALFORMED"  # the line could not be parsed (columns, quotes)
    ENCODING_INVALID = "ENCODING_INVALID"  # bytes are not in the declared encoding
    MISSING_RECORD_KEY = "MISSING_RECORD_KEY"  # no business key to identify the record
    DUPLICATE_RECORD = "DUPLICATE_RECORD"  # exact same record twice in one batch
    ID_CHECKSUM = "ID_CHECKSUM"  # resident ID with a wrong check digit
    ID_FORMAT = "ID_FORMAT"  # resident ID of impossible shape or birth date
    USCC_INVALID = "USCC_INVALID"  # unified social credit code fails its checksum
    DATE_INVALID = "DATE_INVALID"  # impossible or unparseable date (2023-02-30)
    AMOUNT_INVALID = "AMOUNT_INVALID"  # amount that is not a number
    PARTY_EMPTY = "PARTY_EMPTY"  # no party could be identified (no name, ID, USCC or mobile)


REASON_LABELS: dict[str, str] = {
    "CSV_MALFORMED": "行格式错误",
    "ENCODING_INVALID": "字符编码错误",
    "MISSING_RECORD_KEY": "缺少业务主键",
    "DUPLICATE_RECORD": "批内重复记录",
    "ID_CHECKSUM": "身份证校验位错误",
    "ID_FORMAT": "身份证格式错误",
    "USCC_INVALID": "统一社会信用代码错误",
    "DATE_INVALID": "日期无效",
    "AMOUNT_INVALID": "金额无效",
    "PARTY_EMPTY": "无可识别当事人",
}
