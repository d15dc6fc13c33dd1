"""The one table of codes a person may be shown, with their zh-CN and English labels.

custodata stores codes (``individual``, ``holder_beneficiary``, ``audit_query``,
``accident_core`` …); a page never shows one raw.  Templates and the console's
Python go through :meth:`custodata.console.i18n.Translator.maybe` (``kind.code``
keys), which this module fills at import, and the console's browser test fails
on any code listed here that reaches a zh-CN page's visible text.
"""

from __future__ import annotations

import re

# kind -> code -> (zh-CN, English)
LABELS: dict[str, dict[str, tuple[str, str]]] = {
    # audit events
    "action": {
        "login": ("登录", "Log in"), "logout": ("退出", "Log out"), "read": ("查看客户", "View customer"),
        "search": ("查询客户", "Search"), "unmask": ("解除脱敏", "Unmask"),
        "export_request": ("申请导出", "Export request"), "export": ("生成导出文件", "Export produced"),
        "download": ("下载导出文件", "Download"), "change_request": ("申请变更", "Change request"),
        "approve": ("批准", "Approve"), "reject": ("驳回", "Reject"), "edit": ("执行变更", "Change applied"),
        "policy_change": ("策略变更", "Policy change"), "identity_change": ("人员与权限变更", "Identity change"),
        "audit_query": ("查阅审计/管理信息", "Audit or admin query"), "audit_verify": ("校验审计链", "Audit verify"),
        "admin": ("其他管理操作", "Administration"),
    },
    "result": {
        "ok": ("成功", "OK"), "denied": ("被拒绝", "Denied"), "failed": ("失败", "Failed"),
        "error": ("系统错误", "Error"),
    },
    # customers
    "custkind": {
        "individual": ("个人", "Individual"), "company": ("企业", "Company"), "corporate": ("企业", "Corporate"),
    },
    "custtype": {
        "individual": ("个人客户", "Individual"), "high_net_worth": ("高净值客户", "High net worth"),
        "corporate": ("对公客户", "Corporate"), "sme": ("小微企业", "SME"),
    },
    "gender": {"F": ("女", "Female"), "M": ("男", "Male"), "U": ("未知", "Unknown")},
    "source": {
        "auto_core": ("车险核心系统", "Auto insurance core"), "accident_core": ("意外险核心系统", "Accident core"),
        "health_core": ("健康险核心系统", "Health core"), "deposit_core": ("存款核心系统", "Deposit core"),
        "card_core": ("信用卡系统", "Card system"), "loan_core": ("信贷系统", "Loan system"),
        "service_desk": ("客服工单系统", "Service desk"), "console": ("控制台建档", "Console"),
        "front_desk": ("柜面建档", "Front desk"),
    },
    "btype": {
        "auto_policy": ("车险保单", "Auto policy"), "accident_policy": ("意外险保单", "Accident policy"),
        "health_policy": ("健康险保单", "Health policy"), "deposit": ("存款账户", "Deposit"),
        "card": ("银行卡", "Card"), "loan": ("贷款", "Loan"), "service": ("服务工单", "Service ticket"),
    },
    "partyrole": {
        "policy_holder": ("投保人", "Policy holder"), "holder": ("投保人", "Holder"),
        "insured": ("被保险人", "Insured"),
        "beneficiary": ("受益人", "Beneficiary"), "account_holder": ("账户持有人", "Account holder"),
        "contact": ("联系人", "Contact"), "borrower": ("借款人", "Borrower"), "caller": ("来电人", "Caller"),
        "cardholder": ("持卡人", "Cardholder"),
    },
    "relkind": {
        "holder_beneficiary": ("投保人—受益人", "Holder – beneficiary"),
        "holder_insured": ("投保人—被保险人", "Holder – insured"),
        "insured_beneficiary": ("被保险人—受益人", "Insured – beneficiary"),
        "household": ("同一家庭", "Household"), "corporate_contact": ("企业联系人", "Company contact"),
    },
    "cause": {
        "created": ("首次建档", "Created"), "survivorship": ("择优取值", "Survivorship"),
        "correction": ("人工更正", "Correction"), "merge": ("合并", "Merge"), "unmerge": ("拆分", "Unmerge"),
        "erasure": ("删除（被遗忘权）", "Erasure"), "delta": ("增量批次", "Delta batch"),
        "create": ("前台建档", "Created"),
    },
    # the domain flow
    "domain": {
        "golden": ("黄金记录", "Golden records"), "parties": ("参与方观测", "Party observations"),
        "relationships": ("关联关系", "Relationships"), "review": ("待人工复核", "For review"),
        "erased": ("已删除", "Erased"),
        "individual": ("个人客户", "Individual"), "high_net_worth": ("高净值客户", "High net worth"),
        "corporate": ("对公客户", "Corporate"), "sme": ("小微企业", "SME"),
        "auto_policy": ("车险保单", "Auto policy"), "accident_policy": ("意外险保单", "Accident policy"),
        "health_policy": ("健康险保单", "Health policy"), "deposit": ("存款账户", "Deposit"),
        "card": ("银行卡", "Card"), "loan": ("贷款", "Loan"), "service": ("服务工单", "Service ticket"),
        "auto_core": ("车险核心系统", "Auto insurance core"), "accident_core": ("意外险核心系统", "Accident core"),
        "health_core": ("健康险核心系统", "Health core"), "deposit_core": ("存款核心系统", "Deposit core"),
        "card_core": ("信用卡系统", "Card system"), "loan_core": ("信贷系统", "Loan system"),
        "service_desk": ("客服工单系统", "Service desk"),
    },
    # alerts' evidence
    "evidence": {
        "events": ("相关审计事件", "Audit events"), "distinct_customers": ("涉及客户数", "Distinct customers"),
        "baseline": ("基线", "Baseline"), "ratio": ("为基线的倍数", "Ratio to baseline"),
        "anomaly_score": ("异常分", "Anomaly score"), "risk_factors": ("风险因素", "Risk factors"),
        "customers_by_value": ("按客户价值分布", "Customers by value"), "customers": ("客户数", "Customers"),
        "count": ("次数", "Count"), "threshold": ("阈值", "Threshold"), "peer_baseline": ("同岗基线", "Peer baseline"),
        "fields": ("字段", "Fields"), "addresses": ("登录地址", "Addresses"), "denials": ("拒绝次数", "Denials"),
        "failures": ("失败次数", "Failures"), "status": ("人员状态", "Status"), "kinds": ("数据类别", "Kinds"),
        "searches": ("查询次数", "Searches"), "misses": ("未命中次数", "Misses"),
        "unmasks": ("解除脱敏次数", "Unmasks"),
        "exports": ("导出次数", "Exports"), "actors": ("涉及账户", "Accounts"), "hours": ("时段", "Hours"),
        "off_hours": ("非工作时间", "Off hours"), "bulk": ("批量", "Bulk"),
        "high_net_worth": ("高净值客户", "High net worth"), "individual": ("个人客户", "Individual"),
        "corporate": ("对公客户", "Corporate"), "sme": ("小微企业", "SME"),
    },
    # the policy
    "effect": {"allow": ("允许", "Allow"), "deny": ("拒绝（不显示）", "Deny (withheld)")},
    "operator": {
        "plain": ("明文", "Plain"), "keep": ("部分保留", "Keep part"), "mask_all": ("全部遮盖", "Mask all"),
        "redact": ("删除", "Redact"), "token": ("令牌化", "Token"), "hash": ("哈希", "Hash"),
        "generalise": ("泛化", "Generalise"), "pseudonym": ("假名", "Pseudonym"), "withhold": ("不显示", "Withheld"),
        "null": ("置空", "Null"), "email": ("邮箱脱敏", "E-mail mask"), "name": ("姓名脱敏（保留姓）", "Name mask"),
        "landline": ("固话脱敏", "Landline mask"), "free_text": ("文本脱敏（去除证件号等）", "Free-text scrub"),
    },
    "stype": {
        "person_name": ("姓名", "Person name"), "id_number": ("证件号码", "ID number"),
        "mobile": ("手机号码", "Mobile"),
        "phone": ("固定电话", "Landline"), "email": ("电子邮箱", "E-mail"), "address": ("地址", "Address"),
        "bank_card": ("银行卡号", "Bank card"), "account_number": ("账号", "Account number"),
        "policy_number": ("保单号", "Policy number"), "uscc": ("统一社会信用代码", "USCC"),
        "birth_date": ("出生日期", "Birth date"), "vehicle_plate": ("车牌号", "Vehicle plate"),
        "passport": ("护照号", "Passport"), "ip_address": ("IP地址", "IP address"),
        "free_text": ("自由文本", "Free text"),
        "company_name": ("企业名称", "Company name"), "auth_secret": ("认证信息", "Authentication secret"),
        "amount": ("金额", "Amount"), "age_band": ("年龄段", "Age band"),
    },
    # the catalogue: how an entry's classification was reached
    "catstatus": {
        "detected": ("自动识别，待确认", "Detected, to confirm"), "confirmed": ("已确认", "Confirmed"),
        "overridden": ("已人工更正", "Corrected"),
    },
    "permission": {},  # filled below from the policy's actions
}

