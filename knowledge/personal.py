"""Questions the documents must not answer: the customer's own records, and other banks.

`is_personal_question` is used by the knowledge base (it declines them); the customer-side
conversation service answers them from the bound client's holdings before calling the KB, by the
same understanding step.
"""

from __future__ import annotations

import re

from knowledge.text import normalize_query


def is_personal_question(text: str, lang: str | None = None) -> bool:
    """True when answering needs the customer's own records (balance, their deposit's maturity,
    their bill...), which product documents never hold: decided by meaning, by the understanding
    step (`knowledge.understanding`), the same one that routes the customer's turn."""
    from knowledge.understanding import shared

    return bool(text.strip()) and shared().classify(text, default_lang=lang or "zh").intent == "personal"


OTHER_BANKS = [
    "招商银行", "招行", "工商银行", "工行", "建设银行", "建行", "农业银行", "农行", "中国银行", "中行",
    "交通银行", "交行",
    "邮储银行", "邮政储蓄", "浦发", "中信银行", "民生银行", "兴业银行", "平安银行", "光大银行", "华夏银行", "广发银行",
    "北京银行", "上海银行", "宁波银行", "江苏银行", "微众银行", "网商银行", "汇丰", "花旗", "渣打", "支付宝", "余额宝",
    "微信理财通",
]
_OTHER_BANKS_EN = re.compile(
    r"\b(icbc|ccb|boc|abc bank|bank of china|china construction bank|agricultural bank|bank of communications|"
    r"china merchants|cmb|hsbc|citi(?:bank)?|standard chartered|chase|bank of america|wells fargo|barclays|"
    r"dbs|ocbc|ping an bank|alipay)\b",
    re.I,
)


def mentions_other_bank(text: str) -> bool:
    q = normalize_query(text)
    return any(b in q for b in OTHER_BANKS) or bool(_OTHER_BANKS_EN.search(q))
