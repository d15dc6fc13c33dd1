"""The canonical vocabulary every source system is mapped onto.

Source systems name things their own way; the mapping YAMLs translate their
columns into these names so every later stage is written once.  Keeping the
lists here (and not scattered over the stages) is what lets a mapping error
name the allowed values.
"""

from __future__ import annotations

from enum import StrEnum


class BusinessType(StrEnum):
    """Business types: one business data sub-domain [业务数据分域] each."""

    AUTO_POLICY = "auto_policy"  # 车险
    ACCIDENT_POLICY = "accident_policy"  # 意外险
    HEALTH_POLICY = "health_policy"  # 健康险
    DEPOSIT = "deposit"  # 存款
    CARD = "card"  # 信用卡
    LOAN = "loan"  # 贷款
    SERVICE = "service"  # 客服工单
    MASTER = "master"  # 客户主数据: customers created at the front desk (search before create)


BUSINESS_TYPE_LABELS: dict[str, str] = {
    "auto_policy": "车险保单",
    "accident_policy": "意外险保单",
    "health_policy": "健康险保单",
    "deposit": "存款账户",
    "card": "信用卡",
    "loan": "贷款",
    "service": "客服工单",
    "master": "柜面建档",
}


class PartyRole(StrEnum):
    """The part a person or company plays in a business record."""

    POLICY_HOLDER = "policy_holder"  # 投保人
    INSURED = "insured"  # 被保险人
    BENEFICIARY = "beneficiary"  # 受益人
    ACCOUNT_HOLDER = "account_holder"  # 账户持有人 / 持卡人
    CONTACT = "contact"  # 联系人 (corporate contact person, ticket caller)


class PartyKind(StrEnum):
    INDIVIDUAL = "individual"
    CORPORATE = "corporate"
    AUTO = "auto"  # decided per row: a USCC or a company-like name makes it corporate


class TagKind(StrEnum):
    """The three kinds of tags raw business data carries (DESIGN.md)."""

    EXTERNAL_FEATURE = "external_feature"  # 外部特征标签: bought or shared data
    MINING_MODEL = "mining_model"  # 挖掘模型标签: model outputs
    MART = "mart"  # 集市标签: derived in data marts


class CustomerType(StrEnum):
    """Customer business-layer sub-domains [客户数据业务层分域]."""

    INDIVIDUAL = "individual"  # 个人客户
    HIGH_NET_WORTH = "high_net_worth"  # 高净值客户
    CORPORATE = "corporate"  # 公司客户
    SME = "sme"  # 小微企业


CUSTOMER_TYPE_LABELS: dict[str, str] = {
    "individual": "个人客户",
    "high_net_worth": "高净值客户",
    "corporate": "公司客户",
    "sme": "小微企业",
}

# Fields describing one party (person or company) inside a business record.
PARTY_FIELDS: tuple[str, ...] = (
    "name",  # full name; for a company its registered name
    "family_name",
    "given_name",
    "id_type",
    "id_number",  # resident ID (18 or old 15 digits), passport ...
    "uscc",  # unified social credit code of a company
    "birth_date",
    "gender",
    "mobile",
    "phone",  # landline
    "email",
    "address",
    "province",
    "city",
    "district",
    "postcode",
)

# Fields describing the business record itself.  All are optional.
RECORD_FIELDS: tuple[str, ...] = (
    "product",
    "amount",  # premium, balance, credit limit, loan principal ... (see business type)
    "currency",
    "start_date",
    "end_date",
    "status",
    "branch",
    "channel",
    "vehicle_plate",
    "account_no",
    "card_no",
    "policy_no",
    "ticket_no",
    "category",
    "remark",
)

# Fields typed as dates in the business data sub-domains.
DATE_FIELDS: frozenset[str] = frozenset({"birth_date", "start_date", "end_date"})
