"""Item 1: a manager's campaign template is text with known placeholders, never code."""

from __future__ import annotations

from sqlalchemy import select

from bot.db.models import Campaign, Draft
from prompts import environment
from tests.security.conftest import login, seed_console

ATTACKS = [
    '{{ lipsum.__globals__.os.popen("id").read() }}',
    "{{ cycler.__init__.__globals__.os.environ }}",
    "{% for x in ().__class__.__base__.__subclasses__() %}{{ x }}{% endfor %}",
    "{salutation.__class__}",
    "{0.__class__}",
]


async def test_template_code_is_refused_and_nothing_changes(console, db) -> None:  # type: ignore[no-untyped-def]
    app, client = console
    ids = await seed_console(db)
    csrf = await login(client, db, ids["m1"])
    headers = {"X-CSRF-Token": csrf}
    for attack in ATTACKS:
        r = await client.post(f"/api/campaigns/{ids['camp_M1']}/template", json={"template": attack}, headers=headers)
        assert r.status_code == 400, (attack, r.text)
        assert "uid=" not in r.text
    async with db.sessions() as session:
        texts = (await session.scalars(select(Draft.text).where(Draft.campaign_id == ids["camp_M1"]))).all()
        assert texts and all("uid=" not in t and "environ" not in t for t in texts)
        assert (await session.get(Campaign, ids["camp_M1"])).template_override is None


async def test_unknown_field_is_named_in_both_languages(console, db) -> None:  # type: ignore[no-untyped-def]
    app, client = console
    ids = await seed_console(db)
    csrf = await login(client, db, ids["m1"])
    r = await client.post(f"/api/campaigns/{ids['camp_M1']}/template", json={"template": "{salutation} {amout}"},
                          headers={"X-CSRF-Token": csrf})
    assert r.status_code == 400
    body = r.json()
    assert body["field"] == "amout" and "salutation" in body["allowed"]
    assert "Unknown field {amout}" in body["detail"] and "未知字段 {amout}" in body["detail"]
    # a known field with no value in these drafts (greetings carry no amount) is refused too
    r = await client.post(f"/api/campaigns/{ids['camp_M1']}/template", json={"template": "{salutation} {amount}"},
                          headers={"X-CSRF-Token": csrf})
    assert r.status_code == 400 and r.json()["field"] == "amount"
    r = await client.post(f"/api/campaigns/{ids['camp_M1']}/template",
                          json={"template": "{salutation}，新年快乐！{signature}"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    async with db.sessions() as session:
        texts = set((await session.scalars(select(Draft.text).where(Draft.campaign_id == ids["camp_M1"]))).all())
    assert "客户0，新年快乐！王敏" in texts


def test_shipped_templates_render_in_a_sandbox() -> None:
    from jinja2.exceptions import SecurityError

    env = environment()
    try:
        env.from_string('{{ lipsum.__globals__.os.popen("id").read() }}').render()
    except SecurityError:
        return
    raise AssertionError("the shipped templates' environment is not sandboxed")


async def test_telegram_template_edit_names_the_unknown_field(db, settings, fake_session) -> None:  # type: ignore[no-untyped-def]
    from bot.app import build_dispatcher
    from bot.db.models import Manager
    from handlers.keyboards import ReviewCb
    from tools.fakes.bot_api import callback_update, make_bot, message_update

    ids = await seed_console(db, drafts_per_manager=2)
    async with db.sessions() as session:
        (await session.get(Manager, ids["m1"])).telegram_id = 9100
        await session.commit()
    dp = build_dispatcher(settings, db.sessions, None)
    bot = make_bot(fake_session)
    for lang, expected in (("zh", "未知字段 {amout}"), ("en", "Unknown field {amout}")):
        async with db.sessions() as session:  # a manager reads the bot in the language they chose
            (await session.get(Manager, ids["m1"])).language = lang
            await session.commit()
        await dp.feed_update(bot, callback_update(9100, ReviewCb(a="tpl", c=ids["camp_M1"]).pack(),
                                                  language_code=lang))
        assert "{salutation}" in fake_session.sent_texts(9100)[-1]
        await dp.feed_update(bot, message_update(9100, '{amout} {{ lipsum.__globals__ }}', language_code=lang))
        assert expected in fake_session.sent_texts(9100)[-1]
        # still waiting for the template: the corrected text is taken
        await dp.feed_update(bot, message_update(9100, "{salutation}，您好！{signature}", language_code=lang))
    async with db.sessions() as session:
        texts = set((await session.scalars(select(Draft.text).where(Draft.campaign_id == ids["camp_M1"]))).all())
    assert texts == {"客户0，您好！王敏", "客户1，您好！王敏"}
