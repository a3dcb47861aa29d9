/*
 * test_maildrop - the maildrop file checker: a good file, and each way a
 * file can be malformed (order, envelope, stream count, limit, EOF), and
 * the file names.
 */
#include <stdio.h>
#include <string.h>

#include "base/attr.h"
#include "base/ipc.h"
#include "mail/cleanup_proto.h"
#include "mail/maildrop.h"
#include "tap.h"

/* frame kinds a case is made of */
enum { F_BEGIN, F_BEGIN_NORCPT, F_BEGIN_BADOP, F_BEGIN_ORCPT1, F_CHUNK, F_END, F_END_BAD, F_ABORT, F_STOP };

/* make - one frame of the given kind into l */
static void make(struct attr_list *l, int kind, long long end_count)
{
	attr_list_reset(l);
	switch (kind) {
	case F_BEGIN:
	case F_BEGIN_NORCPT:
	case F_BEGIN_BADOP:
	case F_BEGIN_ORCPT1:
		attr_add_str(l, CLEANUP_OP, kind == F_BEGIN_BADOP ? "hello" : CLEANUP_OP_BEGIN);
		attr_add_str(l, CLEANUP_SENDER, "a@example.com");
		if (kind != F_BEGIN_NORCPT) {
			attr_add_str(l, CLEANUP_RCPT, "b@example.com");
			attr_add_str(l, CLEANUP_RCPT, "c@example.com");
		}
		if (kind == F_BEGIN_ORCPT1)
			attr_add_str(l, CLEANUP_RCPT_ORCPT, "rfc822;b@example.com");
		break;
	case F_CHUNK:
		attr_add_data(l, IPC_STREAM_CHUNK, "0123456789", 10);
		break;
	case F_END:
	case F_END_BAD:
		attr_add_int(l, IPC_STREAM_END, kind == F_END ? end_count : end_count + 1);
		break;
	case F_ABORT:
		attr_add_str(l, CLEANUP_OP, CLEANUP_OP_ABORT);
		break;
	}
}

static const struct {
	const char *name;
	int frames[8];
	unsigned long long limit;
	int want;			/* 0: complete; 1: error at a frame; 2: error at EOF */
} cases[] = {
	{"a good file", {F_BEGIN, F_CHUNK, F_CHUNK, F_END, F_STOP}, 0, 0},
	{"a good empty message", {F_BEGIN, F_END, F_STOP}, 0, 0},
	{"content at the limit", {F_BEGIN, F_CHUNK, F_CHUNK, F_END, F_STOP}, 20, 0},
	{"content over the limit", {F_BEGIN, F_CHUNK, F_CHUNK, F_END, F_STOP}, 19, 1},
	{"empty file", {F_STOP}, 0, 2},
	{"no end frame", {F_BEGIN, F_CHUNK, F_STOP}, 0, 2},
	{"content first", {F_CHUNK, F_END, F_STOP}, 0, 1},
	{"no recipients", {F_BEGIN_NORCPT, F_END, F_STOP}, 0, 1},
	{"wrong op", {F_BEGIN_BADOP, F_END, F_STOP}, 0, 1},
	{"orcpt count differs", {F_BEGIN_ORCPT1, F_END, F_STOP}, 0, 1},
	{"end count wrong", {F_BEGIN, F_CHUNK, F_END_BAD, F_STOP}, 0, 1},
	{"abort inside the content", {F_BEGIN, F_CHUNK, F_ABORT, F_STOP}, 0, 1},
	{"a second message", {F_BEGIN, F_END, F_BEGIN, F_END, F_STOP}, 0, 1},
};

int main(void)
{
	struct attr_list l;

	attr_list_init(&l);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct maildrop_check mc;
		long long bytes = 0;
		int got = 0;
		char err[256] = "";

		maildrop_check_init(&mc, cases[i].limit);
		for (int f = 0; cases[i].frames[f] != F_STOP; f++) {
			const void *p;
			size_t n;

			make(&l, cases[i].frames[f], bytes);
			switch (maildrop_check_frame(&mc, &l, &p, &n, err, sizeof(err))) {
			case MAILDROP_CHUNK:
				bytes += (long long) n;
				break;
			case MAILDROP_ERROR:
				got = 1;
				break;
			default:
				break;
			}
			if (got)
				break;
		}
		if (!got && maildrop_check_done(&mc, err, sizeof(err)) < 0)
			got = 2;
		is_int(got, cases[i].want, cases[i].name);
		if (got)
			printf("# %s\n", err);
	}
	attr_list_free(&l);

	ok(maildrop_name_ok("0PAB3Q7XK2M4F71"), "a queue-id shaped name is a complete file");
	ok(!maildrop_name_ok("tmp.123.456") && maildrop_name_tmp("tmp.123.456"), "tmp. is being written");
	ok(!maildrop_name_ok("../x") && !maildrop_name_ok(""), "other names are neither");
	return tap_done();
}
