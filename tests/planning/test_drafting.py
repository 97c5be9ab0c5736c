"""Draft checks and LLM personalisation against the OpenAI stub (good answer, promise words, a 500)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from bot.db.models import Draft
from bot.services import compliance, drafting
from bot.services.drafting import check_draft, personaliser_from_settings
from prompts import environment
from scheduler.planner import plan_day
from tests.conftest import make_settings
from tests.planning import seed

D = date(2027, 3, 1)
TEMPLATE = ("张先生，您好！您尾号8841的存款（金额¥50,000.00）将于2027年3月8日到期。\n"
            "理财非存款、产品有风险、投资须谨慎\n王敏")
CTX = {"amount": "¥50,000.00", "maturity_date": "2027年3月8日", "account_tail": "8841"}


def check(text: str, product: bool = True) -> list[str]:
    return check_draft(text, template_text=TEMPLATE, context=CTX, product_message=product, language="zh")


def test_checks() -> None:
    assert check(TEMPLATE) == []
    assert check(TEMPLATE.replace("将于", "保本，将于")) == [drafting.PROMISE]
    assert drafting.RISK_NOTICE_MISSING in check(TEMPLATE.replace("理财非存款、产品有风险、投资须谨慎", ""))
    # the standard wording uses 、: ASCII or full-width commas are not the notice
    assert drafting.RISK_NOTICE_MISSING in check(TEMPLATE.replace("、", ","))
    assert drafting.RISK_NOTICE_MISSING in check(TEMPLATE.replace("、", "，"))
    # a message about no wealth product must not carry the wealth notice
    assert compliance.RISK_NOTICE_WRONG in check_draft(TEMPLATE, template_text=TEMPLATE,
                                                      context={**CTX, "notices": []}, product_message=False,
                                                      language="zh")
    assert drafting.FACT_MISSING in check(TEMPLATE.replace("¥50,000.00", "¥5万"))
    assert drafting.NUMBER_CHANGED in check(TEMPLATE.replace("到期。", "到期，年化3.5%。"))
    assert drafting.NUMBER_CHANGED in check(TEMPLATE + "送您五百元")
    assert drafting.TOO_LONG in check(TEMPLATE + "好" * 2000)
    assert compliance.LONG in check(TEMPLATE + "好" * 400)  # long for its kind: a warning only
    assert compliance.severity(compliance.LONG) == compliance.WARN
    assert check("  ") == [drafting.EMPTY]
    en = "Dear Ms Li, your product is guaranteed. Wealth products are not deposits and carry risk"
    assert drafting.PROMISE in check_draft(en, template_text=en, context={}, product_message=True, language="en")


@pytest.mark.parametrize("path", sorted(
    p for p in environment().list_templates()
    if p.startswith("drafts/") and p.count("/") == 2 and p.endswith(".j2")))
def test_every_template_passes_its_own_checks(path: str) -> None:
    values = {k: "X" for k in ("salutation", "signature", "manager_name", "festival_name", "product_name",
                               "amount", "maturity_date", "account_tail", "expiry_date", "due_date",
                               "due_amount", "expires_on", "expired_on", "id_expiry", "deadline", "year",
                               "risk_level", "product_code")}
    values["years"] = "3"
    values.update(tenure_years=3, new_client=False, segment="mass", eve=False, festival_today=True,
                  quiet_day=False, due_today=False)
    text = environment().get_template(path).render(**values)
    lang = "zh" if path.endswith("_zh.j2") else "en"
    # bodies carry no notice of their own: the frame adds the notices the message's products need
    assert check_draft(text, template_text=text, context={"notices": []}, product_message=False,
                       language=lang) == []


async def _plan_with_llm(db, tmp_path, stub):
    settings = make_settings(tmp_path, openai_base_url=stub.base_url, openai_api_key=stub.api_key, llm_timeout_s=5)
    personaliser = personaliser_from_settings(settings, concurrency=8)
    assert personaliser is not None
    async with db.sessions() as session:
        seed.add_products(session)
        m = await seed.add_manager(session)
        c = await seed.add_client(session, m, [seed.deposit("50000.00", D + timedelta(days=7)), seed.pension()])
        result = await plan_day(session, settings, D, personaliser=personaliser)
        await session.commit()
        drafts = {d.occasion: d for d in (await session.scalars(select(Draft).where(Draft.client_id == c.id)))}
    return result, drafts


def _good_rewrite(body):
    user = body["messages"][-1]["content"]
    draft = user.split("<<<\n", 1)[1].rsplit("\n>>>", 1)[0]
    return draft.replace("您好！", "您好，好久不见！")


async def test_llm_good_answer_is_used(db, tmp_path, openai_stub) -> None:
    openai_stub.reply(_good_rewrite)
    result, drafts = await _plan_with_llm(db, tmp_path, openai_stub)
    rec = drafts["maturity_product"]
    assert rec.llm_rewritten and "好久不见" in rec.text and rec.template_text != rec.text
    assert "llm" in rec.flags and not compliance.needs_attention(rec.flags)
    assert result.personalised == 1
    sent = openai_stub.chat_requests[0].json
    assert "¥50,000.00" in sent["messages"][-1]["content"]


async def test_llm_promise_words_fall_back_flagged(db, tmp_path, openai_stub) -> None:
    openai_stub.reply(lambda body: _good_rewrite(body).replace("到期。", "到期，保本保收益。"))
    result, drafts = await _plan_with_llm(db, tmp_path, openai_stub)
    rec = drafts["maturity_product"]
    assert not rec.llm_rewritten and rec.text == rec.template_text
    assert "llm_rejected" in rec.flags and "llm_rejected:promise_words" in rec.flags
    assert "保本" not in rec.text and result.llm_fallbacks == 1


async def test_llm_server_error_falls_back(db, tmp_path, openai_stub) -> None:
    openai_stub.fail(500)
    result, drafts = await _plan_with_llm(db, tmp_path, openai_stub)
    rec = drafts["maturity_product"]
    assert not rec.llm_rewritten and rec.text == rec.template_text and "llm_failed" in rec.flags
    assert len(openai_stub.chat_requests) == 1  # no silent retry storm


async def test_many_requests_in_flight(tmp_path) -> None:
    from types import SimpleNamespace

    from tools.fakes.openai_stub import OpenAIStub, echo_draft

    with OpenAIStub(default_reply=echo_draft, latency=2.0) as stub:
        settings = make_settings(tmp_path, openai_base_url=stub.base_url, openai_api_key="x", llm_timeout_s=30)
        personaliser = personaliser_from_settings(settings, concurrency=60)
        draft = SimpleNamespace(language="zh", kind="greeting", occasion="new_year", product_message=False,
                                plan_date=None, context={}, template_text="张先生，您好！祝您元旦快乐。\n王敏")
        outcomes = await personaliser.personalise_many([draft] * 60)
    assert all(o.rewritten for o in outcomes) and len(stub.chat_requests) == 60
    assert stub.max_in_flight >= 50


async def test_check_stored_draft_for_a_managers_edit(db, settings) -> None:
    from bot.services.drafting import check_stored_draft

    async with db.sessions() as session:
        seed.add_products(session)
        m = await seed.add_manager(session)
        c = await seed.add_client(session, m, [seed.deposit("50000.00", D + timedelta(days=7)), seed.pension()])
        await plan_day(session, settings, D)
        await session.commit()
        drafts = {d.occasion: d for d in (await session.scalars(select(Draft).where(Draft.client_id == c.id)))}
    rec = drafts["maturity_product"]
    assert check_stored_draft(rec) == []
    assert drafting.RISK_NOTICE_MISSING in check_stored_draft(rec, rec.text.replace("理财非存款", ""))
    assert check_stored_draft(rec, rec.text + "稳赚") == [drafting.PROMISE]
    assert compliance.NUMBER_CHANGED in check_stored_draft(rec, rec.text.replace("50,000.00", "60,000.00"))
