// SPDX-License-Identifier: GPL-2.0
/*
 * x-save-state / x-load-state: everything the guest needs to continue,
 * apart from its memory. The blob is a header and tagged sections, one per
 * piece of vCPU state, so a reader can check every length before use.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "lmvm.h"

#define BLOB_MAGIC "LMVMST01"
#define BLOB_VERSION 1

struct blob_header {
	char magic[8];
	uint32_t version;
	uint32_t nvcpus;
	uint64_t mem_size;
	uint64_t rate;
	uint32_t rate_max;
	uint32_t pattern;
	uint64_t beat_count, beat_last_ns, beat_max_gap_ns;
	uint32_t check_seq;
	uint32_t nsections;
};

struct section {
	uint32_t tag;
	uint32_t vcpu;
	uint32_t len;
	uint32_t pad;
};

/* Tags in the order KVM wants them put back (as QEMU does). */
enum tag {
	TAG_REGS = 1,
	TAG_XSAVE,
	TAG_XCRS,
	TAG_SREGS,
	TAG_MSRS,
	TAG_EVENTS,
	TAG_MPSTATE,
	TAG_DEBUGREGS,
	TAG_MAX,
};

static const struct {
	const char *name;
	unsigned long get, set;
	size_t size;		/* 0: variable (XSAVE, MSRs) */
} kinds[TAG_MAX] = {
	[TAG_REGS] = { "regs", KVM_GET_REGS, KVM_SET_REGS, sizeof(struct kvm_regs) },
	[TAG_XSAVE] = { "xsave", KVM_GET_XSAVE, KVM_SET_XSAVE, 0 },
	[TAG_XCRS] = { "xcrs", KVM_GET_XCRS, KVM_SET_XCRS, sizeof(struct kvm_xcrs) },
	[TAG_SREGS] = { "sregs", KVM_GET_SREGS, KVM_SET_SREGS, sizeof(struct kvm_sregs) },
	[TAG_MSRS] = { "msrs", KVM_GET_MSRS, KVM_SET_MSRS, 0 },
	[TAG_EVENTS] = { "vcpu events", KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS,
			 sizeof(struct kvm_vcpu_events) },
	[TAG_MPSTATE] = { "mp state", KVM_GET_MP_STATE, KVM_SET_MP_STATE,
			  sizeof(struct kvm_mp_state) },
	[TAG_DEBUGREGS] = { "debug registers", KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS,
			    sizeof(struct kvm_debugregs) },
};

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static int put(struct buf *b, const void *data, size_t len)
{
	size_t need = b->len + ((len + 7) & ~7ul);

	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		uint8_t *p;

		while (cap < need)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p)
			return -1;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	memset(b->p + b->len + len, 0, ((len + 7) & ~7ul) - len);
	b->len = need;
	return 0;
}

/* The XSAVE area is larger than struct kvm_xsave on hosts with AMX. */
static size_t xsave_size(struct vm *vm)
{
	int n = ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);

	return n > (int)sizeof(struct kvm_xsave) ? (size_t)n : sizeof(struct kvm_xsave);
}

static size_t msrs_size(struct vm *vm)
{
	return sizeof(struct kvm_msrs) + vm->nmsrs * sizeof(struct kvm_msr_entry);
}

static int get_one(struct vm *vm, struct vcpu *v, int tag, void *data)
{
	if (tag == TAG_MSRS) {
		struct kvm_msrs *m = data;
		int i;

		m->nmsrs = vm->nmsrs;
		for (i = 0; i < vm->nmsrs; i++)
			m->entries[i].index = vm->msr_index[i];
		return ioctl(v->fd, KVM_GET_MSRS, m) == vm->nmsrs ? 0 : -1;
	}
	if (tag == TAG_XSAVE && xsave_size(vm) > sizeof(struct kvm_xsave))
		return ioctl(v->fd, KVM_GET_XSAVE2, data);
	return ioctl(v->fd, kinds[tag].get, data);
}

