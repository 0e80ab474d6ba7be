"""The transfer gate on its own: claims, drops and the clock's hold/release balance.

``close()`` walks the entries only when some claim is queued (a count kept by
every QUEUED <-> other change); these tests check that count after each step
and that closing drops every queued claim exactly once.
"""

from databay.planners._gate import QUEUED, TransferGate


class CountingClock:
    """Counts hold()/release() (the gate calls them for any clock but the system one)."""

    def __init__(self):
        self.held = 0

    def hold(self):
        self.held += 1

    def release(self):
        self.held -= 1
        assert self.held >= 0, "release() without hold()"


def queued_entries(gate):
    return sum(entry.state == QUEUED for entry in gate._entries.values())


def test_close_drops_every_queued_claim_once_and_keeps_running_ones():
    """Claims queued, begun, dropped by removal and by a begin after closing: the count of
    queued claims stays right at every step; close() drops the queued ones (their begin
    fails) and releases each once; the running one ends normally.

    Catches: a QUEUED change that does not keep the count (close() then skips queued claims,
    or walks for nothing).
    """
    clock = CountingClock()
    gate = TransferGate(clock)
    links = ["a", "b", "c", "d", "e"]
    gate.add_many(links)
    gate.open()
    tickets = {link: gate.queue(link) for link in links}
    assert all(ticket > 0 for ticket in tickets.values()) and clock.held == 5
    assert gate._queued == queued_entries(gate) == 5
    assert gate.queue("a") == -1  # still queued: the slot is skipped
    assert gate.begin("a", tickets["a"]) and gate._queued == queued_entries(gate) == 4
    assert gate.remove("b") == "queued" and clock.held == 4
    assert gate._queued == queued_entries(gate) == 3
    assert not gate.begin("c", tickets["c"] + 100)  # a stale ticket changes nothing
    assert gate._queued == queued_entries(gate) == 3
    gate.refuse()  # closed without the lock: begin drops the claim itself
    assert not gate.begin("c", tickets["c"]) and clock.held == 3
    assert gate._queued == queued_entries(gate) == 2
    gate.close()
    assert gate._queued == queued_entries(gate) == 0
    assert clock.held == 1, "only the running transfer still holds the clock"
    assert not gate.begin("d", tickets["d"]) and not gate.begin("e", tickets["e"])
    assert clock.held == 1
    gate.end("a")
    assert clock.held == 0
    gate.open()  # a restart: claims count again from zero
    ticket = gate.queue("d")
    assert ticket > 0 and gate._queued == 1
    gate.close()
    assert clock.held == 0 and not gate.begin("d", ticket)
