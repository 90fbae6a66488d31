// SPDX-License-Identifier: GPL-2.0
/*
 * QEMU as lmig's client: lmig carries the guest's RAM, QEMU only its
 * devices. Both QEMUs keep guest RAM in a shared memory backend, and
 * QEMU's own migration, with the x-ignore-shared capability, leaves that
 * RAM out. lmctl starts QEMU's migration only once lmig has completed, so
 * the destination QEMU, which runs when its device state has arrived,
 * never runs on part of the guest's memory.
 *
 * What lmig cannot see is refused here. KVM's dirty log records what the
 * guest's vCPUs write, not what QEMU itself writes into guest memory on
 * behalf of an emulated device (a disk read, a received packet, a virtio
 * ring): a page written so after lmig sent it would reach the destination
 * stale. So the QEMU must have no device that does so; see qemu.rst.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmctl.h"
#include "progress.h"
#include "qemu.h"
#include "vmm.h"

#define POLL_MS		100

/* PCI classes of a chipset's own functions, which write no guest memory unasked. */
static int quiet_class(int class)
{
	return (class >> 8) == 0x06 ||	/* bridges: host, ISA, PCI, other */
	       class == 0x0101 ||	/* IDE: DMA only with a drive (query-block) */
	       class == 0x0106 ||	/* SATA (AHCI): likewise */
	       class == 0x0c05;		/* SMBus */
}

static double num(const struct json *obj, const char *key)
{
	const struct json *v = json_get(obj, key);

	return v && v->type == JSON_NUMBER ? v->num : -1;
}

/* The first device on bus (and the buses behind its bridges) that may write guest memory. */
static const struct json *loud_device(const struct json *devices)
{
	const struct json *d, *found, *bridge;
	int i;

	if (!devices || devices->type != JSON_ARRAY)
		return NULL;
	for (i = 0; i < devices->n; i++) {
		d = devices->items[i];
		if (!quiet_class((int)num(json_get(d, "class_info"), "class")))
			return d;
		bridge = json_get(json_get(d, "pci_bridge"), "devices");
		found = loud_device(bridge);
		if (found)
			return found;
	}
	return NULL;
}

