"""Questions a bank answers with a fixed, compliant reply instead of a document quote: the
"best-earning" product, guaranteed principal or returns, stock tips. The replies are files in
prompts/knowledge/replies/ (per language); they promise nothing and offer the manager."""

from __future__ import annotations

import re

from knowledge.text import normalize_query

_GUARANTEE_RES = [
    re.compile(r"保本|保收益|保证收益|稳赚|稳赚不赔|无风险|零风险|不会亏|刚兑|保息"),
    re.compile(r"\bguarantee[ds]?\b|\brisk[- ]free\b|\bno risk\b|\bcan'?t lose\b|principal[- ]protected", re.I),
]
_BEST_RES = [
    re.compile(r"(收益|回报|赚)[^，,。?？]{0,4}(最高|最多|最好|最大)|(最高|最多|最好)[^，,。?？]{0,4}(收益|回报)|最赚钱|"
               r"哪[个只款种][^，,。?？]{0,8}(收益|赚|回报)[^，,。?？]{0,4}(高|多)|推荐[^，,。?？]{0,6}(理财|基金|产品|投资)"),
    re.compile(r"\b(earns?|returns?|yields?|pays?)\b[^.?!]{0,12}\b(most|highest|best)\b|"
               r"\b(highest|best|biggest)\b[^.?!]{0,12}\b(returns?|yields?|earning|investment|product)\b|"
               r"\brecommend\b[^.?!]{0,20}\b(product|fund|investment)\b|which (?:product|fund) should i", re.I),
]
# "which deposit term pays most" is answered from the rate sheet: deposits are not investments
_DEPOSIT_RE = re.compile(r"存款|定期|活期|存单|deposit|\bcd\b|savings", re.I)
_STOCK_RES = [
    re.compile(r"股票(?!型|基金|类)|个股|炒股|哪只股|买什么股|[AH]股|港股|美股|涨停|抄底|牛股|荐股"),
    re.compile(r"\bstocks?\b(?! funds?)|\bshares? (?:to|should i) buy\b|\bstock tips?\b|\bwhich shares\b|"
               r"\bcrypto|\bbitcoin", re.I),
]


# how a compliance reply is marked (`Answer.reason`): the conversation gives it even while a ticket waits
COMPLIANCE_REASON = "compliance:"


def compliance_reason(kind: str) -> str:
    return f"{COMPLIANCE_REASON} {kind}"


def compliance_kind(question: str) -> str | None:
    """'stock_tips', 'returns' or None."""
    q = normalize_query(question)
    if any(r.search(q) for r in _STOCK_RES):
        return "stock_tips"
    if any(r.search(q) for r in _GUARANTEE_RES):
        return "returns"
    if any(r.search(q) for r in _BEST_RES) and not _DEPOSIT_RE.search(q):
        return "returns"
    return None


def compliance_reply(kind: str, lang: str) -> tuple[str, str, str]:
    """(text, prompt id, prompt hash) of the reply for this kind of question."""
    from prompts import load_prompt

    p = load_prompt(f"knowledge/replies/{kind}_{'en' if lang == 'en' else 'zh'}.txt")
    return p.text.strip(), p.id, p.hash
