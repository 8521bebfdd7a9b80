#!/usr/bin/env python3
"""test_chat_session.py — `lmc chat` scripted over stdin on the default model, and `lmc run` sampling:
- 3 turns: turn 3 processes only the tokens after the cached prefix (processed == in context - reused,
  the reused prefix covers all of turn 2's prompt, and it is a small share of the context), and the
  replies equal those of a run that processes every turn from scratch (--no-prefix-cache);
- /reset starts a short conversation again; a tiny context drops old turns, says so, never crashes;
- seeded sampling: same seed same text, another seed different text;
- --stop: the output is exactly the greedy text up to the stop string; with --print-ids the reason is
  stop_string and the ids are the greedy ones up to the token that completes it;
- a seeded chat (temperature > 0) gives the same replies twice.
Skips (77) when the default model is not in the cache."""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lmctest import check, finish, lmc_bin, require_default_model  # noqa: E402

TURN = re.compile(r"\[turn (\d+): (\d+) new prompt tokens processed \(of (\d+) in context, (\d+) reused\), "
                  r"(\d+) generated")


def chat(lmc, lines, *args):
    r = subprocess.run([lmc, "chat", "--temp", "0", "-t", "2", *args], input="".join(l + "\n" for l in lines).encode(),
                       capture_output=True, timeout=300)
    err = r.stderr.decode("utf-8", "replace")
    turns = {int(m.group(1)): tuple(int(x) for x in m.groups()[1:]) for m in TURN.finditer(err)}
    return r.returncode, r.stdout.decode("utf-8", "replace"), err, turns


