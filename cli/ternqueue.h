/*
 * ternqueue - the queue listings of ternqueue beyond mailq's format: the
 * wide layout with sender and recipient domain columns (-p -w) and JSON
 * lines (-j). Both print from queue_list items (lib/mail/queue_list.h),
 * so they show exactly what mailq shows.
 */
#ifndef TERN_CLI_TERNQUEUE_H
#define TERN_CLI_TERNQUEUE_H

#include <stdbool.h>
#include <stdio.h>

#include "mail/queue_list.h"

/* ternqueue_printer - state of one listing */
struct ternqueue_printer {
	FILE *out;
	bool json;			/* -j, else the wide layout */
	long count;
	long long bytes;
};

/* ternqueue_print_item - queue_list callback: one message in p's layout */
int ternqueue_print_item(const struct queue_list_item *it, void *ctx);
/* ternqueue_print_end - the wide layout's summary line (JSON has none) */
void ternqueue_print_end(struct ternqueue_printer *p);

#endif
