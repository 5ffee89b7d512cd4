"""`[mcp] approve = "tui"`: an agent's write waits for the person in a running pgask TUI.

For a client that cannot ask its person (no MCP elicitation), `pgask mcp` sends the statement
to the TUI that announced itself most recently (ui/approvals.py), over that TUI's own bus, and
waits for the person's `/approve` or `/deny`. A call that is cancelled (or whose client goes
away) withdraws its request, so the TUI never offers what nobody waits for.
"""

from __future__ import annotations

import trio

from protocol.messages import ApprovalAnswer, ApprovalRequest, ApprovalWithdrawn, Failure
from protocol.transport import open_context
from ui import approvals
from ui.client import open_client

WAIT_S = 15 * 60  # how long a request waits for the person before it counts as refused


async def ask_tui(request: ApprovalRequest, *, wait_s: float = WAIT_S) -> tuple[bool, str, str]:
    """(approved, typed, why not): the person's answer in a pgask TUI."""
    tuis = approvals.running_tuis()
    if not tuis:
        return (
            False,
            "",
            (
                "This statement needs its person's approval, this MCP client cannot ask them, and "
                'no pgask TUI is running to approve it ([mcp] approve = "tui"). Nothing ran. Ask '
                "the person to open `pgask`, then call again; it waits under /approvals."
            ),
        )
    tui = tuis[0]
    async with open_context() as ctx, open_client(ctx, tui["endpoint"]) as client:
        request_id = client.ids()
        answered: ApprovalAnswer | None = None
        why = ""
        try:
            with trio.move_on_after(wait_s):
                async for header, reply in client.stream(
                    tui["identity"], request, request_id=request_id
                ):
                    if isinstance(reply, ApprovalAnswer) and header.src == tui["identity"]:
                        answered = reply
                    elif isinstance(reply, Failure):
                        why = f"The pgask TUI could not be asked: {reply.message} Nothing ran."
        finally:
            if answered is None:  # cancelled, timed out or failed: the TUI forgets it
                with trio.CancelScope(shield=True), trio.move_on_after(2):
                    await client.send(tui["identity"], ApprovalWithdrawn(target=request_id))
        if answered is None:
            return (
                False,
                "",
                why
                or (
                    f"Nobody answered in the pgask TUI within {wait_s / 60:.0f} minutes. Nothing ran."
                ),
            )
        if not answered.approved:
            return False, "", "The person refused it in the pgask TUI (/deny). Nothing ran."
        return True, answered.typed, ""
