/* SPDX-License-Identifier: GPL-2.0 */
/* Just enough JSON for QMP: parse a command, look up its members, quote a string. */
#ifndef LMVM_JSON_H
#define LMVM_JSON_H

#include <stddef.h>
#include <stdio.h>

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json {
	enum json_type type;
	char *str;		/* JSON_STRING, and object keys */
	double num;		/* JSON_NUMBER, JSON_BOOL */
	struct json **items;	/* JSON_ARRAY, JSON_OBJECT (values) */
	char **keys;		/* JSON_OBJECT */
	int n;
	const char *raw;	/* where the value was in the input */
	size_t raw_len;
	char *owned;		/* input text owned by this root, if any */
};

/*
 * Parses one value from s. Returns NULL with *used == 0 if s holds only an
 * incomplete value, NULL with *used > 0 on a syntax error (skip that much).
 */
struct json *json_parse(const char *s, size_t len, size_t *used);
/* Parses a copy of s[0..len), which the result owns: raw stays valid. */
struct json *json_parse_copy(const char *s, size_t len);
struct json *json_get(const struct json *obj, const char *key);
const char *json_str(const struct json *obj, const char *key);
void json_free(struct json *j);
/* Writes s (at most max bytes, up to a NUL) to f as a quoted JSON string. */
void json_print_string(FILE *f, const char *s, size_t max);

#endif
