"""app/chat/transcripts.py: rendering a tree of rows as JSON, Markdown and TXT, without a database."""
import json
import uuid
from datetime import UTC, datetime

from app.chat.transcripts import RENDERERS, Tree

SESSION = {"id": uuid.uuid4(), "session_type_id": "gts.hyperspot.chat_engine.session_types.bot.v1~",
           "metadata": {"title": "Trip"}, "created_at": datetime(2026, 1, 1, tzinfo=UTC)}


def row(text, parent=None, role="user", index=0, active=True, complete=True):
    return {"id": uuid.uuid4(), "parent_id": parent["id"] if parent else None, "role": role,
            "content": [{"type": "text", "text": text}], "file_ids": [], "variant_index": index,
            "is_active": active, "is_complete": complete, "metadata": {},
            "created_at": datetime(2026, 1, 1, tzinfo=UTC)}


def tree_rows():
    """q1 → (reply 1 → q2 → reply 2 | reply 3, inactive)."""
    q1 = row("question 1")
    r1 = row("reply 1", q1, "assistant")
    r3 = row("reply 3", q1, "assistant", index=1, active=False)
    q2 = row("question 2", r1)
    r2 = row("reply 2", q2, "assistant", complete=False)
    return [q1, r1, r3, q2, r2]


def test_the_active_path_follows_active_children():
    rows = tree_rows()
    assert [r["content"][0]["text"] for r in Tree(rows).active_path()] == ["question 1", "reply 1",
                                                                         "question 2", "reply 2"]
    assert Tree([]).active_path() == []


def test_sections_cover_every_message_once_main_conversation_first():
    rows = tree_rows()
    sections = Tree(rows).sections()
    assert sections[0][0] is None
    seen = [r["id"] for _, path in sections for r in path]
    assert sorted(seen) == sorted(r["id"] for r in rows) and len(seen) == len(set(seen))
    assert sections[1][0]["content"][0]["text"] == "reply 3"


def test_transcripts_read_in_order_and_label_variants():
    for name in ("markdown", "txt"):
        render = RENDERERS[name][0]
        active = render(SESSION, tree_rows(), "active")
        positions = [active.index(t) for t in ("question 1", "reply 1", "question 2", "reply 2")]
        assert positions == sorted(positions) and "reply 3" not in active
        assert "incomplete" in active  # reply 2 was cut off
        everything = render(SESSION, tree_rows(), "all")
        assert everything.index("reply 2") < everything.index("reply 3")
        assert "variant 2 of 2" in everything and everything.startswith(("# Trip", "Trip"))


def test_markdown_fences_code_and_names_non_text_parts():
    code = row("x")
    code["content"] = [{"type": "code", "language": "py", "code": "print(1)"}, {"type": "image", "image_id": "i1"}]
    text = RENDERERS["markdown"][0](SESSION, [code], "active")
    assert "```py\nprint(1)\n```" in text and "[image: i1]" in text


def test_json_keeps_the_tree():
    rows = tree_rows()
    document = json.loads(RENDERERS["json"][0](SESSION, rows, "all"))
    assert len(document["messages"]) == 5 and document["scope"] == "all"
    by_text = {m["content"][0]["text"]: m for m in document["messages"]}
    assert by_text["reply 3"]["total_variants"] == 2 and by_text["reply 3"]["is_active"] is False
    assert by_text["question 2"]["parent_message_id"] == by_text["reply 1"]["message_id"]
    assert len(json.loads(RENDERERS["json"][0](SESSION, rows, "active"))["messages"]) == 4
