"""Delivery through ../shared/tg_emulator (skipped when it is absent): nothing lost, nothing twice."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import shared_path
from tools.bench.delivery import run_bench


@pytest.fixture
def emulator():  # type: ignore[no-untyped-def]
    server = shared_path("tg_emulator", "server.py")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, str(server), "--port", str(port), "--fail-rate", "0.05"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300  # only a stuck emulator takes this long, even on a loaded host
    while True:
        try:
            if httpx.get(f"{base}/_emu/stats", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail("the Bot API emulator did not start")
        time.sleep(0.1)
    try:
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.emulator
async def test_delivery_through_emulator_with_faults(emulator: str, tmp_path: Path) -> None:
    result = await run_bench(messages=40, api_base=emulator, workers=1, database_url="", redis_url="",
                             kill_after=None, workdir=tmp_path, timeout_s=120)
    assert result.sent == 40
    assert result.lost == 0
    assert result.emulator["duplicates"] == 0
    assert result.emulator["chats_reached"] == 40