int state_save(struct vm *vm, uint8_t **blob, size_t *len, char *err, size_t errlen)
{
	struct blob_header h = {
		.version = BLOB_VERSION,
		.nvcpus = vm->nvcpus,
		.mem_size = vm->mem_size,
		.rate = vm->rate,
		.rate_max = vm->rate_max,
		.pattern = vm->pattern,
		.check_seq = vm->check_seq,
		.nsections = vm->nvcpus * (TAG_MAX - 1),
	};
	size_t biggest = xsave_size(vm) > msrs_size(vm) ? xsave_size(vm) : msrs_size(vm);
	struct buf b = { 0 };
	uint8_t *data;
	int i, tag;

	if (biggest < 4096)
		biggest = 4096;
	data = calloc(1, biggest);
	if (!data)
		return -1;
	memcpy(h.magic, BLOB_MAGIC, 8);
	pthread_mutex_lock(&vm->lock);
	h.beat_count = vm->beat_count;
	h.beat_last_ns = vm->beat_last_ns;
	h.beat_max_gap_ns = vm->beat_max_gap_ns;
	pthread_mutex_unlock(&vm->lock);
	if (put(&b, &h, sizeof(h)))
		goto oom;

	for (i = 0; i < vm->nvcpus; i++) {
		for (tag = 1; tag < TAG_MAX; tag++) {
			struct section s = { .tag = tag, .vcpu = i };

			s.len = tag == TAG_XSAVE ? xsave_size(vm) :
				tag == TAG_MSRS ? msrs_size(vm) : kinds[tag].size;
			memset(data, 0, biggest);
			if (get_one(vm, &vm->vcpus[i], tag, data)) {
				snprintf(err, errlen, "reading %s of vCPU %d: %s", kinds[tag].name,
					 i, strerror(errno));
				free(b.p);
				free(data);
				return -1;
			}
			if (put(&b, &s, sizeof(s)) || put(&b, data, s.len))
				goto oom;
		}
	}
	free(data);
	*blob = b.p;
	*len = b.len;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	free(b.p);
	free(data);
	return -1;
}

static int set_one(struct vm *vm, struct vcpu *v, int tag, void *data, uint32_t len)
{
	if (tag == TAG_MSRS) {
		struct kvm_msrs *m = data;
		int n;

		if (len < sizeof(*m) ||
		    m->nmsrs > (len - sizeof(*m)) / sizeof(struct kvm_msr_entry)) {
			errno = EINVAL;
			return -1;
		}
		n = ioctl(v->fd, KVM_SET_MSRS, m);
		if (n != (int)m->nmsrs) {
			if (n >= 0)
				fprintf(stderr, "lmvm: KVM_SET_MSRS refused MSR 0x%x\n",
					m->entries[n].index);
			errno = EINVAL;
			return -1;
		}
		return 0;
	}
	if (tag == TAG_XSAVE) {
		if (len < sizeof(struct kvm_xsave) || len > xsave_size(vm)) {
			errno = EINVAL;
			return -1;
		}
	} else if (len != kinds[tag].size) {
		errno = EINVAL;
		return -1;
	}
	return ioctl(v->fd, kinds[tag].set, data);
}

int state_load(struct vm *vm, const uint8_t *blob, size_t len, char *err, size_t errlen)
{
	struct blob_header h;
	size_t off = sizeof(h);
	uint32_t n;

	if (len < sizeof(h)) {
		snprintf(err, errlen, "the state is truncated (%zu bytes)", len);
		return -1;
	}
	memcpy(&h, blob, sizeof(h));
	if (memcmp(h.magic, BLOB_MAGIC, 8) || h.version != BLOB_VERSION) {
		snprintf(err, errlen, "not an lmvm state blob of version %d", BLOB_VERSION);
		return -1;
	}
	if (h.nvcpus != (uint32_t)vm->nvcpus || h.mem_size != vm->mem_size) {
		snprintf(err, errlen,
			 "the state is of a VM with %u vCPUs and %llu MiB; this one has %d and %llu MiB",
			 h.nvcpus, (unsigned long long)(h.mem_size >> 20), vm->nvcpus,
			 (unsigned long long)(vm->mem_size >> 20));
		return -1;
	}

	for (n = 0; n < h.nsections; n++) {
		struct section s;
		void *data;

		if (len - off < sizeof(s)) {
			snprintf(err, errlen, "section %u is truncated", n);
			return -1;
		}
		memcpy(&s, blob + off, sizeof(s));
		off += sizeof(s);
		if (s.tag == 0 || s.tag >= TAG_MAX || s.vcpu >= h.nvcpus ||
		    s.len > len - off) {
			snprintf(err, errlen, "section %u is malformed", n);
			return -1;
		}
		/* Copied out so that every ioctl gets aligned memory. */
		data = calloc(1, s.len + 8);
		if (!data) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		memcpy(data, blob + off, s.len);
		if (set_one(vm, &vm->vcpus[s.vcpu], s.tag, data, s.len)) {
			snprintf(err, errlen, "restoring %s of vCPU %u: %s", kinds[s.tag].name,
				 s.vcpu, strerror(errno));
			free(data);
			return -1;
		}
		free(data);
		off += (s.len + 7) & ~7ul;
	}

	vm->rate = h.rate;
	vm->rate_max = h.rate_max;
	vm->pattern = h.pattern;
	pthread_mutex_lock(&vm->lock);
	vm->check_seq = h.check_seq;
	vm->beat_count = h.beat_count;
	vm->beat_last_ns = h.beat_last_ns;
	vm->beat_max_gap_ns = h.beat_max_gap_ns;
	vm->state_loaded = true;
	pthread_mutex_unlock(&vm->lock);
	return 0;
}
