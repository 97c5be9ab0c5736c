"""Questions the documents must not answer: the customer's own records, and other banks.

`is_personal_question` is used by the knowledge base (it declines them) and by the customer-side
conversation service (it answers them from the bound client's holdings before calling the KB).
"""

from __future__ import annotations

import re

from knowledge.text import normalize_query

# first person + a thing only the customer's records know
_ZH_SELF = r"(?:我|俺|本人|咱)(?:的|家|们的)?"
_ZH_RECORD = (
    r"(?:余额|账单|欠款|欠了|还剩|剩多少|剩下|到期日?|(?:什么时候|哪天|几号|何时)(?:到期|到账|还款|扣款|发放|放款)|"
    r"额度(?:是|有)?多少|积分|持仓|收益(?:是|有)?多少|赚了|亏了|利息(?:是|有)?多少|流水|交易记录|明细|"
    r"还(?:要|需要|得)?还多少|要还多少|还款金额|扣了|被扣|扣款|到账了吗|审批|进度|放款|评估(?:结果|等级)?(?:是|过期)|"
    r"风险等级是|卡号|账号|开户行|存了多少|买了多少|持有|份额|净值多少)"
)
_ZH_PERSONAL_RES = [
    re.compile(_ZH_SELF + r".{0,12}?" + _ZH_RECORD),
    re.compile(r"(?:我|本人).{0,6}(?:定期|存款|存单|理财|基金|贷款|信用卡|账户|卡里|卡上|养老金账户).{0,10}?"
               r"(?:多少钱|多少|几号|哪天|什么时候|何时|还有|剩)"),
    re.compile(_ZH_SELF + r".{0,12}?(?:多少收益|收益多少|赚了多少|亏了多少|多少利息|还剩多少|还欠多少|欠多少)"),
    re.compile(r"(?:帮我|给我|替我)(?:查|查询|看看|看一下|查一下)"),
    re.compile(r"(?:查|查询|查一下|看看)(?:一下)?我"),
]
_EN_PERSONAL_RES = [
    re.compile(
        r"\bmy\b.{0,40}\b(balance|statement|bill|maturity|matures?|mature|due|owe|outstanding|holdings?|"
        r"portfolio|transactions?|history|points|limit is|account number|card number|application|"
        r"returns?|earned|interest earned|risk (?:rating|level) is)\b",
        re.I,
    ),
    re.compile(
        r"\b(how much|when) (?:do|did|does|will|is|am) (?:i|my)\b.{0,30}\b(owe|pay back|matur|due|have|earn|left)", re.I
    ),
    re.compile(r"\b(check|look up|show me|tell me) (?:my|how much i)\b", re.I),
    re.compile(r"\b(left|remaining|outstanding|owe|owing)\b.{0,30}\bmy\b|\bmy\b.{0,40}\b(left|remaining)\b", re.I),
    re.compile(r"\bam i (?:owing|overdue)\b", re.I),
]
# "my card was lost / stolen / swallowed" is a question for the documents, not for the records
_NOT_PERSONAL_RES = [
    re.compile(r"(丢|掉|遗失|被盗|盗刷|吞|冻结|锁|挂失|忘记?了?密码|密码忘)"),
    re.compile(r"\b(lost|stolen|swallowed|forgot|forgotten|locked|blocked|fraud)\b", re.I),
    re.compile(r"(能不能|可以|能否|可不可以|是否能).{0,6}(买|办|开|申请|转让|提前)"),
    re.compile(r"\bcan i (?:buy|open|apply|transfer|redeem)\b", re.I),
]


def is_personal_question(text: str, lang: str | None = None) -> bool:
    """True when answering needs the customer's own records (balance, their deposit's maturity,
    their bill...), which product documents never hold."""
    q = normalize_query(text)
    if any(r.search(q) for r in _NOT_PERSONAL_RES):
        return False
    if lang != "en" and any(r.search(q) for r in _ZH_PERSONAL_RES):
        return True
    return lang != "zh" and any(r.search(q) for r in _EN_PERSONAL_RES)


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
