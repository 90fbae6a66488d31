// SPDX-License-Identifier: GPL-2.0
#include <stdlib.h>
#include <string.h>

#include "json.h"

struct parser {
	const char *s, *end;
	int incomplete, error, depth;
};

static void skip_ws(struct parser *p)
{
	while (p->s < p->end && strchr(" \t\r\n", *p->s))
		p->s++;
}

static struct json *node(enum json_type t)
{
	struct json *j = calloc(1, sizeof(*j));

	if (j)
		j->type = t;
	return j;
}

static struct json *fail(struct parser *p, struct json *j)
{
	if (p->s >= p->end)
		p->incomplete = 1;
	else
		p->error = 1;
	json_free(j);
	return NULL;
}

static char *parse_string(struct parser *p)
{
	const char *q = ++p->s;
	char *out, *o;

	while (q < p->end && *q != '"')
		q += *q == '\\' ? 2 : 1;
	if (q >= p->end) {
		p->s = p->end;
		return NULL;
	}
	out = o = malloc(q - p->s + 1);
	if (!out)
		return NULL;
	while (p->s < q) {
		char c = *p->s++;

		if (c != '\\') {
			*o++ = c;
			continue;
		}
		c = *p->s++;
		switch (c) {
		case 'n': *o++ = '\n'; break;
		case 't': *o++ = '\t'; break;
		case 'r': *o++ = '\r'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'u':
			/* Only ASCII matters to QMP; anything else becomes '?'. */
			if (q - p->s >= 4) {
				char hex[5] = { p->s[0], p->s[1], p->s[2], p->s[3], 0 };
				long v = strtol(hex, NULL, 16);

				*o++ = v > 0 && v < 128 ? (char)v : '?';
				p->s += 4;
			}
			break;
		default: *o++ = c; break;
		}
	}
	*o = '\0';
	p->s = q + 1;
	return out;
}

static struct json *parse_value(struct parser *p);

static int add(struct json *j, char *key, struct json *v)
{
	struct json **items = realloc(j->items, (j->n + 1) * sizeof(*items));
	char **keys;

	if (!items)
		return -1;
	j->items = items;
	if (j->type == JSON_OBJECT) {
		keys = realloc(j->keys, (j->n + 1) * sizeof(*keys));
		if (!keys)
			return -1;
		j->keys = keys;
		keys[j->n] = key;
	}
	items[j->n++] = v;
	return 0;
}

static struct json *parse_container(struct parser *p, int object)
{
	struct json *j = node(object ? JSON_OBJECT : JSON_ARRAY);
	char close = object ? '}' : ']';

	if (!j || ++p->depth > 32)
		return fail(p, j);
	p->s++;
	skip_ws(p);
	if (p->s < p->end && *p->s == close) {
		p->s++;
		p->depth--;
		return j;
	}
	for (;;) {
		char *key = NULL;
		struct json *v;

		skip_ws(p);
		if (object) {
			if (p->s >= p->end || *p->s != '"')
				return fail(p, j);
			key = parse_string(p);
			if (!key)
				return fail(p, j);
			skip_ws(p);
			if (p->s >= p->end || *p->s != ':') {
				free(key);
				return fail(p, j);
			}
			p->s++;
		}
		v = parse_value(p);
		if (!v || add(j, key, v)) {
			free(key);
			json_free(v);
			return fail(p, j);
		}
		skip_ws(p);
		if (p->s >= p->end)
			return fail(p, j);
		if (*p->s == close) {
			p->s++;
			p->depth--;
			return j;
		}
		if (*p->s != ',')
			return fail(p, j);
		p->s++;
	}
}

static struct json *parse_value(struct parser *p)
{
	const char *start;
	struct json *j = NULL;

	skip_ws(p);
	start = p->s;
	if (p->s >= p->end)
		return fail(p, NULL);
	switch (*p->s) {
	case '{':
	case '[':
		j = parse_container(p, *p->s == '{');
		break;
	case '"':
		j = node(JSON_STRING);
		if (j && !(j->str = parse_string(p)))
			return fail(p, j);
		break;
	default:
		if (!strncmp(p->s, "true", 4) || !strncmp(p->s, "false", 5)) {
			j = node(JSON_BOOL);
			if (j)
				j->num = *p->s == 't';
			p->s += *p->s == 't' ? 4 : 5;
		} else if (!strncmp(p->s, "null", 4)) {
			j = node(JSON_NULL);
			p->s += 4;
		} else if (strchr("-0123456789", *p->s)) {
			char *e;

			j = node(JSON_NUMBER);
			if (!j)
				return fail(p, NULL);
			j->num = strtod(p->s, &e);
			if (e > p->end)
				return fail(p, j);
			p->s = e;
		} else {
			return fail(p, NULL);
		}
	}
	if (j) {
		j->raw = start;
		j->raw_len = p->s - start;
	}
	return j;
}

struct json *json_parse(const char *s, size_t len, size_t *used)
{
	struct parser p = { .s = s, .end = s + len };
	struct json *j = parse_value(&p);

	if (j) {
		*used = p.s - s;
		return j;
	}
	if (p.incomplete && !p.error) {
		*used = 0;
		return NULL;
	}
	/* Resynchronise at the next line. */
	p.s = memchr(s, '\n', len);
	*used = p.s ? (size_t)(p.s - s) + 1 : len;
	return NULL;
}

struct json *json_parse_copy(const char *s, size_t len)
{
	char *copy = malloc(len + 1);
	struct json *j;
	size_t used;

	if (!copy)
		return NULL;
	memcpy(copy, s, len);
	copy[len] = '\0';
	j = json_parse(copy, len, &used);
	if (!j) {
		free(copy);
		return NULL;
	}
	j->owned = copy;
	return j;
}

struct json *json_get(const struct json *obj, const char *key)
{
	int i;

	if (!obj || obj->type != JSON_OBJECT)
		return NULL;
	for (i = 0; i < obj->n; i++)
		if (!strcmp(obj->keys[i], key))
			return obj->items[i];
	return NULL;
}

const char *json_str(const struct json *obj, const char *key)
{
	struct json *v = json_get(obj, key);

	return v && v->type == JSON_STRING ? v->str : NULL;
}

void json_free(struct json *j)
{
	int i;

	if (!j)
		return;
	for (i = 0; i < j->n; i++) {
		json_free(j->items[i]);
		if (j->keys)
			free(j->keys[i]);
	}
	free(j->items);
	free(j->keys);
	free(j->str);
	free(j->owned);
	free(j);
}

void json_print_string(FILE *f, const char *s, size_t max)
{
	size_t i;

	fputc('"', f);
	for (i = 0; i < max && s[i]; i++) {
		unsigned char c = s[i];

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}
