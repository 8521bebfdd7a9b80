/* cmd_tokenize.c — 'lmc tokenize': text to token ids with the model's tokenizer (only the
 * vocabulary is loaded), and the test-case format of the .inp files beside the shared vocab GGUFs.
 * It does not detokenize. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CASE_SEP "\n__ggml_vocab_test__\n"

static void usage(FILE *to) {
    fprintf(
        to,
        "usage: lmc tokenize [-m MODEL] (-p TEXT | -f FILE | --cases FILE) [--bos] "
        "[--parse-special] [--pieces]\n\n"
        "Tokenizes text with the tokenizer stored in a GGUF file (only the vocabulary is read).\n\n"
        "--cases prints one line per case, each id preceded by a space (the format of the .out\n"
        "files next to the shared vocab GGUFs): no BOS, special-token text not parsed. --pieces\n"
        "shows bytes that are not printable or not UTF-8 as \\xNN.\n"
        "Default output: the ids on one line, separated by spaces.\n\n");
    flags_help(to, CMD_TOKENIZE);
}

/* Writes a piece between quotes, escaping what would not show: controls, quote, backslash, bytes
 * that are not part of valid UTF-8. */
static void print_piece(const char *s, int32_t n) {
    putchar('\'');
    for (int32_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        int l = c < 0x80             ? 1
                : (c & 0xe0) == 0xc0 ? 2
                : (c & 0xf0) == 0xe0 ? 3
                : (c & 0xf8) == 0xf0 ? 4
                                     : 0;
        bool ok = l > 0 && i + l <= n;
        for (int k = 1; ok && k < l; k++)
            ok = ((unsigned char)s[i + k] & 0xc0) == 0x80;
        if (!ok) {
            printf("\\x%02x", c);
            i++;
        } else if (l == 1) {
            if (c == '\n')
                fputs("\\n", stdout);
            else if (c == '\t')
                fputs("\\t", stdout);
            else if (c == '\r')
                fputs("\\r", stdout);
            else if (c == '\'' || c == '\\')
                printf("\\%c", c);
            else if (c < 0x20 || c == 0x7f)
                printf("\\x%02x", c);
            else
                putchar(c);
            i++;
        } else {
            fwrite(s + i, 1, (size_t)l, stdout);
            i += l;
        }
    }
    fputs("'\n", stdout);
}

/* Tokenizes text and prints it in the requested format. */
static int tokenize_print(lmc_model *model, const char *text, size_t len, bool add_special,
                          bool parse_special, bool pieces, bool leading_space) {
    if (len > (size_t)INT32_MAX) {
        fprintf(stderr, "lmc tokenize: the text is too long (%zu bytes)\n", len);
        return CLI_ERR;
    }
    int32_t n = 0;
    int32_t *ids = lmc_tokenize_alloc(model, text, (int32_t)len, add_special, parse_special, &n);
    if (!ids) return cli_fail(LMC_ERR_FORMAT, "tokenize");
    if (pieces) {
        char small[256];
        for (int32_t i = 0; i < n; i++) {
            int32_t m = lmc_token_to_piece(model, ids[i], small, sizeof small, true);
            char *buf = small;
            if (m < 0 && m != INT32_MIN) {
                buf = malloc((size_t)-m);
                if (!buf) {
                    free(ids);
                    return cli_fail(LMC_ERR_OOM, "tokenize");
                }
                m = lmc_token_to_piece(model, ids[i], buf, -m, true);
            }
            printf("%d ", ids[i]);
            print_piece(buf, m > 0 ? m : 0);
            if (buf != small) free(buf);
        }
    } else {
        for (int32_t i = 0; i < n; i++)
            printf(leading_space || i ? " %d" : "%d", ids[i]);
        putchar('\n');
    }
    free(ids);
    return CLI_OK;
}

int cmd_tokenize(int argc, char **argv) {
    const char *model_path = NULL, *prompt = NULL, *file = NULL, *cases = NULL;
    bool bos = false, parse_special = false, pieces = false;
    for (int i = 1; i < argc; i++) {
        flag_val v;
        int r = flag_next(CMD_TOKENIZE, argc, argv, &i, &v);
        if (r < 0) return CLI_USAGE;
        if (r == 0) return cli_usage_error("tokenize", "unexpected argument '%s'", argv[i]);
        switch (v.id) {
        case FL_HELP:
            usage(stdout);
            return CLI_OK;
        case FL_MODEL:
            model_path = v.str;
            break;
        case FL_PROMPT:
            prompt = v.str;
            break;
        case FL_FILE:
            file = v.str;
            break;
        case FL_CASES:
            cases = v.str;
            break;
        case FL_BOS:
            bos = true;
            break;
        case FL_PARSE_SPECIAL:
            parse_special = true;
            break;
        case FL_PIECES:
            pieces = true;
            break;
        default:
            return cli_usage_error("tokenize", "option %s is not handled by tokenize", v.flag);
        }
    }
    if ((prompt != NULL) + (file != NULL) + (cases != NULL) != 1)
        return cli_usage_error("tokenize", "give exactly one of -p TEXT, -f FILE, --cases FILE");

    char *data = NULL;
    size_t len = 0;
    if (file || cases) {
        data = cli_read_file(file ? file : cases, &len);
        if (!data) return CLI_ERR;
    }
    lmc_model *model = cli_load_model(model_path, true, true);
    if (!model) {
        free(data);
        return CLI_ERR;
    }
    const char *warn = lmc_vocab_warning(model);
    if (warn) fprintf(stderr, "lmc tokenize: warning: %s\n", warn);

    int rc = CLI_OK;
    if (prompt) {
        rc = tokenize_print(model, prompt, strlen(prompt), bos, parse_special, pieces, false);
    } else if (file) {
        rc = tokenize_print(model, data, len, bos, parse_special, pieces, false);
    } else {
        /* cases: the text between separators; a final empty chunk is the file's closing separator
         */
        const size_t sl = strlen(CASE_SEP);
        for (size_t pos = 0; pos < len && rc == CLI_OK;) {
            const char *end = memmem(data + pos, len - pos, CASE_SEP, sl);
            size_t n = end ? (size_t)(end - (data + pos)) : len - pos;
            rc = tokenize_print(model, data + pos, n, bos, parse_special, pieces, true);
            pos += n + (end ? sl : 0);
        }
    }
    if (fflush(stdout) != 0) rc = CLI_ERR;
    lmc_model_free(model);
    free(data);
    return rc;
}
