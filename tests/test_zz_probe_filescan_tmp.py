"""TEMPORARY probe (second outside probe, issue 13): scan the SQLite files' bytes, not only the columns."""
from pathlib import Path
from sqlalchemy import text
from storage.db import get_engine, unit_of_work
from tests.test_links_at_rest import *  # noqa
from tests.test_links_at_rest import test_no_column_holds_a_live_personal_link_after_planning_or_after_sending as base_test


def test_file_bytes(clock, chat, worker, line, database_url):
    captured = {}
    import tests.test_links_at_rest as m
    orig = m.live_tokens
    def spy():
        t = orig(); captured.setdefault("t", set()).update(t); return t
    m.live_tokens = spy
    try:
        base_test(clock, chat, worker, line)
    finally:
        m.live_tokens = orig
    get_engine().dispose()
    path = Path(database_url.removeprefix("sqlite:///"))
    files = [p for p in path.parent.iterdir()]
    hits = {}
    for p in files:
        data = p.read_bytes()
        for t in captured["t"]:
            if t.encode() in data:
                hits.setdefault(p.name, 0); hits[p.name] += data.count(t.encode())
    print("FILES", [f.name for f in files], "TOKENS", len(captured["t"]), "HITS", hits)
    assert hits == {}