# what a policy permission lets a person do
_PERMISSIONS = {
    "customer.search": ("查询客户", "Search customers"), "customer.read": ("查看客户", "View customers"),
    "customer.unmask": ("解除脱敏", "Unmask"), "customer.lineage": ("查看血缘", "See lineage"),
    "customer.create": ("新建客户", "Create customers"), "change.request": ("申请变更", "Request changes"),
    "change.approve": ("审批变更", "Approve changes"), "export.request": ("申请导出", "Request exports"),
    "export.approve": ("审批导出", "Approve exports"), "audit.read": ("查阅审计日志", "Read the audit log"),
    "audit.verify": ("校验审计链", "Verify the audit log"), "audit.export": ("导出审计日志", "Export the audit log"),
    "people.read": ("查看人员", "See people"), "people.write": ("管理人员", "Manage people"),
    "policy.read": ("查看策略", "Read policy"), "policy.write": ("修改策略", "Change policy"),
    "alerts.read": ("查看告警", "Read alerts"), "alerts.triage": ("研判告警", "Triage alerts"),
    "catalogue.read": ("查看数据目录", "Read the catalogue"),
    "catalogue.write": ("维护数据目录", "Maintain the catalogue"),
    "domains.read": ("查看数据流转", "See the data flow"), "changes.read": ("读取变更流", "Read the change feed"),
    "portfolio.write": ("维护名下客户", "Maintain portfolios"), "jobs.read": ("查看作业", "See jobs"),
    "jobs.retry": ("重试作业", "Retry jobs"), "segments.read": ("查看客群", "See segments"),
    "campaign.run": ("执行营销活动", "Run campaigns"),
}
LABELS["permission"].update(_PERMISSIONS)