/* Virtio devices on any transport (microvm's are virtio-mmio): their rings live in guest RAM. */
static int check_virtio(struct qmp *q, const char *path, char *err, size_t errlen)
{
	const struct json *list;
	const char *type, *name;
	char why[256] = "", *args;
	struct json *r;
	int i, ret = 0;

	if (asprintf(&args, "{\"path\": \"%s\"}", path) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	r = qmp_run(q, "qom-list", args, why, sizeof(why));
	free(args);
	list = r ? json_get(r, "return") : NULL;
	for (i = 0; list && list->type == JSON_ARRAY && i < list->n && !ret; i++) {
		type = json_str(list->items[i], "type");
		name = json_str(list->items[i], "name");
		if (!type || (strncmp(type, "child<virtio-", 13) && strncmp(type, "child<vhost-", 12)))
			continue;
		snprintf(err, errlen,
			 "QEMU has device '%s' (%s): a virtio device writes guest memory where KVM's dirty log does not see it, and lmig would miss those pages (see Documentation/qemu.rst)",
			 name ?: "?", type + 6);
		ret = -1;
	}
	json_free(r);
	return ret;
}

static int check_devices(struct qmp *q, char *err, size_t errlen)
{
	const struct json *buses, *blocks, *d;
	char why[256];
	struct json *r;
	int i, ret = 0;

	r = qmp_run(q, "query-pci", NULL, why, sizeof(why));
	if (!r) {
		snprintf(err, errlen, "QEMU refused 'query-pci': %s", why);
		return -1;
	}
	buses = json_get(r, "return");
	for (i = 0; buses && buses->type == JSON_ARRAY && i < buses->n && !ret; i++) {
		d = loud_device(json_get(buses->items[i], "devices"));
		if (!d)
			continue;
		snprintf(err, errlen,
			 "QEMU has PCI device %02x:%02x.%x (%s%s%s): an emulated device writes guest memory where KVM's dirty log does not see it, and lmig would miss those pages; migrate a QEMU without it (see Documentation/qemu.rst)",
			 (int)num(d, "bus"), (int)num(d, "slot"), (int)num(d, "function"),
			 json_str(json_get(d, "class_info"), "desc") ?: "class unknown",
			 json_str(d, "qdev_id") && *json_str(d, "qdev_id") ? ", id " : "",
			 json_str(d, "qdev_id") ?: "");
		ret = -1;
	}
	json_free(r);
	if (ret)
		return ret;

	if (check_virtio(q, "/machine/peripheral", err, errlen) ||
	    check_virtio(q, "/machine/peripheral-anon", err, errlen))
		return -1;

	r = qmp_run(q, "query-block", NULL, why, sizeof(why));
	if (!r) {
		snprintf(err, errlen, "QEMU refused 'query-block': %s", why);
		return -1;
	}
	blocks = json_get(r, "return");
	for (i = 0; blocks && blocks->type == JSON_ARRAY && i < blocks->n && !ret; i++) {
		d = blocks->items[i];
		if (!json_get(d, "inserted"))
			continue;
		snprintf(err, errlen,
			 "QEMU has drive '%s' with a medium: its emulated DMA writes guest memory where KVM's dirty log does not see it, and lmig would miss those pages (see Documentation/qemu.rst)",
			 json_str(d, "device") ?: "?");
		ret = -1;
	}
	json_free(r);
	return ret;
}

/* The machine's RAM is a memory backend, and one QEMU maps shared. */
static int check_shared_ram(struct qmp *q, char *err, size_t errlen)
{
	static const char *const how =
		"start QEMU with -object memory-backend-memfd,id=ram,size=SIZE,share=on -machine memory-backend=ram";
	const struct json *list, *m;
	const char *id, *mid;
	struct json *r, *devs;
	char why[256];
	int i, ret = -1;

	r = qmp_run(q, "qom-get", "{\"path\": \"/machine\", \"property\": \"memory-backend\"}",
		    why, sizeof(why));
	id = r ? json_str(r, "return") : NULL;
	/* A QOM path: /objects/ID. */
	if (id && !strncmp(id, "/objects/", 9))
		id += 9;
	if (!id || !*id) {
		snprintf(err, errlen, "QEMU's guest RAM is not a memory backend: %s", how);
		json_free(r);
		return -1;
	}
	devs = qmp_run(q, "query-memdev", NULL, why, sizeof(why));
	list = devs ? json_get(devs, "return") : NULL;
	for (i = 0; list && list->type == JSON_ARRAY && i < list->n; i++) {
		m = list->items[i];
		mid = json_str(m, "id");
		if (!mid || strcmp(mid, id))
			continue;
		m = json_get(m, "share");
		ret = m && m->type == JSON_BOOL && m->num ? 0 : -1;
		break;
	}
	if (ret)
		snprintf(err, errlen,
			 "QEMU's guest RAM (memory backend '%s') is not shared, so QEMU's migration would copy it again: %s",
			 id, how);
	json_free(devs);
	json_free(r);
	return ret;
}

int qemu_is(struct qmp *q)
{
	char why[256];
	struct json *r = qmp_run(q, "query-version", NULL, why, sizeof(why));
	int is = r && json_get(json_get(r, "return"), "qemu");

	json_free(r);
	return is;
}

int qemu_prepare(struct qmp *q, char *err, size_t errlen)
{
	if (!qemu_is(q)) {
		snprintf(err, errlen, "the VMM on this QMP socket is not QEMU: QEMU's device migration needs QEMU");
		return -1;
	}
	if (check_shared_ram(q, err, errlen) || check_devices(q, err, errlen))
		return -1;
	return vmm_run(q, "migrate-set-capabilities",
		   "{\"capabilities\": [{\"capability\": \"x-ignore-shared\", \"state\": true}]}",
		   err, errlen);
}

static char *quoted(const char *s)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		return NULL;
	json_print_string(f, s, strlen(s));
	if (fclose(f)) {
		free(out);
		return NULL;
	}
	return out;
}

/* cmd {"uri": uri} */
static int run_uri(struct qmp *q, const char *cmd, const char *uri, char *err, size_t errlen)
{
	char *u = quoted(uri), *args = NULL;
	int ret = -1;

	if (u && asprintf(&args, "{\"uri\": %s}", u) >= 0)
		ret = vmm_run(q, cmd, args, err, errlen);
	else
		snprintf(err, errlen, "out of memory");
	free(args);
	free(u);
	return ret;
}

