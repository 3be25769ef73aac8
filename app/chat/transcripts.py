"""Rendering a session's messages for export: JSON keeps the tree; Markdown and TXT are transcripts.

With scope `all`, a transcript shows the main (active) conversation first and then every other
branch as its own section, each starting where it leaves its parent path: every message appears
exactly once, in conversation order.
"""
import json
from collections import defaultdict

from app import ids

ROLE_NAMES = {"user": "User", "assistant": "Assistant", "system": "System"}


class Tree:
    def __init__(self, rows):
        self.rows = rows
        self.by_id = {r["id"]: r for r in rows}
        self.children = defaultdict(list)
        for row in rows:
            parent = row["parent_id"] if row["parent_id"] in self.by_id else None
            self.children[parent].append(row)
        for siblings in self.children.values():
            siblings.sort(key=lambda r: r["variant_index"])

    def _continue(self, start):
        """start, then the active child of each message down to a leaf."""
        path = [start]
        while self.children.get(path[-1]["id"]):
            kids = self.children[path[-1]["id"]]
            path.append(next((k for k in kids if k["is_active"]), kids[0]))
        return path

    def active_path(self):
        roots = self.children.get(None, [])
        if not roots:
            return []
        return self._continue(next((r for r in roots if r["is_active"]), roots[0]))

    def sections(self):
        """[(branch start or None for the main conversation, path)] covering every message once."""
        main = self.active_path()
        if not main:
            return []
        sections, pending = [(None, main)], [main]
        while pending:
            path = pending.pop(0)
            for node in path:
                parent = node["parent_id"] if node["parent_id"] in self.by_id else None
                if path is not main and node is path[0]:
                    continue  # this node's siblings belong to the path it branched from
                for sibling in self.children[parent]:
                    if sibling is not node:
                        branch = self._continue(sibling)
                        sections.append((sibling, branch))
                        pending.append(branch)
        return sections

    def total_variants(self, row):
        parent = row["parent_id"] if row["parent_id"] in self.by_id else None
        return len(self.children[parent])


def _text(content, markdown):
    pieces = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            pieces.append(part.get("text", ""))
        elif kind == "code":
            fence = "```" if markdown else ""
            body = part.get("code", "")
            pieces.append(f"{fence}{part.get('language', '')}\n{body}\n{fence}" if markdown else body)
        else:
            pieces.append(f"[{kind}: {part.get(kind + '_id', '')}]")
    return "\n\n".join(pieces)


def _label(tree, row):
    state = "active" if row["is_active"] else "inactive"
    note = f"variant {row['variant_index'] + 1} of {tree.total_variants(row)}, {state}"
    return note + ("" if row["is_complete"] else ", incomplete")


def _title(session):
    return session["metadata"].get("title") or "Chat session"


def _paths(tree, scope):
    return [(None, tree.active_path())] if scope == "active" else tree.sections()


def render_markdown(session, rows, scope):
    tree = Tree(rows)
    out = [f"# {_title(session)}", "", f"Session `{ids.session_gts(session['id'])}` · scope: {scope}", ""]
    for start, path in _paths(tree, scope):
        if start is not None:
            origin = tree.by_id.get(start["parent_id"])
            where = f"after “{_text(origin['content'], False)[:60]}”" if origin else "at the start"
            out += ["---", "", f"## Branch {ids.message_gts(start['id'])}", "", f"_Leaves the conversation {where}._",
                    ""]
        for row in path:
            heading = ROLE_NAMES.get(row["role"], row["role"])
            detail = f" _({_label(tree, row)})_" if scope == "all" or not row["is_complete"] else ""
            out += [f"### {heading}{detail}", "", _text(row["content"], True), ""]
    return "\n".join(out).rstrip() + "\n"


def render_txt(session, rows, scope):
    tree = Tree(rows)
    out = [_title(session), f"Session {ids.session_gts(session['id'])} (scope: {scope})", ""]
    for start, path in _paths(tree, scope):
        if start is not None:
            out += ["-" * 60, f"BRANCH {ids.message_gts(start['id'])}", ""]
        for row in path:
            label = ROLE_NAMES.get(row["role"], row["role"]).upper()
            detail = f" ({_label(tree, row)})" if scope == "all" or not row["is_complete"] else ""
            body = "\n".join("  " + line for line in _text(row["content"], False).splitlines())
            out += [f"{label}{detail}:", body, ""]
    return "\n".join(out).rstrip() + "\n"


def render_json(session, rows, scope):
    tree = Tree(rows)
    chosen = tree.active_path() if scope == "active" else rows
    messages = [{"message_id": ids.message_gts(r["id"]), "parent_message_id": ids.message_gts(r["parent_id"]),
                 "role": r["role"], "content": r["content"], "file_ids": [str(f) for f in r["file_ids"]],
                 "variant_index": r["variant_index"], "total_variants": tree.total_variants(r),
                 "is_active": r["is_active"], "is_complete": r["is_complete"], "metadata": r["metadata"],
                 "created_at": r["created_at"].isoformat(), "reactions": r.get("reactions") or []} for r in chosen]
    document = {"session": {"session_id": ids.session_gts(session["id"]), "session_type_id": session["session_type_id"],
                            "metadata": session["metadata"], "created_at": session["created_at"].isoformat()},
                "scope": scope, "messages": messages}
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


RENDERERS = {
    "json": (render_json, "application/json; charset=utf-8", "json"),
    "markdown": (render_markdown, "text/markdown; charset=utf-8", "md"),
    "txt": (render_txt, "text/plain; charset=utf-8", "txt"),
}