def run(lmc, *args):
    r = subprocess.run([lmc, "run", "-t", "2", *args], capture_output=True, timeout=300)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def main():
    lmc = lmc_bin()
    require_default_model()

    # --- three turns with the cache kept --------------------------------------------------------
    msgs = ["Hi! My name is Ada and I like tea.", "What is two plus two?", "What is my name?"]
    rc, out, err, t = chat(lmc, msgs, "-n", "24", "-c", "1024")
    check(rc == 0, "3-turn chat exit %d: %s" % (rc, err[-400:]))
    check(sorted(t) == [1, 2, 3], "three turn lines: %s" % err[-600:])
    if sorted(t) == [1, 2, 3]:
        p1, c1, r1, g1 = t[1]
        p2, c2, r2, g2 = t[2]
        p3, c3, r3, g3 = t[3]
        check(p1 == c1 and r1 == 0, "turn 1 processes its whole prompt: %s" % (t[1],))
        for k in (2, 3):
            p, c, r, g = t[k]
            check(p == c - r, "turn %d: processed %d == in context %d - reused %d" % (k, p, c, r))
        check(r2 >= c1 and r3 >= c2, "the reused prefix covers the previous prompt: %s" % t)
        check(p3 < c3 // 2 and p3 < 40, "turn 3 processed only the new tokens: %d of %d" % (p3, c3))
        check(c3 > c2 > c1, "the context grows: %d %d %d" % (c1, c2, c3))
    rc, out_fresh, err_fresh, tf = chat(lmc, msgs, "-n", "24", "-c", "1024", "--no-prefix-cache")
    check(rc == 0 and all(tf[k][0] == tf[k][1] for k in tf), "--no-prefix-cache processes everything: %s" % tf)
    check(out == out_fresh, "replies with the cache kept equal replies from scratch\n  kept  %r\n  fresh %r"
          % (out, out_fresh))

    # --- /reset, /system and commands -------------------------------------------------------------
    rc, out, err, t = chat(lmc, ["Tell me about cats.", "/reset", "Hello.", "/help", "/system You are terse.",
                                 "Hello.", "/nonsense", "/exit", "never sent"], "-n", "16", "-c", "1024")
    check(rc == 0, "commands exit %d: %s" % (rc, err[-400:]))
    check("[conversation reset]" in err and "unknown command" in err and "/reset" in err, "messages: %s" % err)
    check(sorted(t) == [1, 2, 3], "three turns (the line after /exit is not sent): %s" % sorted(t))
    if sorted(t) == [1, 2, 3]:
        check(t[2][1] < t[1][1] + t[1][3], "after /reset the context holds only the new conversation: %s" % t)
        check(t[2][2] > 0, "after /reset the template's shared prefix is still reused: %s" % (t[2],))

    # --- a context too small for the conversation ---------------------------------------------------
    rc, out, err, t = chat(lmc, ["Write a long story about a dragon."] * 5, "-n", "40", "-c", "160")
    check(rc == 0, "tiny context exit %d: %s" % (rc, err[-400:]))
    check("dropped the oldest turn" in err, "says it dropped turns: %s" % err[-800:])
    check(len(t) == 5 and all(v[1] <= 160 for v in t.values()), "every turn fits the context: %s" % t)
    rc, out, err, t = chat(lmc, ["word " * 300], "-n", "8", "-c", "128")
    check(rc == 0 and "too long" in err, "an oversized message is refused: rc %d %s" % (rc, err[-300:]))

    # --- seeded sampling ------------------------------------------------------------------------------
    args = ["-p", "Once upon a time", "-n", "24", "--temp", "0.8", "-c", "256"]
    rc1, a, e1 = run(lmc, *args, "--seed", "42")
    rc2, b, e2 = run(lmc, *args, "--seed", "42")
    rc3, c, e3 = run(lmc, *args, "--seed", "7")
    check(rc1 == 0 and rc2 == 0 and rc3 == 0, "run exits: %d %d %d %s" % (rc1, rc2, rc3, e1[-300:]))
    check(a == b and len(a) > len("Once upon a time") + 10, "seed 42 twice: %r vs %r" % (a, b))
    check(a != c, "seed 42 vs seed 7 differ: %r" % a)
    check("seed:" in e1 and "generated:" in e1 and "tok/s" in e1, "stats on stderr: %s" % e1[-400:])

    # --- stop strings: exactly the text before the first occurrence ------------------------------------
    rc, full, err = run(lmc, "-p", "The history of the Roman Empire", "-n", "48", "--temp", "0",
                        "--no-display-prompt", "-c", "256")
    check(rc == 0 and len(full) > 40, "greedy run: %r %s" % (full, err[-300:]))
    if len(full) > 40:
        stop = full[20:26]
        rc, cut, err = run(lmc, "-p", "The history of the Roman Empire", "-n", "48", "--temp", "0",
                           "--no-display-prompt", "-c", "256", "--stop", stop, "--stop", "never-in-text-xyz")
        check(rc == 0 and cut == full[:full.index(stop)] + "\n",
              "--stop %r: %r, expected %r" % (stop, cut, full[:full.index(stop)]))
        # the same through --print-ids: the reason, and no token sampled past the one completing it
        ids_args = ["-p", "The history of the Roman Empire", "-n", "48", "--temp", "0", "-c", "256", "--print-ids"]
        rc1, j_full, _ = run(lmc, *ids_args)
        rc2, j_cut, _ = run(lmc, *ids_args, "--stop", stop)
        try:
            j_full, j_cut = json.loads(j_full), json.loads(j_cut)
        except ValueError:
            j_full = j_cut = None
        check(rc1 == 0 and rc2 == 0 and j_full and j_cut, "--print-ids runs: %d %d" % (rc1, rc2))
        if j_full and j_cut:
            n = len(j_cut["ids"])
            check(j_full["stop"] == "limit" and len(j_full["ids"]) == 48, "48 ids, limit: %s" % j_full["stop"])
            check(j_cut["stop"] == "stop_string" and j_cut["text"] == full[:full.index(stop)]
                  and j_cut["ids"] == j_full["ids"][:n] and 0 < n < 48,
                  "--stop with --print-ids: %s %r %d ids" % (j_cut["stop"], j_cut["text"], n))
            # one token fewer and the stop string is not complete yet: it ends by the limit instead
            rc3, j_less, _ = run(lmc, *ids_args[:2], "-n", str(n - 1), *ids_args[4:], "--stop", stop)
            j_less = json.loads(j_less) if rc3 == 0 else {}
            check(j_less.get("stop") == "limit" and stop not in j_less.get("text", stop),
                  "%d tokens do not complete the stop string yet: %s" % (n - 1, j_less))

    # --- a seeded chat repeats itself turn by turn (one sampler carries on across turns) ---------------
    sampled = ["-n", "20", "-c", "512", "--temp", "0.9", "--seed", "5"]
    rc1, o1, e1, t1 = chat(lmc, msgs[:2], *sampled)
    rc2, o2, e2, t2 = chat(lmc, msgs[:2], *sampled)
    check(rc1 == 0 and rc2 == 0 and sorted(t1) == [1, 2], "seeded chats exit: %d %d %s" % (rc1, rc2, e1[-300:]))
    check(o1 == o2 and len(o1) > 10, "a seeded chat repeats itself: %r vs %r" % (o1, o2))

    return finish()


if __name__ == "__main__":
    sys.exit(main())