int qemu_listen(struct qmp *q, const char *uri, char *err, size_t errlen)
{
	char *st;
	int ret;

	if (qemu_prepare(q, err, errlen))
		return -1;
	st = vmm_status(q, err, errlen);
	if (!st)
		return -1;
	ret = strcmp(st, "inmigrate") ? -1 : 0;
	if (ret)
		snprintf(err, errlen, "the destination QEMU is %s, not waiting for a migration: start it with -incoming defer",
			 st);
	free(st);
	return ret ?: run_uri(q, "migrate-incoming", uri, err, errlen);
}

/* QEMU's migration status; NULL with err set if QEMU cannot say. */
static char *migrate_status(struct qmp *q, double *total_ms, char *err, size_t errlen)
{
	char why[256], *st = NULL;
	struct json *r = qmp_run(q, "query-migrate", NULL, why, sizeof(why));
	const struct json *ret;

	if (!r) {
		snprintf(err, errlen, "QEMU refused 'query-migrate': %s", why);
		return NULL;
	}
	ret = json_get(r, "return");
	if (json_str(ret, "status"))
		st = strdup(json_str(ret, "status"));
	if (total_ms)
		*total_ms = num(ret, "total-time");
	if (st && !strcmp(st, "failed"))
		snprintf(err, errlen, "QEMU's migration failed: %s",
			 json_str(ret, "error-desc") ?: "QEMU gave no reason");
	else if (!st)
		snprintf(err, errlen, "QEMU's query-migrate has no status");
	json_free(r);
	return st;
}

int qemu_send_devices(struct qmp *q, const char *uri, double *ms, char *err, size_t errlen)
{
	int cancelled = 0, ret = QEMU_UNKNOWN;
	char *st;

	/* Refused: nothing was sent. */
	if (run_uri(q, "migrate", uri, err, errlen))
		return -1;
	for (;;) {
		st = migrate_status(q, ms, err, errlen);
		if (!st)
			return QEMU_UNKNOWN;
		if (!strcmp(st, "completed")) {
			ret = 0;
			break;
		}
		/* Failed or cancelled: the destination has not loaded it all, and exits. */
		if (!strcmp(st, "failed")) {
			ret = -1;
			break;
		}
		if (!strcmp(st, "cancelled")) {
			snprintf(err, errlen, "QEMU's migration was cancelled");
			ret = -1;
			break;
		}
		/* QEMU cancels its own migration; the VM then stays here. */
		if (interrupted && !cancelled) {
			vmm_run(q, "migrate_cancel", NULL, err, errlen);
			cancelled = 1;
		}
		free(st);
		sleep_ms(POLL_MS);
	}
	free(st);
	return ret;
}

void qemu_unprepare(struct qmp *q)
{
	char err[256];

	vmm_run(q, "migrate-set-capabilities",
		"{\"capabilities\": [{\"capability\": \"x-ignore-shared\", \"state\": false}]}",
		err, sizeof(err));
}

int qemu_wait_incoming(struct qmp *q, char *err, size_t errlen)
{
	char *st, *mig;
	int ret = -1;

	for (;;) {
		if (interrupted) {
			snprintf(err, errlen, "interrupted");
			return -1;
		}
		st = vmm_status(q, err, errlen);
		if (!st)
			return -1;
		if (strcmp(st, "inmigrate"))
			break;
		free(st);
		sleep_ms(POLL_MS);
	}
	/* Only a QEMU that loaded the device state may run. */
	mig = migrate_status(q, NULL, err, errlen);
	if (!mig || strcmp(mig, "completed")) {
		if (mig && strcmp(mig, "failed"))
			snprintf(err, errlen, "QEMU is %s and its incoming migration %s: it has no device state and must not run",
				 st, mig);
	} else if (!strcmp(st, "paused") || !strcmp(st, "prelaunch")) {
		/* Started with -S, QEMU waits for cont after its migration. */
		ret = vmm_run(q, "cont", NULL, err, errlen);
	} else if (strcmp(st, "running")) {
		snprintf(err, errlen, "QEMU is %s after its incoming migration", st);
	} else {
		ret = 0;
	}
	free(mig);
	free(st);
	return ret;
}
