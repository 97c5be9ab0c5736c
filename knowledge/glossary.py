"""A small bilingual banking glossary: English question words -> the Chinese words documents use.

English questions about Chinese documents are common; the glossary adds the Chinese terms to the
lexical query (and lets the grounding check see that an English word is covered by a Chinese
passage). Multi-word keys are matched first.
"""

from __future__ import annotations

import re

GLOSSARY: dict[str, list[str]] = {
    "fixed deposit": ["定期", "整存整取"],
    "time deposit": ["定期", "整存整取"],
    "term deposit": ["定期", "整存整取"],
    "demand deposit": ["活期"],
    "savings account": ["活期", "储蓄"],
    "call deposit": ["通知存款"],
    "notice deposit": ["通知存款"],
    "large cd": ["大额存单"],
    "certificate of deposit": ["大额存单"],
    "cd": ["大额存单"],
    "deposit": ["存款"],
    "deposits": ["存款"],
    "interest rate": ["利率"],
    "rate": ["利率"],
    "interest": ["利息", "计息"],
    "early withdrawal": ["提前支取"],
    "withdraw early": ["提前支取"],
    "withdraw": ["支取", "取现"],
    "withdrawal": ["支取", "取现"],
    "auto renewal": ["自动转存"],
    "renew": ["转存"],
    "month": ["个月"],
    "months": ["个月"],
    "year": ["年"],
    "years": ["年"],
    "minimum": ["起存", "起购", "最低"],
    "minimum amount": ["起存金额", "起购金额"],
    "maximum": ["上限", "最高"],
    "wealth product": ["理财产品"],
    "wealth management": ["理财"],
    "cash management": ["现金管理"],
    "redeem": ["赎回"],
    "redemption": ["赎回"],
    "early redemption": ["提前赎回"],
    "risk level": ["风险等级"],
    "risk rating": ["风险承受能力", "评估"],
    "risk assessment": ["风险承受能力评估"],
    "fund": ["基金"],
    "funds": ["基金"],
    "sip": ["定投"],
    "systematic investment": ["定投"],
    "pension": ["养老金"],
    "personal pension": ["个人养老金"],
    "tax": ["税", "个人所得税"],
    "deduction": ["扣除"],
    "credit card": ["信用卡"],
    "debit card": ["借记卡"],
    "card": ["卡"],
    "annual fee": ["年费"],
    "waive": ["减免", "免"],
    "waiver": ["减免"],
    "platinum": ["白金卡"],
    "gold card": ["金卡"],
    "interest-free": ["免息期"],
    "interest free": ["免息期"],
    "grace period": ["宽限期"],
    "cooling off period": ["冷静期", "犹豫期"],
    "cooling off": ["冷静期", "犹豫期"],
    "minimum payment": ["最低还款额"],
    "repayment": ["还款"],
    "repay": ["还款"],
    "due date": ["到期还款日"],
    "statement": ["账单"],
    "installment": ["分期"],
    "instalment": ["分期"],
    "installments": ["分期"],
    "penalty": ["违约金"],
    "late fee": ["违约金"],
    "late payment": ["违约金", "逾期"],
    "pay late": ["违约金", "逾期"],
    "credit report": ["征信"],
    "credit record": ["征信"],
    "lost card": ["挂失"],
    "lost": ["挂失", "丢失"],
    "stolen": ["盗刷", "挂失"],
    "report loss": ["挂失"],
    "fraud": ["盗刷", "诈骗"],
    "scam": ["诈骗"],
    "unauthorized": ["盗刷"],
    "replacement card": ["补卡"],
    "replace": ["补卡", "换卡"],
    "hotline": ["客服热线", "电话"],
    "phone number": ["电话", "热线"],
    "phone": ["电话"],
    "customer service": ["客服"],
    "emergency": ["紧急", "挂失"],
    "sms": ["短信"],
    "text message": ["短信"],
    "verification code": ["验证码"],
    "sms code": ["短信验证码"],
    # what a scam asks for: "will the bank ask for my code / password?" is answered by the bank's "never asks"
    "ask for": ["索要", "索取"],
    "asks for": ["索要", "索取"],
    "asking for": ["索要", "索取"],
    "code": ["验证码", "代码"],
    "mobile banking": ["手机银行", "App"],
    "app": ["App", "手机银行"],
    "online banking": ["网上银行"],
    "login": ["登录"],
    "log in": ["登录"],
    "password": ["密码"],
    "forgot": ["忘记"],
    "reset": ["重置"],
    "device": ["设备"],
    "transfer": ["转账", "转让"],
    "transferred": ["转让"],
    "period": ["期"],
    "transfers": ["转账"],
    "transfer limit": ["转账限额"],
    "limit": ["限额", "额度"],
    "daily": ["每日", "日累计", "单日"],
    "per day": ["每日", "单日", "每天", "每个自然日", "日累计"],
    "instant": ["实时", "快速", "即时"],
    "instantly": ["实时", "快速", "即时"],
    "bind": ["绑定"],
    "binding": ["绑定"],
    "purchase": ["消费", "购买"],
    "standard": ["标准"],
    "arrive": ["到账"],
    "arrival": ["到账"],
    "fee": ["手续费", "费用", "收费"],
    "fees": ["手续费", "费用", "收费"],
    "charge": ["手续费", "收费"],
    "atm": ["ATM"],
    "cash": ["现金"],
    "counter": ["柜台"],
    "branch": ["网点", "柜台"],
    "cross-bank": ["跨行"],
    "interbank": ["跨行"],
    "loan": ["贷款"],
    "consumer loan": ["消费贷款", "消费贷"],
    "borrow": ["借款", "贷款"],
    "prepay": ["提前还款"],
    "prepayment": ["提前还款"],
    "early repayment": ["提前还款"],
    "overdue": ["逾期"],
    "foreign exchange": ["外汇", "购汇"],
    "fx": ["外汇", "购汇"],
    "usd": ["美元"],
    "dollars": ["美元"],
    "dollar": ["美元"],
    "quota": ["额度"],
    "buy foreign currency": ["购汇"],
    "buying foreign currency": ["购汇"],
    "foreign currency": ["外币", "购汇"],
    "currency": ["外币", "币种"],
    "hours": ["时间"],
    "opening hours": ["营业时间"],
    "business hours": ["营业时间"],
    "deposit certificate": ["存款证明"],
    "proof of deposit": ["存款证明"],
    "cost": ["费用", "收费"],
    "remittance": ["汇款"],
    "swift": ["SWIFT"],
    "open an account": ["开户"],
    "account opening": ["开户"],
    "account": ["账户"],
    "passport": ["护照"],
    "safe deposit box": ["保管箱"],
    "insurance": ["保险"],
    "deposit insurance": ["存款保险"],
    "transferable": ["转让"],
    "pledge": ["质押"],
    "benchmark": ["业绩比较基准"],
    "management fee": ["管理费"],
    "custody fee": ["托管费"],
    "service fee": ["服务费"],
    "subscription": ["认购", "申购"],
    "working days": ["工作日"],
    "business days": ["工作日"],
    "swallowed": ["吞卡"],
    "large-denomination": ["大额存单"],
    "large denomination": ["大额存单"],
    "amount": ["金额"],
    "product code": ["产品代码"],
    "interest rate range": ["年化利率", "利率"],
    "lose": ["挂失", "丢失"],
    "loses": ["挂失", "丢失"],
    "mature": ["到期"],
    "maturity": ["到期", "到期日"],
    "matures": ["到期"],
    "cash advance": ["预借现金", "取现"],
    "withdraw cash": ["取现"],
    "notification": ["通知"],
    "notice": ["通知"],
    "annual": ["每年", "年度"],
    "each year": ["每年"],
    "per year": ["每年"],
    "a year": ["每年"],
    "yearly": ["每年"],
    "monthly": ["每月"],
    "contribute": ["缴纳", "缴存", "缴费"],
    "contribution": ["缴纳", "缴存", "缴费"],
    "put into": ["缴纳", "缴存", "缴费"],
    "pay in": ["缴纳", "缴存", "缴费"],
    "pay into": ["缴纳", "缴存", "缴费"],
    "open": ["开户", "开立"],
    "opening": ["开户", "开立"],
    "locked": ["锁定"],
    "lock": ["锁卡", "锁定"],
    "wrong": ["输错", "错误"],
    "attempts": ["次"],
    "apply": ["申请"],
    "eligible": ["条件"],
    "eligibility": ["条件"],
    "requirements": ["条件"],
    "age": ["周岁", "年龄"],
    "overseas": ["境外"],
    "abroad": ["境外"],
    "foreign": ["境外", "外币"],
    "text alert": ["动账短信"],
    "sms alert": ["动账短信"],
    "collect": ["领取"],
    "rates": ["利率"],
    "points": ["积分"],
    "waived": ["免", "减免"],
    "free": ["免费", "免收"],
    "transfer fee": ["转账手续费", "手续费"],
}