def install(zh: dict[str, str], en: dict[str, str]) -> None:
    """Put every label into the console's catalogues as ``kind.code`` (existing keys win)."""
    for kind, codes in LABELS.items():
        for code, (zh_text, en_text) in codes.items():
            zh.setdefault(f"{kind}.{code}", zh_text)
            en.setdefault(f"{kind}.{code}", en_text)


def codes() -> set[str]:
    """Every code some page could show raw (the browser test looks for each of them)."""
    return {code for kind, table in LABELS.items() for code in table if kind != "permission" and len(code) > 1}


# recorded English reasons (audit events, refusals) that staff read: pattern -> zh-CN template
_REASONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"separation of duties: nobody grants a role to themselves"), "职责分离：任何人不能给自己授予角色"),
    (re.compile(r"separation of duties: one person may not hold both (.+?) \((\w+)\) and (.+?) \((\w+)\)"),
     "职责分离：同一人不能同时担任「{0}」和「{2}」"),
    (re.compile(r"separation of duties: nobody revokes their own role"), "职责分离：任何人不能收回自己的角色"),
    (re.compile(r"shipped default policy"), "系统预置的默认策略"),
    (re.compile(r"nobody decides their own request"), "职责分离：任何人不能审批自己提交的申请"),
    (re.compile(r"grant (\w+) to (\S+)"), "为 {1} 申请角色"),
    (re.compile(r"make (\S+) active again \(was (\w+)\)"), "将 {0} 恢复为在岗"),
)


def reason_zh(text: str) -> str | None:
    """A recorded English reason in Chinese when it is one custodata writes, else None."""
    for pattern, template in _REASONS:
        m = pattern.fullmatch(text.strip())
        if m:
            return template.format(*m.groups())
    return None
