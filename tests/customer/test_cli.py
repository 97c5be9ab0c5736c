"""rmbot invite / rmbot chat (the local REPL) / rmbot run argument checks."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from bot.cli import load_commands
from bot.cli.app import app
from tests.customer.conftest import FakeKnowledge
from tools.localchat import LocalChat


@pytest.fixture
def cli_env(settings, bank, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("ADMIN_IDS", "7000")
    load_commands()
    return settings


def test_invite_json_has_link_and_token(cli_env):
    result = CliRunner().invoke(app, ["invite", "C0001", "--json", "--bot", "my_bank_bot"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["link"] == f"https://t.me/my_bank_bot?start={data['token']}"
    assert len(data["token"]) >= 16


def test_invite_takes_the_bot_username_from_the_settings(cli_env, monkeypatch):
    monkeypatch.setenv("BOT_USERNAME", "@branch_rm_bot")
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["invite", "C0001", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["link"].startswith("https://t.me/branch_rm_bot?start=")


def test_invite_unknown_client_is_one_clear_line(cli_env):
    result = CliRunner().invoke(app, ["invite", "NOPE", "--bot", "b"])
    assert result.exit_code == 1
    assert "no client" in result.output and "Traceback" not in result.output


def test_run_rejects_unknown_role(cli_env):
    result = CliRunner().invoke(app, ["run", "--role", "nonsense"])
    assert result.exit_code == 2 and "unknown role" in result.output


async def test_local_chat_binds_answers_personal_and_hands_off(settings, db, bank):
    knowledge = FakeKnowledge()
    async with LocalChat.open(settings, db, knowledge, client_no="C0001", lang="zh") as chat:
        sent = await chat.say(f"/start {chat.start_token}")
        assert "张伟" in sent[0].plain and len(chat.last_buttons) == 2
        sent = await chat.press(1)  # yes to greetings
        assert "谢谢" in sent[-1].plain
        sent = await chat.say("我的定期什么时候到期?")
        assert "2026年12月3日" in sent[0].plain
        sent = await chat.say("转人工")
        assert any(s.chat_id == 9001 for s in sent)  # the manager got the notice
        sent = await chat.manager_reply("您好,马上处理", db)
        assert [s.plain for s in sent if s.chat_id == chat.chat_id] == ["王敏（您的客户经理）：\n您好,马上处理"]


def test_chat_repl(cli_env):
    script = "我的定期什么时候到期?\n:press 9\n退订\n:quit\n"
    result = CliRunner().invoke(app, ["chat", "--client", "C0001", "--lang", "zh"], input=script)
    assert result.exit_code == 0, result.output
    assert "2026年12月3日" in result.stdout and "已为您退订" in result.stdout and "! no button 9" in result.stdout
