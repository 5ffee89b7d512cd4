"""/approvals in the TUI's reducer (ui/approvals.py through ui/state.py): pure, no terminal."""

from __future__ import annotations

from protocol.envelope import Header
from protocol.messages import ApprovalAnswer, ApprovalRequest, ApprovalWithdrawn
from tests.unit.test_ui_state import new, take
from ui import state as S


def arrive(st: S.UiState, msg_id: str, **kw: object) -> Header:
    fields = dict(
        via="mcp:cursor 0.9",
        profile="demo",
        sql="DELETE FROM items",
        sql_class="destructive",
        confirm="typed",
        confirm_name="public.items",
        reasons=["DELETE without WHERE removes every row"],
        tables=["public.items"],
    )
    fields.update(kw)
    header = Header(id=msg_id, kind="approval.request", src="cli-7-abc", dst="ui", trace="tr")
    assert S.reduce(st, header, ApprovalRequest(**fields))  # type: ignore[arg-type]
    return header


def lines(st: S.UiState) -> str:
    return "\n".join(e.text for e in st.pane.log)


def test_an_agents_request_is_shown_listed_and_answered_by_the_person():
    st = new()
    take(st)
    request = arrive(st, "cli-7-abc:1:5")
    assert "cursor 0.9 asks to run a destructive statement on 'demo'" in lines(st)
    assert S.submit_input(st, "/approvals")
    assert "DELETE FROM items" in lines(st) and "/approve 1 public.items runs it" in lines(st)
    assert S.submit_input(st, "/approve 1")  # a destructive one needs the name
    assert "type its object's name" in lines(st) and not take(st)
    assert S.submit_input(st, "/approve 1 items")  # without public., as everywhere
    [(header, body)] = take(st)
    assert body == ApprovalAnswer(approved=True, typed="items")
    assert (header.dst, header.reply_to) == (request.src, request.id)
    assert not st.approvals.waiting
    assert S.submit_input(st, "/approve 1 items")
    assert "There is no approval 1 waiting" in lines(st) and not take(st)


def test_deny_and_withdrawn():
    st = new()
    take(st)
    arrive(st, "m:1", sql_class="write", confirm="confirm", confirm_name="")
    second = arrive(st, "m:2", sql_class="write", confirm="confirm", confirm_name="")
    assert S.submit_input(st, "/deny 1")
    [(_header, body)] = take(st)
    assert body == ApprovalAnswer(approved=False)
    assert S.reduce(
        st,
        Header(id="m:3", kind="approval.withdrawn", src="cli-7-abc", dst="ui"),
        ApprovalWithdrawn(target=second.id),
    )
    assert "Approval 2 was withdrawn" in lines(st) and not st.approvals.waiting
    assert S.submit_input(st, "/approvals")
    assert "No agent is waiting" in lines(st)
