"""SIGTERM during a fan-out: `paperbot run` stops, every message in flight is either finished (posted
and recorded sent) or handed back (planned, nothing posted), and the next start posts the rest: nothing
lost, nothing posted twice. How fast it stops is measured in bench/bench_shutdown.py, not asserted here."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.fakes.slack_server import FakeSlack
from tests.support_shutdown import outbox_states, seed_unfinished_notes, start_bot

CHANNELS = 120


def test_sigterm_mid_fan_out_finishes_or_hands_back_every_row_and_the_restart_posts_the_rest(tmp_path: Path) -> None:
    database = tmp_path / "p.db"
    keys = seed_unfinished_notes(database, CHANNELS)
    # Each post takes a while: when the first is answered, dozens are in flight and most not started.
    with FakeSlack(latency_s=0.4) as slack:
        bot = start_bot(tmp_path, database, slack)
        assert slack.wait_for(lambda: slack.count("chat.postMessage") >= 1, timeout=60), "the fan-out never started"
        code, _, stderr = bot.stop()
        assert code == 0, stderr
        assert "Traceback" not in stderr and "closed database" not in stderr, stderr
        states = outbox_states(database)
        posted = Counter(str(call.body.get("channel")) for call in slack.calls("chat.postMessage"))
        # Handed back: nothing is left "sending", where a restart could not know whether it is out there.
        assert set(states.values()) <= {"sent", "planned"}, Counter(states.values())
        assert 0 < Counter(states.values())["planned"] < CHANNELS  # stopped mid-way, not before, not after
        assert all(count == 1 for count in posted.values()), posted
        assert sum(posted.values()) == Counter(states.values())["sent"]

        again = start_bot(tmp_path, database, slack)
        assert slack.wait_for(lambda: len(slack.calls("chat.postMessage")) >= CHANNELS, timeout=120)
        assert slack.wait_for(lambda: set(outbox_states(database).values()) == {"sent"}, timeout=60)
        code, _, stderr = again.stop()
        assert code == 0, stderr
    posted = Counter(str(call.body.get("channel")) for call in slack.calls("chat.postMessage"))
    assert len(posted) == CHANNELS and set(posted.values()) == {1}, posted
    assert set(outbox_states(database)) == set(keys)