_KEYS = sorted(GLOSSARY, key=len, reverse=True)
_KEY_RE = re.compile(r"(?<![a-z])(" + "|".join(re.escape(k) for k in _KEYS) + r")(?:e?s)?(?![a-z])", re.I)


def _dehyphen(text: str) -> str:
    return re.sub(r"(?<=[a-z])-(?=[a-z])", " ", text.lower())


def expand_english(text: str) -> list[str]:
    """Chinese terms for the English banking words found in the text (deduplicated)."""
    out: list[str] = []
    for m in _KEY_RE.finditer(_dehyphen(text)):
        for w in GLOSSARY[m.group(1).lower()]:
            if w not in out:
                out.append(w)
    return out


def english_terms_covered(text: str) -> dict[str, list[str]]:
    """English word -> its Chinese equivalents, for the words of `text` the glossary knows."""
    out: dict[str, list[str]] = {}
    for m in _KEY_RE.finditer(_dehyphen(text)):
        key = m.group(1).lower()
        for part in key.split():
            out.setdefault(part, []).extend(GLOSSARY[key])
    return out


# Chinese question words -> the words product documents use for the same idea
ZH_SYNONYMS: dict[str, list[str]] = {
    "最低": ["起存", "起购", "起点", "起投", "不低于", "最低"],
    "最少": ["起存", "起购", "起点", "起投", "不低于", "最低"],
    "起步": ["起存", "起购", "起点"],
    "最多": ["上限", "最高", "不超过", "最长"],
    "最高": ["上限", "最高", "不超过"],
    "最长": ["最长", "最高"],
    "取出来": ["支取", "赎回", "提取", "领取"],
    "取出": ["支取", "赎回", "提取", "领取"],
    "取钱": ["支取", "取现"],
    "利息": ["计息", "利率", "利息"],
    "到账": ["到账", "划转", "划入"],
    "借": ["贷款", "额度", "借款"],
    "借钱": ["贷款", "借款"],
    "停掉": ["终止", "暂停"],
    "停": ["终止", "暂停"],
    "交税": ["缴税", "个人所得税", "税"],
    "交": ["缴纳", "缴存", "缴费"],
    "电话": ["热线", "电话", "拨打"],
    "免": ["减免", "免收", "免"],
    "换": ["购汇", "兑换"],
    "买": ["购买", "认购", "申购", "购汇"],
    "转给": ["转让"],
    "上征信": ["征信", "信用记录"],
    "征信": ["征信", "信用记录", "信用报告", "逾期"],
    "定期": ["定期", "整存整取"],
    "手续费": ["手续费", "收费", "元/笔"],
    "号码": ["号码", "电话", "热线", "短信"],
    "丢": ["挂失", "丢失", "遗失"],
    "丢了": ["挂失", "丢失", "遗失"],
    "要钱": ["收费", "费用", "免费"],
    "收钱": ["收费", "费用", "免费"],
    "花钱": ["收费", "费用", "免费"],
    "吞": ["吞卡"],
    "吞了": ["吞卡"],
    "盗刷": ["盗刷", "非本人交易"],
    "管赔": ["赔付", "保障"],
    "赔": ["赔付", "保障"],
    "收费": ["手续费", "收费", "费用"],
    "钱": ["金额"],
    "风险": ["风险等级"],
    "能不能": [],
}

_CN_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def cn_numerals_to_digits(text: str) -> str:
    """'一年' -> '1年', '三个月' -> '3个月', '十二个月' -> '12个月' (small counts before a unit)."""

    def conv(m: re.Match[str]) -> str:
        s = m.group(1)
        if s == "十":
            n = 10
        elif s.startswith("十"):
            n = 10 + _CN_DIGITS[s[1]]
        elif s.endswith("十"):
            n = _CN_DIGITS[s[0]] * 10
        elif "十" in s:
            n = _CN_DIGITS[s[0]] * 10 + _CN_DIGITS[s[2]]
        else:
            n = _CN_DIGITS[s]
        return f"{n}{m.group(2)}"

    return re.sub(
        r"(?<![一二三四五六七八九十两统唯第同万])([一二两三四五六七八九]?十[一二三四五六七八九]?|[一二两三四五六七八九])"
        r"(个月|年|天|日|期|笔|次|万|千|百|个工作日|小时)",
        conv,
        text,
    )
