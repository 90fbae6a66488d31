// SPDX-License-Identifier: GPL-2.0
/*
 * lmvm: a small KVM VMM for lmig's tests, demos and benchmarks. Its guest
 * writes memory at a chosen rate and pattern and can prove afterwards that
 * every page holds its latest version; lmvm is driven over QMP like QEMU.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "lmvm.h"
#include "size.h"

#define MIN_MEM		(16ull << 20)
#define MAX_MEM		(64ull << 30)	/* what the guest's page tables map */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: lmvm run [--mem SIZE] [--vcpus N] [--dirty-rate RATE] [--pattern P] [--fill]\n"
		"                [--qmp PATH]\n"
		"       lmvm run --incoming [--mem SIZE] [--vcpus N] [--qmp PATH]\n"
		"\n"
		"Runs a KVM guest that writes its memory and can verify it, driven over QMP.\n"
		"\n"
		"  --mem SIZE         guest memory, 16M to 64G, a multiple of 2M (default 256M);\n"
		"                     split over two memslots, below and above 4 GiB\n"
		"  --vcpus N          1 to %d (default 1)\n"
		"  --dirty-rate RATE  bytes per second per vCPU (20M, 512K, 0) or 'max' (default 1M)\n"
		"  --pattern P        seq, random or hotcold (90%% of writes to 10%% of pages);\n"
		"                     default seq\n"
		"  --fill             first write every page once, as fast as the vCPUs go\n"
		"                     (x-query-memory says \"filled\": true after), then as above\n"
		"  --qmp PATH         QMP socket (default /tmp/lmvm-PID.qmp)\n"
		"  --incoming         a paused, empty destination VM of the same layout: its\n"
		"                     memory is placed by lmig, its state by x-load-state, then 'cont'\n"
		"\n"
		"QMP: qmp_capabilities, stop, cont, query-status, quit, x-save-state,\n"
		"x-load-state, x-memory-digest, x-query-memory, x-guest-check, x-heartbeat-stats.\n",
		LMVM_MAX_VCPUS);
}

static int bad(const char *what, const char *value, const char *why)
{
	fprintf(stderr, "lmvm: bad %s '%s': %s\n", what, value, why);
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mem", required_argument, NULL, 'm' },
		{ "vcpus", required_argument, NULL, 'c' },
		{ "dirty-rate", required_argument, NULL, 'r' },
		{ "pattern", required_argument, NULL, 'p' },
		{ "fill", no_argument, NULL, 'f' },
		{ "qmp", required_argument, NULL, 'q' },
		{ "incoming", no_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static struct vm vm = {
		.mem_size = 256ull << 20,
		.nvcpus = 1,
		.rate = 1ull << 20,
		.pattern = LMVM_PATTERN_SEQ,
	};
	char qmp_default[64], *qmp = NULL, *end;
	sigset_t mask;
	int opt, sfd;
	long n;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "run")) {
		fprintf(stderr, "lmvm: unknown command '%s'\n\n", argv[1]);
		usage(stderr);
		return 2;
	}
	optind = 2;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			if (parse_size(optarg, &vm.mem_size))
				return bad("--mem", optarg, "expected a size such as 512M or 8G");
			if (vm.mem_size < MIN_MEM || vm.mem_size > MAX_MEM)
				return bad("--mem", optarg, "must be between 16M and 64G");
			if (vm.mem_size % (2ull << 20))
				return bad("--mem", optarg, "must be a multiple of 2M");
			break;
		case 'c':
			n = strtol(optarg, &end, 10);
			if (*end || n < 1 || n > LMVM_MAX_VCPUS)
				return bad("--vcpus", optarg, "must be a number from 1 to 64");
			vm.nvcpus = n;
			break;
		case 'r':
			if (!strcmp(optarg, "max"))
				vm.rate_max = true;
			else if (parse_size(optarg, &vm.rate))
				return bad("--dirty-rate", optarg,
					   "expected bytes per second (20M, 512K, 0) or 'max'");
			break;
		case 'p':
			if (!strcmp(optarg, "seq"))
				vm.pattern = LMVM_PATTERN_SEQ;
			else if (!strcmp(optarg, "random"))
				vm.pattern = LMVM_PATTERN_RANDOM;
			else if (!strcmp(optarg, "hotcold"))
				vm.pattern = LMVM_PATTERN_HOTCOLD;
			else
				return bad("--pattern", optarg, "expected seq, random or hotcold");
			break;
		case 'f':
			vm.fill = true;
			break;
		case 'q':
			qmp = optarg;
			break;
		case 'i':
			vm.incoming = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "lmvm: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (vm.incoming && vm.fill) {
		fprintf(stderr, "lmvm: --fill is for a source VM: --incoming gets its memory by migration\n");
		return 2;
	}
	if (!qmp) {
		snprintf(qmp_default, sizeof(qmp_default), "/tmp/lmvm-%d.qmp", (int)getpid());
		qmp = qmp_default;
	}

	/* SIGTERM and SIGINT end the VM cleanly through the QMP loop. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);

	if (vm_create(&vm) || vm_start(&vm))
		return 1;
	printf("lmvm: pid %d, %d vCPU%s, %llu MiB (%llu MiB at 0x0, %llu MiB at 0x%llx), ",
	       (int)getpid(), vm.nvcpus, vm.nvcpus > 1 ? "s" : "",
	       (unsigned long long)(vm.mem_size >> 20),
	       (unsigned long long)(vm.slots[0].size >> 20),
	       (unsigned long long)(vm.slots[1].size >> 20),
	       (unsigned long long)vm.slots[1].gpa);
	if (vm.incoming)
		printf("incoming: waiting for memory and x-load-state, QMP %s\n", qmp);
	else if (vm.rate_max)
		printf("dirtying as fast as it can, QMP %s\n", qmp);
	else
		printf("dirtying %llu KiB/s per vCPU (%s), QMP %s\n",
		       (unsigned long long)(vm.rate >> 10),
		       vm.pattern == LMVM_PATTERN_SEQ ? "seq" :
		       vm.pattern == LMVM_PATTERN_RANDOM ? "random" : "hotcold", qmp);
	fflush(stdout);

	if (qmp_serve(&vm, qmp, sfd)) {
		vm_shutdown(&vm);
		return 1;
	}
	vm_shutdown(&vm);
	return 0;
}
